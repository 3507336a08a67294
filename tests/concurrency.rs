//! Many threads on one store: group commit, revocation visibility, one bad request among good
//! ones.

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread;

use common::*;
use tessera::{Error, IssueRequest, Rejection, TokenId};

#[test]
fn eight_writers_issue_concurrently_and_every_token_verifies() {
    let f = fixture();
    let barrier = Arc::new(Barrier::new(8));
    let handles: Vec<_> = (0..8)
        .map(|w| {
            let store = f.store.clone();
            let barrier = barrier.clone();
            thread::spawn(move || {
                barrier.wait();
                (0..100)
                    .map(|i| {
                        store
                            .issue(&IssueRequest::session(format!("w{w}-u{}", i % 10)))
                            .unwrap()
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let issued: Vec<_> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();
    let ids: HashSet<TokenId> = issued.iter().map(|t| t.record.id).collect();
    assert_eq!(ids.len(), 800);
    for t in &issued {
        assert!(f.store.verify(t.token.as_str()).unwrap().is_valid());
    }
    assert_eq!(f.store.list_subject("w3-u7").unwrap().len(), 10);
    assert!(f.store.commits() <= 800);
}

#[test]
fn a_failing_request_does_not_spoil_the_others_in_its_batch() {
    let f = fixture();
    let handles: Vec<_> = (0..8)
        .map(|w| {
            let store = f.store.clone();
            thread::spawn(move || {
                let mut ok = 0;
                for i in 0..50 {
                    if (w + i) % 3 == 0 {
                        let stranger = TokenId::from_bytes([(w * 50 + i) as u8; 16]);
                        assert_eq!(store.revoke(stranger).unwrap_err(), Error::NotFound);
                    } else {
                        let t = store
                            .issue(&IssueRequest::session(format!("u{w}")))
                            .unwrap();
                        assert!(store.verify(t.token.as_str()).unwrap().is_valid());
                        ok += 1;
                    }
                }
                ok
            })
        })
        .collect();
    let issued: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(f.store.stats().unwrap().all.live as usize, issued);
}

/// A revocation is seen by every verify that starts after the revoke returned, on any thread.
#[test]
fn no_verify_that_starts_after_a_revoke_returned_succeeds() {
    let f = fixture();
    let tokens: Vec<_> = (0..200)
        .map(|i| {
            f.store
                .issue(&IssueRequest::session(format!("u{i}")))
                .unwrap()
        })
        .collect();
    let texts: Arc<Vec<String>> =
        Arc::new(tokens.iter().map(|t| t.token.as_str().to_owned()).collect());
    // revoked_before[i]: a ticket number taken after token i's revoke returned (0 = not yet).
    let clock = Arc::new(AtomicU64::new(1));
    let revoked_at: Arc<Vec<AtomicU64>> = Arc::new((0..200).map(|_| AtomicU64::new(0)).collect());
    let verifiers: Vec<_> = (0..4)
        .map(|v| {
            let (store, texts, clock, revoked_at) = (
                f.store.clone(),
                texts.clone(),
                clock.clone(),
                revoked_at.clone(),
            );
            thread::spawn(move || {
                let mut checked = 0u64;
                for round in 0..20_000usize {
                    let i = (round * 7 + v * 13) % 200;
                    let ticket = clock.fetch_add(1, Ordering::SeqCst);
                    let known_revoked = revoked_at[i].load(Ordering::SeqCst);
                    let outcome = store.verify(&texts[i]).unwrap();
                    if known_revoked != 0 && known_revoked < ticket {
                        assert_eq!(
                            outcome.rejection(),
                            Some(Rejection::Revoked),
                            "token {i} verified after its revoke returned"
                        );
                        checked += 1;
                    }
                }
                checked
            })
        })
        .collect();
    for (i, t) in tokens.iter().enumerate() {
        f.store.revoke(&t.token).unwrap();
        revoked_at[i].store(clock.fetch_add(1, Ordering::SeqCst), Ordering::SeqCst);
    }
    let checked: u64 = verifiers.into_iter().map(|h| h.join().unwrap()).sum();
    assert!(checked > 0, "no verify ran after a revoke");
}

#[test]
fn compaction_while_others_verify_and_write_never_hangs() {
    // Compaction takes the database lock exclusively and drops every verify snapshot; a verify
    // that begins a snapshot meanwhile must neither deadlock with it nor keep a stale one.
    let f = fixture();
    let tokens: Arc<Vec<String>> = Arc::new(
        (0..50)
            .map(|i| {
                let t = f.store.issue(&IssueRequest::session(format!("u{i}")));
                t.unwrap().token.as_str().to_owned()
            })
            .collect(),
    );
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut handles = Vec::new();
    for k in 0..3 {
        let (store, tokens, stop, done) = (
            f.store.clone(),
            tokens.clone(),
            stop.clone(),
            done_tx.clone(),
        );
        handles.push(thread::spawn(move || {
            let mut n = 0usize;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                match k {
                    0 => {
                        store.compact().unwrap();
                    }
                    1 => {
                        let t = &tokens[n % tokens.len()];
                        assert!(store.verify(t).unwrap().is_valid());
                    }
                    _ => {
                        let t = store.issue(&IssueRequest::session("w")).unwrap();
                        assert!(store.verify(t.token.as_str()).unwrap().is_valid());
                        store.revoke(t.record.id).unwrap();
                        assert_eq!(
                            store.verify(t.token.as_str()).unwrap().rejection(),
                            Some(Rejection::Revoked)
                        );
                    }
                }
                n += 1;
            }
            done.send(()).unwrap();
        }));
    }
    thread::sleep(std::time::Duration::from_secs(3));
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for _ in 0..3 {
        done_rx
            .recv_timeout(std::time::Duration::from_secs(60))
            .expect("a thread hung: compaction, verify and writes deadlocked");
    }
    for h in handles {
        h.join().unwrap();
    }
}

/// A purge in many small batches runs beside verifies, revocations and rotations of tokens that
/// are not due: it removes exactly the expired tokens, and every other token keeps its state and
/// its index rows (the subject listings, the counts, and a later purge of everything agree).
#[test]
fn a_purge_beside_verifies_revocations_and_rotations_removes_only_what_is_due() {
    let f = fixture_with(|o| o.purge_batch(7).rotation_grace(HOUR));
    let subject = |i: usize| format!("u{}", i % 10);
    let expired: Vec<_> = (0..300)
        .map(|i| {
            let req = IssueRequest::session(subject(i)).ttl(MINUTE);
            f.store.issue(&req).unwrap()
        })
        .collect();
    let live: Arc<Vec<_>> = Arc::new(
        (0..300)
            .map(|i| {
                let req = IssueRequest::session(subject(i)).ttl(DAY);
                f.store.issue(&req).unwrap()
            })
            .collect(),
    );
    f.clock.advance(2 * MINUTE);
    // Token i of `live`: revoked if i % 3 == 1, rotated if i % 3 == 2, left alone otherwise.
    let barrier = Arc::new(Barrier::new(4));
    let spawn = |job: usize| {
        let (store, live, barrier) = (f.store.clone(), live.clone(), barrier.clone());
        thread::spawn(move || {
            barrier.wait();
            let mut successors = Vec::new();
            match job {
                0 => {
                    let mut removed = 0;
                    for _ in 0..5 {
                        removed += store.purge_expired().unwrap();
                    }
                    removed
                }
                1 => {
                    for round in 0..10 {
                        for (i, t) in live.iter().enumerate() {
                            let outcome = store.verify(t.token.as_str()).unwrap();
                            // A revocation may or may not have happened yet; nothing else may
                            // change what verify says.
                            if i % 3 != 1 || !outcome.is_valid() {
                                let want = (i % 3 == 1).then_some(Rejection::Revoked);
                                assert_eq!(outcome.rejection(), want, "token {i}, round {round}");
                            }
                        }
                    }
                    0
                }
                2 => {
                    for t in live.iter().skip(1).step_by(3) {
                        assert_eq!(store.revoke(&t.token).unwrap(), 1);
                    }
                    0
                }
                _ => {
                    for t in live.iter().skip(2).step_by(3) {
                        let next = store.rotate(t.token.as_str()).unwrap();
                        assert!(store.verify(next.token.as_str()).unwrap().is_valid());
                        successors.push(next);
                    }
                    successors.len()
                }
            }
        })
    };
    let handles: Vec<_> = (0..4).map(spawn).collect();
    let counts: Vec<usize> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert_eq!(
        counts[0], 300,
        "the purge removed exactly the expired tokens"
    );
    assert_eq!(counts[3], 100);
    for t in &expired {
        let outcome = f.store.verify(t.token.as_str()).unwrap();
        assert_eq!(outcome.rejection(), Some(Rejection::Unknown));
    }
    for (i, t) in live.iter().enumerate() {
        let outcome = f.store.verify(t.token.as_str()).unwrap();
        let want = (i % 3 == 1).then_some(Rejection::Revoked);
        assert_eq!(outcome.rejection(), want, "token {i}");
    }
    // Per subject: 10 left alone, 10 rotated (both generations live in the grace window), 10
    // revoked (not listed).
    for s in 0..10 {
        assert_eq!(f.store.list_subject(&format!("u{s}")).unwrap().len(), 30);
    }
    let stats = f.store.stats().unwrap();
    assert_eq!(stats.all.total(), 300 + 100, "{stats:?}");
    assert_eq!(f.store.purge_expired().unwrap(), 0);
    // Past every expiry and retention, the purge removes every row, and nothing is left behind.
    f.clock.advance(30 * DAY);
    assert_eq!(f.store.purge_expired().unwrap(), 400);
    assert_eq!(f.store.stats().unwrap().all.total(), 0);
    assert!(f.store.list_subject("u0").unwrap().is_empty());
    assert!(f.store.check_integrity().unwrap());
}
