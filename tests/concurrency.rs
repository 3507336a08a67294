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
