//! kill -9: a child process (this test binary, re-executed) issues, verifies and revokes on a
//! store file, and reports each operation on stdout before it starts ("…ING") and after it
//! returned ("…ED"). The parent kills it with SIGKILL at random moments (also while it opens and
//! repairs the store), reopens the store and checks that no acknowledged operation was lost,
//! that only the one operation in flight may have landed, that nothing is half-applied, and that
//! the integrity check passes. Then the next child carries on with the same file.
//!
//! `TESSERA_RELIABILITY_LONG=1` for the long version, `TESSERA_SEED` to replay.

mod reliability;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use reliability::{percentile, scale3, seed, Rng};
use tessera::{IssueRequest, Options, Rejection, Store, TokenId};

const SUBJECTS: usize = 6;

/// The child: runs only when re-executed by the parent with `TESSERA_KILL_CHILD=<path>`.
#[test]
fn kill_child() {
    let Ok(path) = std::env::var("TESSERA_KILL_CHILD") else {
        return;
    };
    let seed: u64 = std::env::var("TESSERA_KILL_SEED").unwrap().parse().unwrap();
    let mut rng = Rng::new(seed);
    let out = std::io::stdout();
    let say = |line: String| {
        let mut o = out.lock();
        o.write_all(line.as_bytes()).unwrap();
        o.write_all(b"\n").unwrap();
        o.flush().unwrap();
    };
    let store = Store::open(&path, Options::new()).unwrap();
    // The write journal's length after an acknowledgment: what its fdatasync made durable.
    let journal = format!("{path}.journal");
    let jlen = || journal_end(std::path::Path::new(&journal));
    // After a newline: the test harness has printed "test kill_child ... " without one.
    say("\nREADY".into());
    let mut mine: Vec<(String, TokenId)> = Vec::new();
    // One-time tokens (max_uses 1) issued and not used yet.
    let mut once: Vec<(String, TokenId)> = Vec::new();
    loop {
        let roll = rng.below(100);
        if mine.is_empty() || roll < 50 {
            let subject = format!("s{}", rng.below(SUBJECTS as u64));
            say(format!("ISSUING {subject}"));
            let t = store.issue(&IssueRequest::session(&subject)).unwrap();
            say(format!("ISSUED {subject} {} J{}", t.token.as_str(), jlen()));
            mine.push((t.token.as_str().to_owned(), t.record.id));
        } else if roll < 75 {
            let (text, id) = mine[rng.index(mine.len())].clone();
            say(format!("REVOKING {id}"));
            if rng.chance(1, 2) {
                store.revoke(text.as_str()).unwrap();
            } else {
                store.revoke(id).unwrap();
            }
            say(format!("REVOKED {id} J{}", jlen()));
        } else if roll < 80 {
            let subject = format!("s{}", rng.below(SUBJECTS as u64));
            say(format!("REVOKING_SUBJECT {subject}"));
            store.revoke_subject(&subject, None).unwrap();
            say(format!("REVOKED_SUBJECT {subject} J{}", jlen()));
        } else if roll < 85 {
            // A one-time link: its use is counted durably before verify answers.
            if let Some((text, id)) = once.pop() {
                say(format!("USING {id}"));
                assert!(store.verify(text.as_str()).unwrap().is_valid());
                say(format!("USED {id} J{}", jlen()));
            } else {
                say("ISSUING_ONCE".into());
                let t = store
                    .issue(&IssueRequest::session(ONCE).max_uses(1))
                    .unwrap();
                say(format!("ISSUED_ONCE {} J{}", t.token.as_str(), jlen()));
                once.push((t.token.as_str().to_owned(), t.record.id));
            }
        } else {
            let (text, _) = &mine[rng.index(mine.len())];
            let _ = store.verify(text).unwrap();
        }
    }
}

/// Where the write journal's records end: the file is preallocated (zeros past its last
/// record), so its length says nothing. Walks the record headers (`magic u32 | payload length
/// u32 | CRC-32 u32`, little-endian, see `src/journal.rs`) from the start.
fn journal_end(path: &std::path::Path) -> u64 {
    use std::io::{Read, Seek, SeekFrom};
    const MAGIC: u32 = 0x7453_4a31;
    let Ok(mut file) = std::fs::File::open(path) else {
        return 0;
    };
    let mut end = 0u64;
    let mut header = [0u8; 12];
    while file.seek(SeekFrom::Start(end)).is_ok() && file.read_exact(&mut header).is_ok() {
        let word = |i: usize| u32::from_le_bytes(header[i..i + 4].try_into().unwrap());
        if word(0) != MAGIC {
            break;
        }
        end += 12 + u64::from(word(4));
    }
    end
}

/// The subject of the one-time tokens (apart from the `s<N>` subjects the model lists).
const ONCE: &str = "once";

/// A token the parent knows of: acknowledged by the child (with its text), or a "ghost" whose
/// issue was in flight at a kill and landed (its text never reached the parent).
struct Tok {
    text: Option<String>,
    subject: String,
    revoked: bool,
}

/// What the parent knows: every acknowledged token, and whether an acknowledged revocation
/// covers it.
#[derive(Default)]
struct Model {
    tokens: BTreeMap<TokenId, Tok>,
    /// One-time tokens: whether an acknowledged verify used each (a ghost's text is unknown).
    once: BTreeMap<TokenId, bool>,
    acked_issues: usize,
    acked_revocations: usize,
    acked_uses: usize,
}

/// The operation in flight when the child died (started, not acknowledged).
#[derive(Debug, Clone, PartialEq, Eq)]
enum InFlight {
    None,
    Issue,
    Revoke(TokenId),
    RevokeSubject(String),
    IssueOnce,
    Use(TokenId),
}

impl Model {
    /// Applies the complete lines of one child; returns the operation in flight and the length
    /// of the write journal at the last acknowledgment (durable: acknowledged after its sync).
    fn apply(&mut self, lines: &[String]) -> (InFlight, u64) {
        let mut flight = InFlight::None;
        let mut journal = 0;
        for l in lines {
            if let Some(j) = l.rsplit(' ').next().and_then(|w| w.strip_prefix('J')) {
                journal = j.parse().unwrap_or(journal);
            }
            let mut w = l.split(' ');
            match (w.next(), w.next(), w.next()) {
                (Some("ISSUING"), _, _) => flight = InFlight::Issue,
                (Some("ISSUED"), Some(subject), Some(text)) => {
                    let id = TokenId::from_bytes(reliability::forge::parts(text).id);
                    self.tokens.insert(
                        id,
                        Tok {
                            text: Some(text.to_owned()),
                            subject: subject.to_owned(),
                            revoked: false,
                        },
                    );
                    self.acked_issues += 1;
                    flight = InFlight::None;
                }
                (Some("REVOKING"), Some(id), _) => {
                    flight = InFlight::Revoke(id.parse().unwrap());
                }
                (Some("REVOKED"), Some(id), _) => {
                    let id: TokenId = id.parse().unwrap();
                    self.tokens.get_mut(&id).unwrap().revoked = true;
                    self.acked_revocations += 1;
                    flight = InFlight::None;
                }
                (Some("ISSUING_ONCE"), _, _) => flight = InFlight::IssueOnce,
                (Some("ISSUED_ONCE"), Some(text), _) => {
                    let id = TokenId::from_bytes(reliability::forge::parts(text).id);
                    self.once.insert(id, false);
                    self.acked_issues += 1;
                    flight = InFlight::None;
                }
                (Some("USING"), Some(id), _) => flight = InFlight::Use(id.parse().unwrap()),
                (Some("USED"), Some(id), _) => {
                    *self.once.get_mut(&id.parse().unwrap()).unwrap() = true;
                    self.acked_uses += 1;
                    flight = InFlight::None;
                }
                (Some("REVOKING_SUBJECT"), Some(s), _) => {
                    flight = InFlight::RevokeSubject(s.to_owned());
                }
                (Some("REVOKED_SUBJECT"), Some(s), _) => {
                    for t in self.tokens.values_mut().filter(|t| t.subject == s) {
                        t.revoked = true;
                    }
                    self.acked_revocations += 1;
                    flight = InFlight::None;
                }
                _ => {}
            }
        }
        (flight, journal)
    }

    /// Checks the reopened store; returns a description of the first violation.
    fn check(&self, store: &Store, flight: &InFlight) -> Result<(), String> {
        match store.check_integrity() {
            Ok(true) => {}
            other => return Err(format!("check_integrity: {other:?}")),
        }
        let may_be_revoked = |id: &TokenId, t: &Tok| match flight {
            InFlight::Revoke(r) => r == id,
            InFlight::RevokeSubject(s) => *s == t.subject,
            _ => false,
        };
        let mut listed: BTreeSet<TokenId> = BTreeSet::new();
        for s in 0..SUBJECTS {
            for r in store
                .list_subject(&format!("s{s}"))
                .map_err(|e| format!("list: {e}"))?
            {
                listed.insert(r.id);
            }
        }
        for (id, t) in &self.tokens {
            let is_listed = listed.remove(id);
            let fine = |valid: bool| valid != t.revoked || (!valid && may_be_revoked(id, t));
            if !fine(is_listed) {
                return Err(format!(
                    "token {id}: acknowledged {}, but it is {}listed (in flight: {flight:?})",
                    if t.revoked { "revoked" } else { "valid" },
                    if is_listed { "" } else { "not " },
                ));
            }
            let Some(text) = &t.text else { continue };
            let got = store.verify(text).map_err(|e| format!("verify: {e}"))?;
            let valid = match got.rejection() {
                None => true,
                Some(Rejection::Revoked) => false,
                other => return Err(format!("token {id}: verify says {other:?}")),
            };
            if !fine(valid) || valid != is_listed {
                return Err(format!(
                    "token {id}: acknowledged {}, but verify says {:?} and it is {}listed \
                     (in flight: {flight:?})",
                    if t.revoked { "revoked" } else { "valid" },
                    got.rejection(),
                    if is_listed { "" } else { "not " },
                ));
            }
        }
        // A one-time token's acknowledged use stays spent (read by id: a verify would spend
        // an unused one).
        for (id, used) in &self.once {
            let r = store
                .get(*id)
                .map_err(|e| format!("get: {e}"))?
                .ok_or_else(|| format!("one-time token {id}: acknowledged, not stored"))?;
            let in_flight = *flight == InFlight::Use(*id);
            if (*used && r.uses != 1) || (!*used && !in_flight && r.uses != 0) || r.uses > 1 {
                return Err(format!(
                    "one-time token {id}: acknowledged {}, stored with {} uses",
                    if *used { "used" } else { "unused" },
                    r.uses
                ));
            }
        }
        // Nothing half-applied: at most the one token whose issue was in flight is unknown.
        let allowed = usize::from(*flight == InFlight::Issue);
        let known = self.tokens.len() + self.once.len();
        let issuing = usize::from(matches!(flight, InFlight::Issue | InFlight::IssueOnce));
        let total = store.stats().map_err(|e| e.to_string())?.all.total() as usize;
        if listed.len() > allowed || total < known || total > known + issuing {
            return Err(format!(
                "{total} tokens stored, {known} known, {} unknown listed, in flight: {flight:?}",
                listed.len()
            ));
        }
        Ok(())
    }
}

fn run(cycles: usize, seed: u64) -> Model {
    let mut rng = Rng::new(seed);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kill.redb");
    let exe = std::env::current_exe().unwrap();
    let mut model = Model::default();
    let mut recovery_ms = Vec::new();
    let mut during_open = 0;
    let mut torn_journals = 0;
    let mut in_flight_landed = 0;
    let mut flights = BTreeMap::<&str, usize>::new();
    for cycle in 0..cycles {
        let mut child = Command::new(&exe)
            .args(["--exact", "kill_child", "--nocapture", "--test-threads=1"])
            .env("TESSERA_KILL_CHILD", &path)
            .env("TESSERA_KILL_SEED", rng.next_u64().to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut stderr = child.stderr.take().unwrap();
        let errors = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = std::io::Read::read_to_string(&mut stderr, &mut text);
            text
        });
        let (tx, rx) = mpsc::channel::<String>();
        let reader = std::thread::spawn(move || {
            let mut r = BufReader::new(stdout);
            let mut lines = Vec::new();
            let mut line = String::new();
            while r.read_line(&mut line).unwrap_or(0) > 0 {
                // A line cut by the kill has no newline: it was never acknowledged.
                if line.ends_with('\n') {
                    let l = line.trim_end().to_owned();
                    let _ = tx.send(l.clone());
                    lines.push(l);
                }
                line.clear();
            }
            lines
        });
        if rng.chance(1, 5) {
            // Kill it while it starts, opens and repairs the store.
            std::thread::sleep(Duration::from_micros(rng.below(15_000)));
            during_open += 1;
        } else {
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                match rx.recv_timeout(Duration::from_millis(100)) {
                    Ok(l) if l == "READY" => break,
                    Ok(_) => {}
                    Err(_) if Instant::now() < deadline => {}
                    Err(e) => panic!("cycle {cycle}: the child never got ready: {e}"),
                }
            }
            std::thread::sleep(Duration::from_micros(rng.below(80_000)));
        }
        child.kill().unwrap();
        let status = child.wait().unwrap();
        let lines = reader.join().unwrap();
        let errors = errors.join().unwrap();
        // The kill must be what ended the child: a failed call (its unwrap), a panic or an exit
        // of its own before the kill is a failure of the store, not a crash to recover from.
        assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(9),
            "cycle {cycle} (seed {seed}): the child ended before the kill ({status}); its last \
             lines: {:?}; its stderr: {}",
            &lines[lines.len().saturating_sub(3)..],
            errors
        );
        let (flight, journal_durable) = model.apply(&lines);
        // Power loss of the journal's unsynced tail: cut it, or damage a byte of it, past what
        // the last acknowledgment's fdatasync covered.
        let journal = dir.path().join("kill.redb.journal");
        let current = journal_end(&journal);
        if current > journal_durable && rng.chance(1, 2) {
            let at = journal_durable + rng.below(current - journal_durable);
            let mut bytes = std::fs::read(&journal).unwrap();
            if rng.chance(1, 2) {
                bytes.truncate(at as usize);
            } else {
                bytes[at as usize] ^= 1 << rng.below(8);
            }
            std::fs::write(&journal, &bytes).unwrap();
            torn_journals += 1;
        }
        let t0 = Instant::now();
        let store = Store::open(&path, Options::new())
            .unwrap_or_else(|e| panic!("cycle {cycle} (seed {seed}): reopen failed: {e}"));
        recovery_ms.push(t0.elapsed().as_secs_f64() * 1000.0);
        if let Err(m) = model.check(&store, &flight) {
            panic!(
                "kill -9 cycle {cycle} (seed {seed}): {m}; the child's last lines: {:?}",
                &lines[lines.len().saturating_sub(3)..]
            );
        }
        // The store agrees with the acknowledged model plus, possibly, the operation in flight;
        // fold that in so the next cycle starts from the store's truth.
        match &flight {
            InFlight::None => {}
            InFlight::Issue => {
                *flights.entry("issue").or_default() += 1;
                for s in 0..SUBJECTS {
                    let subject = format!("s{s}");
                    for r in store.list_subject(&subject).unwrap() {
                        if let std::collections::btree_map::Entry::Vacant(v) =
                            model.tokens.entry(r.id)
                        {
                            in_flight_landed += 1;
                            v.insert(Tok {
                                text: None,
                                subject: subject.clone(),
                                revoked: false,
                            });
                        }
                    }
                }
            }
            InFlight::Revoke(id) => {
                *flights.entry("revoke").or_default() += 1;
                let revoked = store.get(*id).unwrap().unwrap().revoked.is_some();
                let t = model.tokens.get_mut(id).unwrap();
                if revoked && !t.revoked {
                    t.revoked = true;
                    in_flight_landed += 1;
                }
            }
            InFlight::IssueOnce => {
                *flights.entry("issue_once").or_default() += 1;
                for r in store.list_subject(ONCE).unwrap() {
                    if let std::collections::btree_map::Entry::Vacant(v) = model.once.entry(r.id) {
                        in_flight_landed += 1;
                        v.insert(false);
                    }
                }
            }
            InFlight::Use(id) => {
                *flights.entry("use").or_default() += 1;
                if store.get(*id).unwrap().unwrap().uses == 1 {
                    in_flight_landed += 1;
                    model.once.insert(*id, true);
                }
            }
            InFlight::RevokeSubject(s) => {
                *flights.entry("revoke_subject").or_default() += 1;
                let live: BTreeSet<TokenId> = store
                    .list_subject(s)
                    .unwrap()
                    .iter()
                    .map(|r| r.id)
                    .collect();
                let mut landed = false;
                for (id, t) in model.tokens.iter_mut().filter(|(_, t)| &t.subject == s) {
                    if !t.revoked && !live.contains(id) {
                        t.revoked = true;
                        landed = true;
                    }
                }
                in_flight_landed += usize::from(landed);
            }
        }
        drop(store);
    }
    recovery_ms.sort_by(f64::total_cmp);
    eprintln!(
        "kill -9: {cycles} kills ({during_open} while opening; {torn_journals} with the write \
         journal's unsynced tail cut or damaged), {} acknowledged issues, {} acknowledged \
         revocations and {} acknowledged uses of one-time tokens checked after every kill, 0 \
         lost, 0 half-applied; operations \
         in flight at the kill: {flights:?}, {in_flight_landed} of them landed; recovery (reopen) \
         p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        model.acked_issues,
        model.acked_revocations,
        model.acked_uses,
        percentile(&recovery_ms, 50.0),
        percentile(&recovery_ms, 99.0),
        percentile(&recovery_ms, 100.0),
    );
    model
}

#[test]
fn kill_9_loses_no_acknowledged_operation() {
    let seed = seed("kill -9");
    let model = run(scale3(100, 2000, 10_000), seed);
    assert!(model.acked_issues > 0, "the children acknowledged nothing");
}
