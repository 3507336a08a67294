//! Expiry and cleanup: the purge, its batches, the background sweeper, tombstones.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use tessera::{
    CapPolicy, Concurrency, IssueRequest, Kind, ManualClock, Options, Rejection, Store, Timestamp,
};

#[test]
fn verify_rejects_an_expired_token_whether_or_not_it_was_purged() {
    let f = fixture();
    let t = f
        .store
        .issue(&IssueRequest::session("a").ttl(HOUR))
        .unwrap();
    f.clock.advance(HOUR);
    assert_eq!(
        f.store.verify(t.token.as_str()).unwrap().rejection(),
        Some(Rejection::Expired)
    );
    assert_eq!(f.store.purge_expired().unwrap(), 1);
    assert_eq!(
        f.store.verify(t.token.as_str()).unwrap().rejection(),
        Some(Rejection::Unknown)
    );
    assert_eq!(f.store.get(t.record.id).unwrap(), None);
}

#[test]
fn the_purge_removes_only_what_is_due_in_bounded_batches() {
    let f = fixture_with(|o| o.purge_batch(7));
    let short: Vec<_> = (0..20)
        .map(|i| {
            f.store
                .issue(&IssueRequest::session(format!("s{i}")).ttl(HOUR))
                .unwrap()
        })
        .collect();
    let long: Vec<_> = (0..5)
        .map(|i| {
            f.store
                .issue(&IssueRequest::session(format!("l{i}")).ttl(DAY))
                .unwrap()
        })
        .collect();
    let keys: Vec<_> = (0..3)
        .map(|_| f.store.issue(&IssueRequest::api_key("acme")).unwrap())
        .collect();
    f.clock.advance(2 * HOUR);
    let first = f.store.purge_batch().unwrap();
    assert_eq!((first.removed, first.more), (7, true));
    assert_eq!(f.store.purge_expired().unwrap(), 13);
    assert_eq!(f.store.purge_batch().unwrap().removed, 0);
    for t in &short {
        assert_eq!(f.store.get(t.record.id).unwrap(), None);
    }
    for t in long.iter().chain(&keys) {
        assert!(f.store.verify(t.token.as_str()).unwrap().is_valid());
    }
    assert!(f.store.list_subject("s3").unwrap().is_empty());
}

#[test]
fn idle_tokens_are_purged_after_their_idle_deadline_not_before() {
    let f = fixture();
    let t = f
        .store
        .issue(
            &IssueRequest::session("a")
                .ttl(DAY)
                .idle_timeout(30 * MINUTE),
        )
        .unwrap();
    f.clock.advance(20 * MINUTE);
    assert!(f.store.verify(t.token.as_str()).unwrap().is_valid());
    // 40 minutes after issue, 20 after the last use: not idle, even though the use is only in
    // memory so far.
    f.clock.advance(20 * MINUTE);
    assert_eq!(f.store.purge_expired().unwrap(), 0);
    assert!(f.store.verify(t.token.as_str()).unwrap().is_valid());
    f.clock.advance(31 * MINUTE);
    assert_eq!(f.store.purge_expired().unwrap(), 1);
}

fn multi_process(clock: &ManualClock) -> Options {
    Options::new()
        .manual_clock(clock)
        .concurrency(Concurrency::MultiProcess)
        .flush_interval(MINUTE)
}

/// Sessions capped at 2 per subject, the least recently used evicted, uses written every 100 ms.
fn multi_process_lru(clock: &ManualClock) -> Options {
    multi_process(clock)
        .flush_interval(Duration::from_millis(100))
        .subject_cap(Kind::Session, 2, CapPolicy::EvictLeastRecentlyUsed)
}

/// Starts `child_process_using_a_token` in another process, with the options `which` names;
/// it verifies `token` at `at` and keeps running until a line is written to it.
fn use_in_another_process(
    path: &std::path::Path,
    which: &str,
    token: &str,
    at: Timestamp,
) -> Other {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_process_using_a_token",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("TESSERA_TEST_USE", path)
        .env("TESSERA_TEST_USE_OPTIONS", which)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut to_child = child.stdin.take().unwrap();
    writeln!(to_child, "{} {token}", at.as_unix_millis()).unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    // The test harness may print on the same line before the child's answer.
    while !line.contains("valid") {
        line.clear();
        assert!(out.read_line(&mut line).unwrap() > 0, "child ended early");
    }
    assert!(line.trim_end().ends_with("valid true"), "{line}");
    Other {
        child,
        to_child,
        _out: out,
    }
}

/// A process started by [`use_in_another_process`].
struct Other {
    child: std::process::Child,
    to_child: std::process::ChildStdin,
    /// Kept open: the child's test harness still writes its result there.
    _out: BufReader<std::process::ChildStdout>,
}

impl Other {
    /// Lets it close its store (writing its uses) and end; asserts it succeeded.
    fn finish(mut self) {
        writeln!(self.to_child).unwrap();
        assert!(self.child.wait().unwrap().success());
    }
}

/// Run as a child process by `a_use_in_another_process_keeps_an_idle_token_from_the_purge`:
/// verifies a token at the time it is given, keeps the use in memory until told to go on, then
/// closes (which writes the use).
#[test]
fn child_process_using_a_token() {
    let Ok(path) = std::env::var("TESSERA_TEST_USE") else {
        return;
    };
    let mut stdin = std::io::stdin().lock();
    let mut line = String::new();
    stdin.read_line(&mut line).unwrap();
    let (at, token) = line.trim().split_once(' ').unwrap();
    let clock = ManualClock::new(Timestamp::from_unix_millis(at.parse().unwrap()));
    let options = match std::env::var("TESSERA_TEST_USE_OPTIONS").as_deref() {
        Ok("lru") => multi_process_lru(&clock),
        _ => multi_process(&clock),
    };
    let store = Store::open(&path, options).unwrap();
    println!("valid {}", store.verify(token).unwrap().is_valid());
    std::io::stdout().flush().unwrap();
    line.clear();
    stdin.read_line(&mut line).unwrap();
    store.close().unwrap();
}

/// Another process verifies an idle-timeout token a second before its idle deadline; its use
/// reaches the file within its flush interval. A purge in this process a second after the
/// deadline must not remove the token meanwhile: the use keeps it valid.
#[test]
fn a_use_in_another_process_keeps_an_idle_token_from_the_purge() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.redb");
    let clock = ManualClock::new(start());
    let store = Store::open(&path, multi_process(&clock)).unwrap();
    let t = store
        .issue(
            &IssueRequest::session("a")
                .ttl(DAY)
                .idle_timeout(30 * MINUTE),
        )
        .unwrap();
    let used_at = start().saturating_add(30 * MINUTE - Duration::from_secs(1));
    let other = use_in_another_process(&path, "idle", t.token.as_str(), used_at);

    let purged_at = start().saturating_add(30 * MINUTE + Duration::from_secs(1));
    clock.set(purged_at);
    assert_eq!(store.purge_expired().unwrap(), 0);
    other.finish();
    let record = store.get(t.record.id).unwrap().expect("the token is kept");
    assert_eq!(record.last_used_at, Some(used_at));
    assert!(store.verify(t.token.as_str()).unwrap().is_valid());

    // Unused from then on: purged two flush intervals after its idle deadline, not before.
    let idle_at = purged_at.saturating_add(30 * MINUTE);
    clock.set(idle_at.saturating_add(2 * MINUTE - Duration::from_secs(1)));
    assert_eq!(
        store.verify(t.token.as_str()).unwrap().rejection(),
        Some(Rejection::Idle)
    );
    assert_eq!(store.purge_expired().unwrap(), 0);
    clock.set(idle_at.saturating_add(2 * MINUTE));
    assert_eq!(store.purge_expired().unwrap(), 1);
}

/// Under a cap that evicts the least recently used session, a session in use in another
/// process is not the one evicted: that process writes its uses within its flush interval,
/// also of sessions without an idle timeout (which otherwise wait for a flush or the close).
#[test]
fn a_session_used_in_another_process_is_not_evicted_as_least_recently_used() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.redb");
    let clock = ManualClock::new(start());
    let store = Store::open(&path, multi_process_lru(&clock)).unwrap();
    let phone = store.issue(&IssueRequest::session("alice")).unwrap();
    clock.advance(MINUTE);
    let laptop = store.issue(&IssueRequest::session("alice")).unwrap();
    let used_at = start().saturating_add(10 * MINUTE);
    let other = use_in_another_process(&path, "lru", phone.token.as_str(), used_at);
    // The other process is still running: its use reaches the file by its flusher.
    let deadline = Instant::now() + Duration::from_secs(20);
    while store.get(phone.record.id).unwrap().unwrap().last_used_at != Some(used_at) {
        assert!(
            Instant::now() < deadline,
            "the other process's use did not reach the file within 20 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    clock.set(used_at.saturating_add(MINUTE));
    let tablet = store.issue(&IssueRequest::session("alice")).unwrap();
    assert!(store.verify(phone.token.as_str()).unwrap().is_valid());
    assert!(store.verify(tablet.token.as_str()).unwrap().is_valid());
    assert_eq!(
        store.verify(laptop.token.as_str()).unwrap().rejection(),
        Some(Rejection::Revoked)
    );
    other.finish();
}

#[test]
fn a_revoked_token_answers_revoked_until_its_retention_ends() {
    let f = fixture_with(|o| o.revoked_retention(DAY));
    let key = f.store.issue(&IssueRequest::api_key("acme")).unwrap();
    f.store.revoke(key.record.id).unwrap();
    f.clock.advance(DAY - MINUTE);
    assert_eq!(f.store.purge_expired().unwrap(), 0);
    assert_eq!(
        f.store.verify(key.token.as_str()).unwrap().rejection(),
        Some(Rejection::Revoked)
    );
    f.clock.advance(MINUTE);
    assert_eq!(f.store.purge_expired().unwrap(), 1);
    assert_eq!(
        f.store.verify(key.token.as_str()).unwrap().rejection(),
        Some(Rejection::Unknown)
    );
}

/// Sweeps with nothing due write nothing, and `commits` counts only what was written: a
/// host watching it (or the benchmark's count of verify commits) sees no phantom writes.
#[test]
fn a_sweep_with_nothing_due_is_not_counted_as_a_write() {
    let f = fixture_with(|o| o.sweep_interval(Some(Duration::from_millis(100))));
    // Watched through verify, which writes nothing (a read by id would have the file made
    // current: a commit).
    let purged = |t: &tessera::Issued| {
        let deadline = Instant::now() + Duration::from_secs(20);
        while f.store.verify(t.token.as_str()).unwrap().rejection() != Some(Rejection::Unknown) {
            assert!(
                Instant::now() < deadline,
                "the sweeper did not purge within 20 s"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    let first = f
        .store
        .issue(&IssueRequest::session("a").ttl(HOUR))
        .unwrap();
    let second = f
        .store
        .issue(&IssueRequest::session("a").ttl(2 * HOUR))
        .unwrap();
    f.clock.advance(HOUR);
    purged(&first);
    let before = f.store.commits();
    // Sweeps with nothing due.
    std::thread::sleep(Duration::from_millis(500));
    f.clock.advance(HOUR);
    purged(&second);
    // The one batch that removed the second token.
    assert_eq!(f.store.commits(), before + 1);
}

#[test]
fn the_background_sweeper_purges_and_stops_with_the_store() {
    let f = fixture_with(|o| o.sweep_interval(Some(Duration::from_millis(100))));
    let t = f
        .store
        .issue(&IssueRequest::session("a").ttl(HOUR))
        .unwrap();
    f.clock.advance(HOUR);
    // The sweeper runs on its own thread; wait for it (bounded), the clock does not move.
    let deadline = Instant::now() + Duration::from_secs(20);
    while f.store.get(t.record.id).unwrap().is_some() {
        assert!(
            Instant::now() < deadline,
            "the sweeper did not purge within 20 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let path = f.path();
    let opts = f.options();
    drop(f.store);
    // The thread stopped and released the file: it opens again at once.
    Store::open(path, opts).unwrap();
}

#[test]
fn the_flusher_writes_idle_extensions_within_the_flush_interval() {
    let f = fixture_with(|o| o.flush_interval(Duration::from_millis(100)));
    let t = f
        .store
        .issue(&IssueRequest::session("a").idle_timeout(30 * MINUTE))
        .unwrap();
    f.clock.advance(10 * MINUTE);
    assert!(f.store.verify(t.token.as_str()).unwrap().is_valid());
    let used = f.store.now();
    // 50 intervals: room for a loaded machine, far less than never.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let on_disk = f.store.commits() > 1;
        if on_disk {
            break;
        }
        assert!(Instant::now() < deadline, "no flush within 50 intervals");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        f.store.get(t.record.id).unwrap().unwrap().last_used_at,
        Some(used)
    );
    assert!(f.store.background_error().is_none());
    // Reopened from the file, the use is there.
    let (path, opts) = (f.path(), f.options());
    drop(f.store);
    let store = Store::open(path, opts).unwrap();
    assert_eq!(
        store.get(t.record.id).unwrap().unwrap().last_used_at,
        Some(used)
    );
}

#[test]
fn a_purge_of_scattered_deadlines_in_batches_leaves_every_index_exact() {
    // Deadlines in another order than ids, several batches: the purge sorts each batch by
    // tree, and nothing it removes may linger in (or vanish wrongly from) an index.
    let f = fixture_with(|o| o.purge_batch(17));
    let mut tokens = Vec::new();
    for i in 0..300u64 {
        let minutes = (i * 37) % 100 + 1;
        let t = f
            .store
            .issue(
                &IssueRequest::session(format!("user-{}", i % 30))
                    .tenant(format!("tenant-{}", i % 3))
                    .ttl(Duration::from_secs(minutes * 60)),
            )
            .unwrap();
        tokens.push((t, minutes));
    }
    let parent = &tokens[0].0;
    let child = f
        .store
        .issue_child(parent.token.as_str(), &IssueRequest::session("child"))
        .unwrap();
    f.clock.advance(Duration::from_secs(50 * 60));
    let due = tokens.iter().filter(|(_, m)| *m <= 50).count();
    // The parent (1 minute) and its child (clamped to the parent) are due too.
    assert_eq!(f.store.purge_expired().unwrap(), due + 1);
    let alive = |t: &tessera::Issued| {
        tokens
            .iter()
            .any(|(u, m)| u.record.id == t.record.id && *m > 50)
    };
    for (t, _) in &tokens {
        let outcome = f.store.verify(t.token.as_str()).unwrap();
        if alive(t) {
            assert!(outcome.is_valid());
        } else {
            assert_eq!(outcome.rejection(), Some(Rejection::Unknown));
        }
    }
    assert_eq!(f.store.get(child.issued.record.id).unwrap(), None);
    for s in 0..30 {
        let subject = format!("user-{s}");
        let mut want: Vec<_> = tokens
            .iter()
            .filter(|(t, _)| alive(t) && t.record.subject.as_deref() == Some(subject.as_str()))
            .map(|(t, _)| t.record.id)
            .collect();
        let mut got = f.subject_ids(&subject);
        want.sort();
        got.sort();
        assert_eq!(got, want, "{subject}");
    }
    assert_eq!(f.store.stats().unwrap().due_for_purge, 0);
    // Every table holds exactly the survivors' rows: no index row was left behind.
    let survivors = tokens.iter().filter(|(t, _)| alive(t)).count() as u64;
    let path = f.path();
    drop(f.store);
    use redb::ReadableDatabase;
    let db = redb::Database::open(&path).unwrap();
    let tx = db.begin_read().unwrap();
    for table in ["tokens", "by_subject", "by_tenant", "by_deadline"] {
        assert_eq!(count_rows(&tx, table), survivors, "rows in {table}");
    }
    assert_eq!(count_rows(&tx, "children"), 0, "rows in children");
}

/// The rows of a table of the store file, whatever its key and value types.
fn count_rows(tx: &redb::ReadTransaction, name: &str) -> u64 {
    use redb::ReadableTableMetadata;
    let def: redb::TableDefinition<&[u8], &[u8]> = redb::TableDefinition::new(name);
    match tx.open_untyped_table(def) {
        Ok(t) => t.len().unwrap(),
        Err(e) => panic!("{name}: {e}"),
    }
}

/// Rows of the index tables whose token is `id`, read from the closed file.
fn index_rows_of(path: &std::path::Path, id: &tessera::TokenId) -> usize {
    let db = redb::Database::open(path).unwrap();
    let tx = redb::ReadableDatabase::begin_read(&db).unwrap();
    ["by_subject", "by_tenant", "by_deadline"]
        .into_iter()
        .map(|name| {
            let table = tx
                .open_table(redb::TableDefinition::<&[u8; 24], ()>::new(name))
                .unwrap();
            redb::ReadableTable::iter(&table)
                .unwrap()
                .filter(|row| row.as_ref().unwrap().0.value()[8..] == id.as_bytes()[..])
                .count()
        })
        .sum()
}

#[test]
fn a_tombstone_is_in_no_listing_or_subject_revocation_and_the_purge_removes_all_its_rows() {
    let f = fixture_with(|o| o.revoked_retention(DAY));
    let issue = || {
        f.store
            .issue(&IssueRequest::session("ann").tenant("acme").ttl(10 * DAY))
            .unwrap()
    };
    let (a, b, c) = (issue(), issue(), issue());
    f.store.revoke(a.record.id).unwrap();
    let ids = |records: Vec<tessera::Record>| -> Vec<_> { records.iter().map(|r| r.id).collect() };
    let mut live = vec![b.record.id, c.record.id];
    live.sort();
    let mut listed = ids(f.store.list_subject("ann").unwrap());
    listed.sort();
    assert_eq!(listed, live);
    let mut listed = ids(f.store.list_tenant("acme", None).unwrap());
    listed.sort();
    assert_eq!(listed, live);
    // "Log out my other devices" counts the live tokens only.
    assert_eq!(f.store.revoke_subject("ann", Some(c.record.id)).unwrap(), 1);
    assert_eq!(ids(f.store.list_subject("ann").unwrap()), vec![c.record.id]);
    assert_eq!(f.store.revoke_tenant("acme").unwrap(), 1);
    assert!(f.store.list_tenant("acme", None).unwrap().is_empty());

    f.clock.advance(DAY);
    assert_eq!(f.store.purge_expired().unwrap(), 3);
    // Past the tokens' own expiry, the rows their revocation left behind go too.
    f.clock.advance(9 * DAY);
    assert_eq!(f.store.purge_expired().unwrap(), 0);
    let path = f.path();
    f.store.close().unwrap();
    for t in [&a, &b, &c] {
        assert_eq!(index_rows_of(&path, &t.record.id), 0);
    }
}

#[test]
fn an_idle_token_with_a_use_not_yet_written_is_purged_with_all_its_rows() {
    // The background flusher would write the use within its interval: keep it in memory.
    let f = fixture_with(|o| o.flush_interval(HOUR));
    let t = f
        .store
        .issue(
            &IssueRequest::session("a")
                .tenant("acme")
                .ttl(DAY)
                .idle_timeout(30 * MINUTE),
        )
        .unwrap();
    f.clock.advance(20 * MINUTE);
    assert!(f.store.verify(t.token.as_str()).unwrap().is_valid());
    // Idle 31 minutes after that use, which the purge finds in memory and writes first, and
    // two flush intervals more (the purge's wait for uses on their way).
    f.clock.advance(31 * MINUTE + 2 * HOUR);
    assert_eq!(f.store.purge_expired().unwrap(), 1);
    assert_eq!(f.store.purge_expired().unwrap(), 0);
    assert_eq!(
        f.store.verify(t.token.as_str()).unwrap().rejection(),
        Some(Rejection::Unknown)
    );
    let path = f.path();
    f.store.close().unwrap();
    assert_eq!(index_rows_of(&path, &t.record.id), 0);
}

/// The tombstone outlives the token's own expiry: a revoked session presented again after it
/// would have expired still answers "revoked" until the retention ends.
#[test]
fn a_tombstone_stays_for_its_retention_past_the_token_expiry() {
    let f = fixture_with(|o| o.revoked_retention(DAY));
    let t = f
        .store
        .issue(&IssueRequest::session("a").tenant("acme").ttl(HOUR))
        .unwrap();
    f.clock.advance(HOUR - MINUTE);
    f.store.revoke(t.record.id).unwrap();
    f.clock.advance(2 * HOUR);
    assert_eq!(f.store.stats().unwrap().due_for_purge, 0);
    assert_eq!(f.store.purge_expired().unwrap(), 0);
    assert_eq!(
        f.store.verify(t.token.as_str()).unwrap().rejection(),
        Some(Rejection::Revoked)
    );
    // The purge dropped the expiry row the revocation left and kept the tombstone's others:
    // its subject, tenant and retention rows.
    let (path, options) = (f.path(), f.options().revoked_retention(DAY));
    f.store.close().unwrap();
    assert_eq!(index_rows_of(&path, &t.record.id), 3);
    let store = Store::open(&path, options).unwrap();
    assert_eq!(store.list_subject("a").unwrap().len(), 0);
    f.clock.advance(DAY - 2 * HOUR);
    assert_eq!(store.stats().unwrap().due_for_purge, 1);
    assert_eq!(store.purge_expired().unwrap(), 1);
    assert_eq!(
        store.verify(t.token.as_str()).unwrap().rejection(),
        Some(Rejection::Unknown)
    );
    store.close().unwrap();
    assert_eq!(index_rows_of(&path, &t.record.id), 0);
}

#[test]
fn a_revocation_brings_the_purge_forward_and_the_old_deadline_row_goes_when_reached() {
    let f = fixture_with(|o| o.revoked_retention(DAY));
    let t = f
        .store
        .issue(&IssueRequest::session("a").tenant("acme").ttl(10 * DAY))
        .unwrap();
    f.store.revoke(t.record.id).unwrap();
    assert_eq!(f.store.stats().unwrap().due_for_purge, 0);
    f.clock.advance(DAY);
    assert_eq!(f.store.stats().unwrap().due_for_purge, 1);
    assert_eq!(f.store.purge_expired().unwrap(), 1);
    assert_eq!(
        f.store.verify(t.token.as_str()).unwrap().rejection(),
        Some(Rejection::Unknown)
    );
    let path = f.path();
    let options = f.options().revoked_retention(DAY);
    f.store.close().unwrap();
    // The row of the token's own expiry is left, pointing at nothing, until the purge gets there.
    assert_eq!(index_rows_of(&path, &t.record.id), 1);
    let store = Store::open(&path, options).unwrap();
    assert_eq!(store.stats().unwrap().due_for_purge, 0);
    f.clock.advance(9 * DAY);
    assert_eq!(store.stats().unwrap().due_for_purge, 0);
    assert_eq!(store.purge_expired().unwrap(), 0);
    store.close().unwrap();
    assert_eq!(index_rows_of(&path, &t.record.id), 0);
}

#[test]
fn a_planned_purge_keeps_tokens_a_pending_use_keeps_alive_and_every_index_exact() {
    // Batches of 3 over 20-odd due rows: the purge plans, removes the index rows of what is
    // due, then the tokens; an idle token whose last use is only in memory is not due.
    let f = fixture_with(|o| {
        o.purge_batch(3)
            .revoked_retention(HOUR)
            .flush_interval(HOUR)
    });
    let session = |s: &str| IssueRequest::session(s).tenant("acme");
    let expired: Vec<_> = (0..20)
        .map(|i| f.store.issue(&session(&format!("e{i}")).ttl(HOUR)).unwrap())
        .collect();
    let idle: Vec<_> = (0..2)
        .map(|i| {
            f.store
                .issue(
                    &session(&format!("i{i}"))
                        .ttl(10 * DAY)
                        .idle_timeout(2 * HOUR),
                )
                .unwrap()
        })
        .collect();
    let revoked: Vec<_> = (0..2)
        .map(|i| {
            f.store
                .issue(&session(&format!("r{i}")).ttl(10 * DAY))
                .unwrap()
        })
        .collect();
    // Due by their idle timeout alone (never used): purged in the last step with their rows.
    let unused: Vec<_> = (0..2)
        .map(|i| {
            f.store
                .issue(&session(&format!("u{i}")).ttl(10 * DAY).idle_timeout(HOUR))
                .unwrap()
        })
        .collect();
    let kept = f.store.issue(&session("k").ttl(10 * DAY)).unwrap();
    for t in &revoked {
        f.store.revoke(t.record.id).unwrap();
    }
    f.clock.advance(HOUR + MINUTE);
    for t in &idle {
        assert!(f.store.verify(t.token.as_str()).unwrap().is_valid());
    }
    // The idle tokens' stored deadline (2 hours after issue) passes; their use keeps them. The
    // unused ones are due (their idle deadline an hour after issue, and two flush intervals).
    f.clock.advance(119 * MINUTE);
    assert_eq!(f.store.purge_expired().unwrap(), 24);
    for t in idle.iter().chain([&kept]) {
        assert!(f.store.verify(t.token.as_str()).unwrap().is_valid());
    }
    for t in expired.iter().chain(&revoked).chain(&unused) {
        assert_eq!(
            f.store.verify(t.token.as_str()).unwrap().rejection(),
            Some(Rejection::Unknown)
        );
    }
    assert_eq!(f.store.list_tenant("acme", None).unwrap().len(), 3);
    assert_eq!(f.store.list_subject("i0").unwrap().len(), 1);
    let path = f.path();
    f.store.close().unwrap();
    use redb::ReadableDatabase;
    let db = redb::Database::open(&path).unwrap();
    let tx = db.begin_read().unwrap();
    for table in ["tokens", "by_subject", "by_tenant"] {
        assert_eq!(count_rows(&tx, table), 3, "rows in {table}");
    }
    // The survivors' rows, and the rows the revocations left at the revoked tokens' own expiry.
    assert_eq!(count_rows(&tx, "by_deadline"), 5);
}

/// A clock before 1970 (a manual clock set there): the deadline index cannot order those
/// deadlines, and the purge leaves them for later instead of finding the same rows forever.
#[test]
fn a_purge_before_1970_ends_and_verify_still_judges_by_the_clock() {
    let dir = tempfile::tempdir().unwrap();
    let clock = tessera::ManualClock::new(tessera::Timestamp::from_unix_millis(-10 * 86_400_000));
    let store = Store::open(
        dir.path().join("t.redb"),
        tessera::Options::new().manual_clock(&clock).purge_batch(2),
    )
    .unwrap();
    let tokens: Vec<_> = (0..5)
        .map(|i| {
            store
                .issue(&IssueRequest::session(format!("s{i}")).ttl(2 * HOUR))
                .unwrap()
        })
        .collect();
    clock.advance(HOUR);
    assert_eq!(store.purge_expired().unwrap(), 0);
    clock.advance(2 * HOUR);
    assert_eq!(store.purge_expired().unwrap(), 0);
    assert_eq!(
        store.verify(tokens[0].token.as_str()).unwrap().rejection(),
        Some(Rejection::Expired)
    );
    clock.advance(11 * DAY);
    assert_eq!(store.purge_expired().unwrap(), 5);
}

/// `revoke_issued_before` with an instant still ahead kills the tokens issued until then: the
/// purge removes those issued after its cleanup went by, too.
#[test]
fn tokens_issued_before_a_future_epoch_are_purged_too() {
    let f = fixture();
    f.store.issue(&IssueRequest::session("a")).unwrap();
    f.store
        .revoke_issued_before(
            tessera::RevokeScope::Store,
            f.store.now().saturating_add(HOUR),
        )
        .unwrap();
    assert_eq!(f.store.purge_expired().unwrap(), 1);
    let late = f.store.issue(&IssueRequest::session("b")).unwrap();
    assert_eq!(
        f.store.verify(late.token.as_str()).unwrap().rejection(),
        Some(Rejection::Revoked)
    );
    assert_eq!(f.store.purge_expired().unwrap(), 1);
    assert_eq!(f.store.get(late.record.id).unwrap(), None);
}

/// A subject's or tenant's epoch is cleaned a window at a time: every killed token goes, the
/// others stay, whatever the batch size.
#[test]
fn a_scoped_epoch_is_cleaned_in_windows() {
    let f = fixture_with(|o| o.purge_batch(3));
    let old: Vec<_> = (0..10)
        .map(|_| {
            f.store
                .issue(&IssueRequest::session("alice").tenant("acme"))
                .unwrap()
        })
        .collect();
    let other = f
        .store
        .issue(&IssueRequest::session("bob").tenant("acme"))
        .unwrap();
    f.clock.advance(MINUTE);
    let new = f
        .store
        .issue(&IssueRequest::session("alice").tenant("acme"))
        .unwrap();
    f.store
        .revoke_issued_before(tessera::RevokeScope::Subject("alice".into()), f.store.now())
        .unwrap();
    assert_eq!(f.store.purge_expired().unwrap(), 10);
    for t in &old {
        assert_eq!(f.store.get(t.record.id).unwrap(), None);
    }
    assert!(f.store.verify(new.token.as_str()).unwrap().is_valid());
    assert!(f.store.verify(other.token.as_str()).unwrap().is_valid());
    f.store
        .revoke_issued_before(
            tessera::RevokeScope::Tenant("acme".into()),
            f.store.now().saturating_add(MINUTE),
        )
        .unwrap();
    assert_eq!(f.store.purge_expired().unwrap(), 2);
    assert_eq!(f.store.stats().unwrap().all.live, 0);
}

/// A cutoff before 2000 is refused while the store's clock is past it, with nothing revoked: a
/// time in seconds passed as milliseconds (January 1970) would revoke nothing without a word.
/// On a clock before 2000 (a test's), any earlier cutoff is taken.
#[test]
fn a_cutoff_in_seconds_is_refused() {
    let f = fixture();
    let t = f.store.issue(&IssueRequest::session("a")).unwrap();
    let seconds = Timestamp::from_unix_millis(f.store.now().as_unix_millis() / 1000);
    for far in [
        seconds,
        Timestamp::from_unix_millis(-1),
        Timestamp::from_unix_millis(tessera::EARLIEST_CUTOFF.as_unix_millis() - 1),
    ] {
        let err = f
            .store
            .revoke_issued_before(tessera::RevokeScope::Subject("a".into()), far)
            .unwrap_err();
        assert!(matches!(&err, tessera::Error::InvalidArgument(m) if m.contains("seconds")));
    }
    assert!(f.store.verify(t.token.as_str()).unwrap().is_valid());
    assert_eq!(f.store.events(0, 100).unwrap().len(), 1, "only the issue");
    f.store
        .revoke_issued_before(tessera::RevokeScope::Store, tessera::EARLIEST_CUTOFF)
        .unwrap();
    assert!(f.store.verify(t.token.as_str()).unwrap().is_valid());
    let clock = tessera::ManualClock::new(Timestamp::from_unix_millis(1_000));
    let old = tessera::Store::in_memory(tessera::Options::new().manual_clock(&clock)).unwrap();
    let t = old.issue(&IssueRequest::session("a")).unwrap();
    clock.advance(Duration::from_millis(1));
    old.revoke_issued_before(tessera::RevokeScope::Store, old.now())
        .unwrap();
    assert_eq!(
        old.verify(t.token.as_str()).unwrap().rejection(),
        Some(Rejection::Revoked)
    );
}

/// A cutoff more than a day ahead of the store's clock is refused (an epoch never goes back: a
/// time in microseconds passed as milliseconds would revoke every token for ever), and nothing
/// is revoked; one within the day is taken.
#[test]
fn a_cutoff_more_than_a_day_ahead_is_refused() {
    let f = fixture();
    let t = f.store.issue(&IssueRequest::session("a")).unwrap();
    let micros = tessera::Timestamp::from_unix_millis(f.store.now().as_unix_millis() * 1000);
    for far in [
        micros,
        f.store
            .now()
            .saturating_add(tessera::MAX_CUTOFF_AHEAD + Duration::from_millis(1)),
    ] {
        assert!(matches!(
            f.store
                .revoke_issued_before(tessera::RevokeScope::Store, far),
            Err(tessera::Error::InvalidArgument(_))
        ));
    }
    assert!(f.store.verify(t.token.as_str()).unwrap().is_valid());
    let later = f.store.issue(&IssueRequest::session("b")).unwrap();
    assert!(f.store.verify(later.token.as_str()).unwrap().is_valid());
    f.store
        .revoke_issued_before(
            tessera::RevokeScope::Store,
            f.store.now().saturating_add(tessera::MAX_CUTOFF_AHEAD),
        )
        .unwrap();
    assert_eq!(
        f.store.verify(later.token.as_str()).unwrap().rejection(),
        Some(Rejection::Revoked)
    );
}
