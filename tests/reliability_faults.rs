//! I/O faults: the simulated disk fails the Nth call (read, write, `set_len`, `sync_data`) of a
//! mixed workload, for every N, with `EIO` once (a transient error), `EIO` from then on (a dead
//! disk) and `ENOSPC` from then on (a full disk). Every operation runs inside `catch_unwind`: an
//! error must come back, never a panic; the error must say what happened (`Error::Io`,
//! `Error::DiskFull`); and the store reopened from what reached the disk (after a power loss, and
//! after the process died) must hold every acknowledged operation, with none half-applied.
//!
//! Then a full disk in detail: which operations still work when the file cannot grow.
//!
//! `TESSERA_RELIABILITY_LONG=1` for the long version, `TESSERA_SEED` to replay.

mod reliability;

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use reliability::sim::{Fault, SimBackend, EIO, ENOSPC};
use reliability::workload::{self, Action, Checked, Run};
use reliability::{scale, seed, Rng};
use tessera::{
    Clock, Error, IssueDurability, IssueRequest, ManualClock, Options, Rejection, Store,
};

fn options(clock: &ManualClock) -> Options {
    Options::new()
        .manual_clock(clock)
        .cache_size(4 * 1024 * 1024)
}

fn variant(e: &Error) -> &'static str {
    match e {
        Error::Io(_) => "Io",
        Error::DiskFull(_) => "DiskFull",
        Error::Storage(_) => "Storage",
        Error::Corrupt(_) => "Corrupt",
        Error::Internal(_) => "Internal",
        Error::Closed => "Closed",
        Error::NotAStore(_) => "NotAStore",
        _ => "other",
    }
}

#[derive(Default)]
struct Tally {
    runs: usize,
    injected: u64,
    open_failed: usize,
    errors: usize,
    acked_after_fault: usize,
    failed_after_fault: usize,
    first_error: BTreeMap<String, usize>,
    later_error: BTreeMap<String, usize>,
    images: usize,
    checked: Checked,
    violations: Vec<String>,
}

struct Mode {
    name: &'static str,
    errno: i32,
    sticky: bool,
}

const MODES: [Mode; 3] = [
    Mode {
        name: "EIO once",
        errno: EIO,
        sticky: false,
    },
    Mode {
        name: "EIO from then on",
        errno: EIO,
        sticky: true,
    },
    Mode {
        name: "ENOSPC from then on",
        errno: ENOSPC,
        sticky: true,
    },
];

/// Runs the workload on a disk that fails as `fault` says, then checks both crash images.
fn faulted_run(actions: &[Action], fault: Option<Fault>, t: &mut Tally) -> u64 {
    t.runs += 1;
    let backend = SimBackend::new();
    backend.set_fault(fault);
    let clock = ManualClock::new(workload::start());
    let what = match fault {
        Some(f) => format!(
            "{} at call {}",
            if f.errno == EIO { "EIO" } else { "ENOSPC" },
            f.at
        ),
        None => "no fault".into(),
    };
    let opened = catch_unwind(AssertUnwindSafe(|| {
        Store::with_backend(backend.clone(), options(&clock))
    }));
    let mut run = Run::default();
    let mut created = false;
    match opened {
        Err(p) => t.violations.push(format!(
            "{what}: open PANICKED: {}",
            workload::panic_message(&*p)
        )),
        Ok(Err(e)) => {
            t.open_failed += 1;
            *t.first_error
                .entry(format!("open -> {}", variant(&e)))
                .or_default() += 1;
            if !matches!(e, Error::Io(_) | Error::DiskFull(_)) {
                t.violations
                    .push(format!("{what}: open failed with an unclear error: {e:?}"));
            }
        }
        Ok(Ok(store)) => {
            created = true;
            run = workload::run(&store, &clock, actions, |_, _| {});
            let closed = catch_unwind(AssertUnwindSafe(move || drop(store)));
            if let Err(p) = closed {
                t.violations.push(format!(
                    "{what}: closing PANICKED: {}",
                    workload::panic_message(&*p)
                ));
            }
        }
    }
    for (i, p) in &run.panics {
        t.violations.push(format!(
            "{what}: action {i} ({}) PANICKED: {p}",
            actions[*i].name()
        ));
    }
    t.errors += run.errors.len();
    if let Some((first, e)) = run.errors.first() {
        *t.first_error
            .entry(format!("{} -> {}", actions[*first].name(), variant(e)))
            .or_default() += 1;
        let expected = match fault.map(|f| f.errno) {
            Some(ENOSPC) => matches!(e, Error::DiskFull(m) if !m.is_empty()),
            _ => matches!(e, Error::Io(m) if !m.is_empty()),
        };
        // Not "Previous I/O error" either: the job's own error, kept when aborting its
        // transaction fails too (`growth_on_a_full_disk_reports_disk_full`).
        if !expected {
            t.violations.push(format!(
                "{what}: the first error ({} at action {first}) does not say what happened: \
                 {e:?}",
                actions[*first].name()
            ));
        }
        for (i, e) in &run.errors[1..] {
            *t.later_error
                .entry(format!("{} -> {}: {e}", actions[*i].name(), variant(e)))
                .or_default() += 1;
        }
        t.acked_after_fault += run
            .status
            .iter()
            .skip(first + 1)
            .filter(|s| **s == workload::Status::Acked)
            .count();
        t.failed_after_fault += run.errors.len() - 1;
    }
    let injected = backend.injected();
    t.injected += injected;
    // Reopen what a power loss leaves (the synced bytes) and what a process crash leaves (every
    // write), without faults.
    for (image_name, image) in [
        ("power loss", backend.durable_image()),
        ("process crash", backend.live_image()),
    ] {
        t.images += 1;
        let clock2 = ManualClock::new(clock.now());
        let checked = catch_unwind(AssertUnwindSafe(|| {
            let store = match Store::with_backend(SimBackend::from_image(&image), options(&clock2))
            {
                Ok(s) => s,
                // The store was never created: nothing was acknowledged.
                Err(_) if !created => return Ok(Checked::default()),
                Err(e) => return Err(format!("reopen failed: {e:?}")),
            };
            workload::check_fully(
                &store,
                actions,
                &run.tokens,
                &pad(&run, actions.len()),
                &run.clock_at,
            )
        }));
        match checked {
            Ok(Ok(c)) => t.checked.add(c),
            Ok(Err(m)) => t
                .violations
                .push(format!("{what}, reopened after a {image_name}: {m}")),
            Err(p) => t.violations.push(format!(
                "{what}, reopened after a {image_name}: PANIC {}",
                workload::panic_message(&*p)
            )),
        }
    }
    backend.calls()
}

/// The statuses of a run, with every action of a run that never started marked so.
fn pad(run: &Run, n: usize) -> Vec<workload::Status> {
    let mut s = run.status.clone();
    s.resize(n, workload::Status::NotStarted);
    s
}

#[test]
fn every_injected_io_fault_is_an_error_and_loses_nothing_acknowledged() {
    let seed = seed("I/O faults");
    let mut rng = Rng::new(seed);
    let workloads = scale(1, 10);
    let n_actions = scale(50, 80);
    let mut report = Vec::new();
    let mut all_violations = Vec::new();
    for _ in 0..workloads {
        let actions = workload::generate(&mut rng, n_actions);
        let mut clean = Tally::default();
        let total = faulted_run(&actions, None, &mut clean);
        assert!(
            clean.violations.is_empty(),
            "the workload fails without faults: {:?}",
            clean.violations
        );
        for mode in &MODES {
            let mut t = Tally::default();
            // Short version: every N for the transient error and the full disk, every third N
            // for the dead disk.
            let step = if mode.sticky && mode.errno == EIO {
                scale(3, 1)
            } else {
                1
            };
            for at in (1..=total).step_by(step) {
                faulted_run(
                    &actions,
                    Some(Fault {
                        at,
                        errno: mode.errno,
                        sticky: mode.sticky,
                    }),
                    &mut t,
                );
            }
            report.push(format!(
                "I/O faults, {}: {} runs (N = 1..={total} of {total} calls, step {step}), {} \
                 faults injected, {} opens failed, {} operation errors ({} after the first), {} \
                 operations acknowledged after a fault; {} images reopened, {} acknowledged issues and {} \
                 acknowledged revocations checked; {} panics/violations",
                mode.name,
                t.runs,
                t.injected,
                t.open_failed,
                t.errors,
                t.failed_after_fault,
                t.acked_after_fault,
                t.images,
                t.checked.acked_issues,
                t.checked.acked_revocations,
                t.violations.len()
            ));
            for (k, n) in &t.first_error {
                report.push(format!("    first error {k}: {n}"));
            }
            for (k, n) in &t.later_error {
                report.push(format!("    later errors {k}: {n}"));
            }
            all_violations.extend(t.violations);
        }
    }
    eprintln!("I/O faults: seed {seed}");
    for line in &report {
        eprintln!("{line}");
    }
    for v in all_violations.iter().take(10) {
        eprintln!("  VIOLATION {v}");
    }
    assert!(
        all_violations.is_empty(),
        "{} fault runs broke an invariant (seed {seed}); first: {}",
        all_violations.len(),
        all_violations[0]
    );
}

/// What one attempt on a full disk gave: successes, refusals and their distinct messages.
#[derive(Default)]
struct Attempts(BTreeMap<&'static str, (usize, usize, Vec<String>)>);

impl Attempts {
    fn run<T>(&mut self, name: &'static str, f: impl FnOnce() -> Result<T, Error>) -> Option<T> {
        let entry = self.0.entry(name).or_default();
        match catch_unwind(AssertUnwindSafe(f)) {
            Ok(Ok(v)) => {
                entry.0 += 1;
                Some(v)
            }
            Ok(Err(e)) => {
                entry.1 += 1;
                let m = format!("{} ({e})", variant(&e));
                if !entry.2.contains(&m) {
                    entry.2.push(m);
                }
                None
            }
            Err(p) => panic!(
                "{name} panicked on a full disk: {}",
                workload::panic_message(&*p)
            ),
        }
    }

    fn lines(&self) -> Vec<String> {
        self.0
            .iter()
            .map(|(name, (ok, err, msgs))| {
                format!(
                    "    {name}: {ok} ok, {err} refused{}{}",
                    if msgs.is_empty() { "" } else { ": " },
                    msgs.join("; ")
                )
            })
            .collect()
    }

    /// Every refusal says what happened: the disk is full, or an earlier error left the
    /// database to be opened again.
    fn all_clear(&self) -> Result<(), String> {
        for (name, (_, _, msgs)) in &self.0 {
            for m in msgs {
                let clear = (m.starts_with("DiskFull") && m.contains("disk is full"))
                    || m.contains("open it again once the storage answers")
                    || m.contains("could not be opened again");
                if !clear {
                    return Err(format!("{name} refused without saying why: {m}"));
                }
            }
        }
        Ok(())
    }
}

/// Revokes, purges and issues on `store`, recording how each went; returns the ids revoked.
fn try_writes(
    a: &mut Attempts,
    phase: &'static [&'static str; 5],
    store: &Store,
    clock: &ManualClock,
    tokens: &[tessera::Issued],
) -> Vec<tessera::TokenId> {
    let mut revoked = Vec::new();
    for s in tokens.iter().take(5) {
        a.run(phase[0], || store.verify(s.token.as_str()));
        if a.run(phase[1], || store.revoke(&s.token)).is_some() {
            revoked.push(s.record.id);
        }
    }
    if a.run(phase[2], || store.revoke_subject("user3", None))
        .is_some()
    {
        revoked.extend(
            tokens
                .iter()
                .filter(|t| t.record.subject.as_deref() == Some("user3"))
                .map(|t| t.record.id),
        );
    }
    clock.advance(Duration::from_secs(120));
    a.run(phase[3], || store.purge_expired());
    a.run(phase[4], || store.issue(&IssueRequest::session("late")));
    revoked
}

/// Fills a store until its file cannot grow (a full disk), then tries every kind of operation on
/// the same handle, on a handle reopened while the disk is still full, and once space is back.
/// Returns the report lines.
fn full_disk() -> Vec<String> {
    let backend = SimBackend::new();
    let clock = ManualClock::new(workload::start());
    let store = Store::with_backend(backend.clone(), options(&clock)).unwrap();
    let mut tokens = Vec::new();
    for i in 0..200 {
        let req = if i % 2 == 0 {
            IssueRequest::session(format!("short{}", i % 7))
                .ttl(Duration::from_secs(60))
                .metadata(vec![b'x'; 2000])
        } else {
            IssueRequest::session(format!("user{}", i % 10)).metadata(vec![b'y'; 500])
        };
        tokens.push(store.issue(&req).unwrap());
    }
    tokens.retain(|s| s.record.subject.as_deref().unwrap().starts_with("user"));
    let start_len = backend.len_now();
    backend.set_max_len(Some(start_len));
    let mut a = Attempts::default();
    let mut filled = 0;
    while a
        .run("issue until the disk is full", || {
            store.issue(&IssueRequest::session("filler").metadata(vec![b'f'; 4000]))
        })
        .is_some()
    {
        filled += 1;
        assert!(filled < 100_000, "the disk never filled");
    }
    let mut revoked = try_writes(
        &mut a,
        &[
            "1 same handle: verify",
            "1 same handle: revoke",
            "1 same handle: revoke_subject",
            "1 same handle: purge_expired",
            "1 same handle: issue",
        ],
        &store,
        &clock,
        &tokens[..10],
    );
    drop(store);
    // Reopened while the disk is still full.
    let image = backend.live_image();
    let full = SimBackend::from_image(&image);
    full.set_max_len(Some(image.len() as u64));
    let reopened = a.run("2 reopen while full", || {
        Store::with_backend(full.clone(), options(&clock))
    });
    if let Some(store) = reopened {
        revoked.extend(try_writes(
            &mut a,
            &[
                "2 reopened while full: verify",
                "2 reopened while full: revoke",
                "2 reopened while full: revoke_subject",
                "2 reopened while full: purge_expired",
                "2 reopened while full: issue",
            ],
            &store,
            &clock,
            &tokens[10..20],
        ));
    }
    let refused = backend.refused() + full.refused();
    // Space comes back: reopen what reached the disk.
    let image = full.durable_image();
    let store = Store::with_backend(SimBackend::from_image(&image), options(&clock))
        .expect("the store reopens once space is back");
    for id in &revoked {
        let r = store.get(*id).unwrap().expect("a revoked token is kept");
        assert!(
            r.revoked.is_some(),
            "an acknowledged revocation on a full disk was lost"
        );
    }
    assert!(store.check_integrity().unwrap());
    revoked.extend(try_writes(
        &mut a,
        &[
            "3 space back: verify",
            "3 space back: revoke",
            "3 space back: revoke_subject",
            "3 space back: purge_expired",
            "3 space back: issue",
        ],
        &store,
        &clock,
        &tokens[20..30],
    ));
    let mut out = vec![format!(
        "full disk: file {} KiB, {filled} more tokens fit before the disk was full, {refused} \
         growths refused; {} acknowledged revocations, all kept",
        start_len / 1024,
        revoked.len(),
    )];
    out.extend(a.lines());
    if let Err(m) = a.all_clear() {
        panic!("{m}");
    }
    let phase3 = a.0.iter().filter(|(k, _)| k.starts_with('3'));
    for (name, (_, err, _)) in phase3 {
        assert_eq!(*err, 0, "{name} fails once space is back");
    }
    out
}

#[test]
fn a_full_disk_refuses_clearly_and_keeps_what_it_acknowledged() {
    for l in full_disk() {
        eprintln!("{l}");
    }
}

/// After one transient I/O error, redb refuses every later write on the same `Database`
/// ("Previous I/O error occurred. Please close and re-open the database."): the store opens its
/// database again on the same backend, so that revocations go on once the disk works, without
/// the process dropping every handle.
#[test]
fn a_transient_io_error_does_not_stop_revocations_for_good() {
    let backend = SimBackend::new();
    let clock = ManualClock::new(workload::start());
    let store = Store::with_backend(backend.clone(), options(&clock)).unwrap();
    let t = store.issue(&IssueRequest::session("alice")).unwrap();
    backend.set_fault(Some(Fault {
        at: backend.calls() + 1,
        errno: EIO,
        sticky: false,
    }));
    let _ = store.issue(&IssueRequest::session("bob"));
    assert_eq!(backend.injected(), 1);
    // The disk works again.
    assert_eq!(store.revoke(&t.token), Ok(1));
}

/// 15,000 sessions with 100 bytes of metadata each: with a 1 MiB cache, a tokens tree several
/// times larger, so that verifies read the backend.
fn fill_past_the_cache(store: &Store) -> Vec<tessera::Issued> {
    (0..15_000)
        .map(|i| {
            store
                .issue(&IssueRequest::session(format!("user-{i}")).metadata(vec![b'm'; 100]))
                .unwrap()
        })
        .collect()
}

/// A failed read latches redb's I/O error as a failed write does: every later read that misses
/// the cache was refused ("Previous I/O error"), so with no write to open the database again,
/// verifies failed until the process restarted. Now the operation that met the error opens it
/// again once the storage answers.
#[test]
fn a_transient_read_error_does_not_stop_verifies_for_good() {
    let backend = SimBackend::new();
    let clock = ManualClock::new(workload::start());
    let opts = options(&clock)
        .cache_size(1 << 20)
        .durability(IssueDurability::Eventual);
    let store = Store::with_backend(backend.clone(), opts).unwrap();
    let tokens = fill_past_the_cache(&store);
    // A revocation commits durably, and with it every issue before it (a store on a backend
    // keeps no journal: what was not durable would go with the database when it is opened
    // again, as documented for `Store::with_backend`).
    let extra = store.issue(&IssueRequest::session("extra")).unwrap();
    assert_eq!(store.revoke(extra.record.id), Ok(1));
    let reads_before = backend.calls();
    backend.set_fault(Some(Fault {
        at: backend.calls() + 1,
        errno: EIO,
        sticky: false,
    }));
    let failed = tokens
        .iter()
        .find_map(|t| match store.verify(t.token.as_str()) {
            Ok(outcome) => {
                assert!(outcome.is_valid());
                None
            }
            Err(e) => Some(e),
        })
        .expect("a verify met the fault");
    assert!(matches!(failed, Error::Io(_)), "{failed:?}");
    assert_eq!(backend.injected(), 1);
    // The disk works again: every token verifies, with no write in between.
    for t in &tokens {
        assert!(store.verify(t.token.as_str()).unwrap().is_valid());
    }
    assert!(
        backend.calls() > reads_before + 1,
        "the verifies read the backend"
    );
}

/// A malformed token is answered before any storage access: with the store closed to every
/// operation (a verify met an I/O error, and opening the database again failed), a text that is
/// not a token is still `Malformed`, not an I/O error, and the backend is not called.
#[test]
fn a_malformed_token_is_refused_without_touching_failing_storage() {
    let backend = SimBackend::new();
    let clock = ManualClock::new(workload::start());
    let opts = options(&clock).cache_size(1 << 20);
    let store = Store::with_backend(backend.clone(), opts).unwrap();
    let tokens = fill_past_the_cache(&store);
    backend.set_fault(Some(Fault {
        at: backend.calls() + 1,
        errno: EIO,
        sticky: true,
    }));
    let failed = tokens
        .iter()
        .find_map(|t| store.verify(t.token.as_str()).err())
        .expect("a verify met the fault");
    assert!(matches!(failed, Error::Io(_)), "{failed:?}");
    // The storage answers again, but opening the database fails (the fault lands on the first
    // read after the probe's read and sync): the store is closed to every operation until an
    // attempt succeeds (at most one a second).
    backend.set_fault(None);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    backend.set_fault(Some(Fault {
        at: backend.calls() + 3,
        errno: EIO,
        sticky: true,
    }));
    assert!(tokens
        .iter()
        .any(|t| store.verify(t.token.as_str()).is_err()));
    assert!(matches!(
        store.verify(tokens[0].token.as_str()),
        Err(Error::Io(_))
    ));
    let calls = backend.calls();
    for text in [
        "abc",
        "tsk_",
        "tss_0000000000000000000000000000000000000000000000000000",
    ] {
        let outcome = store.verify(text).unwrap();
        assert!(
            matches!(outcome.rejection(), Some(Rejection::Malformed(_))),
            "{text}: {outcome:?}"
        );
    }
    assert_eq!(backend.calls(), calls, "no storage access");
}

/// Regression test: when a write job failed (here: the file cannot grow on a full disk) and
/// redb then refused to abort the poisoned transaction, `write.rs` returned the abort's "Previous
/// I/O error" to every caller and dropped the job's own error, so a full disk was reported as
/// `Error::Storage("Previous I/O error occurred...")` instead of `Error::DiskFull`.
#[test]
fn growth_on_a_full_disk_reports_disk_full() {
    // Whether the growth happens inside the job (lost error) or at commit (reported) varies from
    // run to run; 20 stores show it.
    for _ in 0..20 {
        let backend = SimBackend::new();
        let clock = ManualClock::new(workload::start());
        let store = Store::with_backend(backend.clone(), options(&clock)).unwrap();
        backend.set_max_len(Some(backend.len_now()));
        let err = loop {
            let req = IssueRequest::session("filler").metadata(vec![b'f'; 4000]);
            if let Err(e) = store.issue(&req) {
                break e;
            }
        };
        assert!(matches!(err, Error::DiskFull(_)), "{err:?}");
    }
}

/// Waits (up to 20 s) for `check` to hold, polling.
fn eventually<T>(mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(v) = check() {
            return v;
        }
        assert!(std::time::Instant::now() < deadline, "timed out");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// What the background thread fails at (here: its sweep, purging an expired token while the disk
/// fails) reaches the host through `background_error`; once the disk works, the thread purges on
/// its own, and has nothing more to report.
#[test]
fn a_failed_background_sweep_is_reported_and_the_thread_goes_on() {
    let backend = SimBackend::new();
    let clock = ManualClock::new(workload::start());
    let opts = options(&clock).sweep_interval(Some(Duration::from_millis(100)));
    let store = Store::with_backend(backend.clone(), opts).unwrap();
    let req = IssueRequest::session("alice").ttl(Duration::from_secs(60));
    let t = store.issue(&req).unwrap();
    assert_eq!(store.background_error(), None);
    backend.set_fault(Some(Fault {
        at: backend.calls() + 1,
        errno: EIO,
        sticky: true,
    }));
    clock.advance(Duration::from_secs(120));
    let err = eventually(|| store.background_error());
    assert!(matches!(err, Error::Io(_)), "{err:?}");
    assert!(store.get(t.record.id).unwrap().is_some());
    backend.set_fault(None);
    let after_fault = backend.injected();
    // The expired token goes with no call from the host.
    eventually(|| store.get(t.record.id).unwrap().is_none().then_some(()));
    // A round that failed before the fault was lifted may have left one more error; after a
    // round with nothing to do, none.
    let _ = store.background_error();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(store.background_error(), None);
    assert_eq!(backend.injected(), after_fault);
}

/// A store on a storage backend keeps no journal and commits uses without durability: redb
/// holds them in its buffer. Closing the last handle commits them
/// durably and reports a failure; before, they were left to the database's own close, which
/// cannot report one: `close` returned `Ok` and the use was lost.
#[test]
fn closing_a_store_without_a_journal_on_a_failing_disk_reports_the_lost_write() {
    let backend = SimBackend::new();
    let clock = ManualClock::new(workload::start());
    let opts = options(&clock).flush_interval(Duration::from_secs(3600));
    let store = Store::with_backend(backend.clone(), opts.clone()).unwrap();
    let req = IssueRequest::session("alice").idle_timeout(Duration::from_secs(3600));
    let t = store.issue(&req).unwrap();
    clock.advance(Duration::from_secs(60));
    assert!(store.verify(t.token.as_str()).unwrap().is_valid());
    assert_eq!(store.flush(), Ok(()));
    backend.set_fault(Some(Fault {
        at: backend.calls() + 1,
        errno: EIO,
        sticky: true,
    }));
    let closed = store.close();
    assert!(matches!(closed, Err(Error::Io(_))), "{closed:?}");
    // Without the failure, the use is in the file after the close.
    backend.set_fault(None);
    let store = Store::with_backend(backend.clone(), opts).unwrap();
    assert!(store.verify(t.token.as_str()).unwrap().is_valid());
    assert_eq!(store.flush(), Ok(()));
    let used_at = clock.now();
    assert_eq!(store.close(), Ok(()));
    let store = Store::with_backend(backend.clone(), options(&clock)).unwrap();
    let r = store.get(t.record.id).unwrap().unwrap();
    assert_eq!(r.last_used_at, Some(used_at));
}

/// Two handles closed at once, with a use still to write on a failing disk: the close that
/// finds its handle the last one reports the error. Before, each saw the other's handle, both
/// returned `Ok`, and the store closed in a drop that could not report it. The two closes
/// overlap in some rounds only: 1,000 of them.
#[test]
fn of_two_handles_closed_at_once_one_reports_the_final_write_s_error() {
    for round in 0..1000 {
        let backend = SimBackend::new();
        let clock = ManualClock::new(workload::start());
        let opts = options(&clock).flush_interval(Duration::from_secs(3600));
        let store = Store::with_backend(backend.clone(), opts).unwrap();
        let req = IssueRequest::session("alice").idle_timeout(Duration::from_secs(3600));
        let t = store.issue(&req).unwrap();
        clock.advance(Duration::from_secs(60));
        assert!(store.verify(t.token.as_str()).unwrap().is_valid());
        backend.set_fault(Some(Fault {
            at: backend.calls() + 1,
            errno: EIO,
            sticky: true,
        }));
        let barrier = std::sync::Arc::new(std::sync::Barrier::new(2));
        let closes: Vec<_> = [store.clone(), store]
            .into_iter()
            .map(|s| {
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    barrier.wait();
                    s.close()
                })
            })
            .collect();
        let results: Vec<_> = closes.into_iter().map(|h| h.join().unwrap()).collect();
        let failed = results.iter().filter(|r| r.is_err()).count();
        assert_eq!(failed, 1, "round {round}: {results:?}");
    }
}
