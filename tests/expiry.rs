//! Expiry and cleanup: the purge, its batches, the background sweeper, tombstones.

mod common;

use std::time::{Duration, Instant};

use common::*;
use tessera::{IssueRequest, Rejection, Store};

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
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let on_disk = f.store.commits() > 1;
        if on_disk {
            break;
        }
        assert!(Instant::now() < deadline, "no flush within 20 s");
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
