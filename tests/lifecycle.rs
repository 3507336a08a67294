//! Lifecycles: child tokens, rotation with reuse detection, key rolling, limited-use tokens,
//! per-subject caps, revoking everything issued before an instant, and the audit feed.

mod common;
#[path = "reliability/forge.rs"]
#[allow(dead_code)]
mod forge;

use std::collections::HashSet;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::Duration;

use common::*;
use tessera::{
    CapPolicy, Error, EventKind, IssueRequest, Issued, Kind, ManualClock, Options, Rejection,
    RevokeReason, RevokeScope, Store, TokenState,
};

fn rejection(store: &Store, token: &str) -> Option<Rejection> {
    store.verify(token).unwrap().rejection()
}

/// Presenting `reused` is a reuse, and it revoked `newest` (the family's newest generation).
fn assert_reuse_revokes(store: &Store, reused: &Issued, newest: &Issued) {
    assert_eq!(
        rejection(store, reused.token.as_str()),
        Some(Rejection::ReuseDetected)
    );
    assert_eq!(
        rejection(store, newest.token.as_str()),
        Some(Rejection::Revoked)
    );
}

/// An admin session of tenant 37000 (living `ttl`) and its child for tenant 37001 (asking for a
/// day), as BookingBug's admin login to a company makes them.
/// A request for a token bounded by nothing but what the test adds (no expiry, no maximum
/// lifetime).
fn lasting(req: IssueRequest) -> IssueRequest {
    req.never_expires().no_max_lifetime()
}

fn admin_and_child(f: &Fixture, ttl: Duration) -> (tessera::Issued, tessera::Child) {
    let admin = f
        .store
        .issue(&IssueRequest::session("admin@bb").tenant("37000").ttl(ttl))
        .unwrap();
    let child = f
        .store
        .issue_child(
            &admin.token,
            &IssueRequest::session("admin@bb").tenant("37001").ttl(DAY),
        )
        .unwrap();
    (admin, child)
}

#[test]
fn a_child_for_another_tenant_is_clamped_to_its_parent_and_dies_with_it() {
    let f = fixture();
    let (admin, child) = admin_and_child(&f, HOUR);
    assert!(
        child.clamped,
        "a child asking for more than its parent is clamped"
    );
    assert_eq!(child.issued.record.expires_at, admin.record.expires_at);
    assert_eq!(child.issued.record.parent, Some(admin.record.id));
    assert_eq!(child.issued.record.tenant, "37001");
    let grandchild = f
        .store
        .issue_child(
            &child.issued.token,
            &IssueRequest::session("admin@bb")
                .tenant("37002")
                .ttl(MINUTE),
        )
        .unwrap();
    assert!(!grandchild.clamped);
    let kids: Vec<_> = f
        .store
        .children(admin.record.id)
        .unwrap()
        .iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(kids, vec![child.issued.record.id]);

    assert_eq!(
        f.store.revoke(&admin.token).unwrap(),
        3,
        "parent, child and grandchild"
    );
    for t in [&child.issued.token, &grandchild.issued.token] {
        assert_eq!(rejection(&f.store, t.as_str()), Some(Rejection::Revoked));
    }
    let r = f.store.get(grandchild.issued.record.id).unwrap().unwrap();
    assert_eq!(r.revoked.map(|v| v.reason), Some(RevokeReason::Cascade));
    // A revoked parent cannot have new children.
    assert!(matches!(
        f.store
            .issue_child(&admin.token, &IssueRequest::session("x")),
        Err(Error::Rejected(Rejection::Revoked))
    ));
}

#[test]
fn renewing_a_child_never_outlives_its_parent() {
    let f = fixture();
    let parent = f
        .store
        .issue(&IssueRequest::session("p").ttl(2 * HOUR))
        .unwrap();
    let child = f
        .store
        .issue_child(&parent.token, &IssueRequest::session("p").ttl(HOUR))
        .unwrap();
    let r = f.store.renew(&child.issued.token, 5 * HOUR).unwrap();
    assert!(r.capped);
    assert_eq!(r.record.expires_at, parent.record.expires_at);
}

#[test]
fn rotation_keeps_the_old_token_for_the_grace_window_then_detects_reuse() {
    let f = fixture_with(|o| o.rotation_grace(Duration::from_secs(30)));
    let first = f
        .store
        .issue(&IssueRequest::session("alice").scope("a"))
        .unwrap();
    let second = f.store.rotate(first.token.as_str()).unwrap();
    assert_ne!(second.record.id, first.record.id);
    assert_eq!(second.record.family, Some(first.record.id));
    assert_eq!(second.record.scopes.as_str(), "a");
    // A parallel request still carrying the old token: fine inside the window, and a retried
    // rotation gets the very same successor.
    f.clock.advance(Duration::from_secs(10));
    assert!(f.store.verify(first.token.as_str()).unwrap().is_valid());
    let again = f.store.rotate(first.token.as_str()).unwrap();
    assert_eq!(again.token.as_str(), second.token.as_str());
    let third = f.store.rotate(second.token.as_str()).unwrap();
    assert_eq!(third.record.family, Some(first.record.id));
    // After the window, the old token is reuse: the whole family dies.
    f.clock.advance(Duration::from_secs(30));
    assert_eq!(
        rejection(&f.store, first.token.as_str()),
        Some(Rejection::ReuseDetected)
    );
    for t in [&second.token, &third.token] {
        assert_eq!(rejection(&f.store, t.as_str()), Some(Rejection::Revoked));
    }
    let r = f.store.get(third.record.id).unwrap().unwrap();
    assert_eq!(r.revoked.map(|v| v.reason), Some(RevokeReason::Reuse));
}

#[test]
fn rotating_an_old_token_after_its_window_is_reuse_too() {
    let f = fixture();
    let first = f.store.issue(&IssueRequest::session("bob")).unwrap();
    let second = f.store.rotate(first.token.as_str()).unwrap();
    f.clock.advance(Duration::from_secs(60));
    assert!(matches!(
        f.store.rotate(first.token.as_str()),
        Err(Error::Rejected(Rejection::ReuseDetected))
    ));
    assert_eq!(
        rejection(&f.store, second.token.as_str()),
        Some(Rejection::Revoked)
    );
}

/// A retried rotation of the previous generation gives its successor only while presenting that
/// successor would be accepted: rotated on and past its own grace (the grace window was
/// shortened between opens), the successor is a reuse already, and so is the retry.
#[test]
fn a_retried_rotation_never_hands_out_a_successor_past_its_own_grace() {
    let mut f = fixture_with(|o| o.rotation_grace(HOUR));
    let first = f.store.issue(&IssueRequest::session("carol")).unwrap();
    let second = f.store.rotate(first.token.as_str()).unwrap();
    let (path, opts) = (f.path(), f.options());
    drop(f.store);
    f.store = Store::open(path, opts.rotation_grace(MINUTE)).unwrap();
    let third = f.store.rotate(second.token.as_str()).unwrap();
    f.clock.advance(2 * MINUTE);
    // `first` is inside its hour; `second` is past its minute.
    assert!(matches!(
        f.store.rotate(first.token.as_str()),
        Err(Error::Rejected(Rejection::ReuseDetected))
    ));
    for t in [&first.token, &second.token, &third.token] {
        assert_eq!(rejection(&f.store, t.as_str()), Some(Rejection::Revoked));
    }
    let r = f.store.get(third.record.id).unwrap().unwrap();
    assert_eq!(r.revoked.map(|v| v.reason), Some(RevokeReason::Reuse));
}

#[test]
fn concurrent_rotations_of_one_token_make_exactly_one_successor() {
    for attempt in 0..10 {
        let f = fixture();
        let t = f.store.issue(&IssueRequest::session("carol")).unwrap();
        let text = Arc::new(t.token.as_str().to_owned());
        let barrier = Arc::new(Barrier::new(8));
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let (store, text, barrier) = (f.store.clone(), text.clone(), barrier.clone());
                thread::spawn(move || {
                    barrier.wait();
                    store.rotate(text.as_str()).unwrap().token.into_string()
                })
            })
            .collect();
        let successors: HashSet<String> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        assert_eq!(
            successors.len(),
            1,
            "attempt {attempt}: {} successors",
            successors.len()
        );
        // carol has the old token (in its grace window) and exactly one successor.
        assert_eq!(f.store.list_subject("carol").unwrap().len(), 2);
    }
}

/// Rolling a key before it expires (what its expiry asks for) gives a new key with the old
/// key's time to live and lifetime cap, counted from the roll: not the rest of the old key's.
/// A rotated session, by contrast, stays within its first generation's cap.
#[test]
fn a_rolled_key_lives_as_long_as_the_old_one_did_from_the_roll() {
    let f = fixture();
    let old = f
        .store
        .issue(
            &IssueRequest::api_key("acme")
                .ttl(30 * DAY)
                .max_lifetime(90 * DAY),
        )
        .unwrap();
    f.clock.advance(29 * DAY);
    let new = f.store.roll(old.record.id, HOUR).unwrap();
    let now = f.store.now();
    assert_eq!(new.record.expires_at, Some(now.saturating_add(30 * DAY)));
    assert_eq!(new.record.max_lifetime, Some(90 * DAY));
    f.clock.advance(29 * DAY);
    assert!(f.store.verify(new.token.as_str()).unwrap().is_valid());
    // Renewed within its own cap, 90 days from the roll (day 119), not the old key's (day 90).
    let renewed = f.store.renew(new.token.as_str(), 70 * DAY).unwrap();
    assert_eq!(
        (renewed.record.expires_at, renewed.capped),
        (Some(now.saturating_add(90 * DAY)), true)
    );

    let session = f
        .store
        .issue(&IssueRequest::session("u").ttl(DAY).max_lifetime(30 * HOUR))
        .unwrap();
    f.clock.advance(20 * HOUR);
    let next = f.store.rotate(session.token.as_str()).unwrap();
    assert_eq!(
        next.record.expires_at,
        Some(session.record.created_at.saturating_add(30 * HOUR))
    );
}

#[test]
fn a_rolled_key_keeps_working_for_its_grace_period_then_expires() {
    let f = fixture();
    let old = f
        .store
        .issue(&IssueRequest::api_key("acme").scope("read").label("ci"))
        .unwrap();
    let new = f.store.roll(old.record.id, HOUR).unwrap();
    assert_eq!(
        (new.record.tenant.as_str(), new.record.scopes.as_str()),
        ("acme", "read")
    );
    assert_eq!(new.record.label.as_deref(), Some("ci"));
    assert_eq!(new.record.expires_at, None);
    f.clock.advance(HOUR - MINUTE);
    assert!(f.store.verify(old.token.as_str()).unwrap().is_valid());
    assert!(f.store.verify(new.token.as_str()).unwrap().is_valid());
    f.clock.advance(MINUTE);
    assert_eq!(
        rejection(&f.store, old.token.as_str()),
        Some(Rejection::Expired)
    );
    assert!(f.store.verify(new.token.as_str()).unwrap().is_valid());
    assert!(matches!(
        f.store.roll(old.record.id, HOUR),
        Err(Error::Rejected(Rejection::Expired))
    ));
    let session = f.store.issue(&IssueRequest::session("u")).unwrap();
    assert!(matches!(
        f.store.roll(&session.token, HOUR),
        Err(Error::InvalidArgument(_))
    ));
}

#[test]
fn a_limited_use_token_succeeds_exactly_max_uses_times_across_threads() {
    let f = fixture();
    let t = f
        .store
        .issue(&IssueRequest::session("reset:alice").max_uses(5).ttl(HOUR))
        .unwrap();
    let text = Arc::new(t.token.as_str().to_owned());
    let barrier = Arc::new(Barrier::new(8));
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let (store, text, barrier) = (f.store.clone(), text.clone(), barrier.clone());
            thread::spawn(move || {
                barrier.wait();
                let mut wins = 0;
                let mut exhausted = 0;
                for _ in 0..10 {
                    match store.verify(text.as_str()).unwrap().rejection() {
                        None => wins += 1,
                        Some(Rejection::Exhausted) => exhausted += 1,
                        Some(other) => panic!("unexpected {other:?}"),
                    }
                }
                (wins, exhausted)
            })
        })
        .collect();
    let (wins, exhausted) = handles
        .into_iter()
        .map(|h| h.join().unwrap())
        .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
    assert_eq!((wins, exhausted), (5, 75));
    assert_eq!(f.store.get(t.record.id).unwrap().unwrap().uses, 5);
}

#[test]
fn the_refuse_cap_is_never_exceeded_by_concurrent_logins() {
    let f = fixture_with(|o| o.subject_cap(Kind::Session, 3, CapPolicy::Refuse));
    let barrier = Arc::new(Barrier::new(8));
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let (store, barrier) = (f.store.clone(), barrier.clone());
            thread::spawn(move || {
                barrier.wait();
                (0..5)
                    .filter(|_| match store.issue(&IssueRequest::session("dave")) {
                        Ok(_) => true,
                        Err(Error::LimitReached(_)) => false,
                        Err(e) => panic!("{e}"),
                    })
                    .count()
            })
        })
        .collect();
    let accepted: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(accepted, 3);
    assert_eq!(f.store.list_subject("dave").unwrap().len(), 3);
    // API keys are not sessions: not counted against the session cap.
    f.store
        .issue(&IssueRequest::api_key("t").subject("dave"))
        .unwrap();
}

#[test]
fn eviction_caps_keep_the_newest_or_the_recently_used() {
    let f = fixture_with(|o| {
        o.subject_cap(Kind::Session, 2, CapPolicy::EvictOldest)
            .subject_cap(Kind::ApiKey, 2, CapPolicy::EvictLeastRecentlyUsed)
    });
    let s1 = f.store.issue(&IssueRequest::session("erin")).unwrap();
    f.clock.advance(MINUTE);
    let s2 = f.store.issue(&IssueRequest::session("erin")).unwrap();
    f.clock.advance(MINUTE);
    let s3 = f.store.issue(&IssueRequest::session("erin")).unwrap();
    assert_eq!(
        rejection(&f.store, s1.token.as_str()),
        Some(Rejection::Revoked)
    );
    assert!(f.store.verify(s2.token.as_str()).unwrap().is_valid());
    assert!(f.store.verify(s3.token.as_str()).unwrap().is_valid());
    let r = f.store.get(s1.record.id).unwrap().unwrap();
    assert_eq!(r.revoked.map(|v| v.reason), Some(RevokeReason::CapEviction));

    let k1 = f
        .store
        .issue(&IssueRequest::api_key("t").subject("erin"))
        .unwrap();
    f.clock.advance(MINUTE);
    let k2 = f
        .store
        .issue(&IssueRequest::api_key("t").subject("erin"))
        .unwrap();
    f.clock.advance(MINUTE);
    assert!(f.store.verify(k1.token.as_str()).unwrap().is_valid()); // k1 is now the most recent
    f.clock.advance(MINUTE);
    f.store
        .issue(&IssueRequest::api_key("t").subject("erin"))
        .unwrap();
    assert!(f.store.verify(k1.token.as_str()).unwrap().is_valid());
    assert_eq!(
        rejection(&f.store, k2.token.as_str()),
        Some(Rejection::Revoked)
    );
}

#[test]
fn revoking_everything_issued_before_an_instant_takes_one_write_and_spares_newer_tokens() {
    let f = fixture();
    let old_a = f
        .store
        .issue(&IssueRequest::session("alice").tenant("acme"))
        .unwrap();
    let old_b = f
        .store
        .issue(&IssueRequest::session("bob").tenant("acme"))
        .unwrap();
    let old_key = f.store.issue(&IssueRequest::api_key("globex")).unwrap();
    f.clock.advance(MINUTE);
    let cut = f.store.now();
    let new_a = f
        .store
        .issue(&IssueRequest::session("alice").tenant("acme"))
        .unwrap();

    let before = f.store.commits();
    f.store
        .revoke_issued_before(RevokeScope::Subject("alice".into()), cut)
        .unwrap();
    assert_eq!(f.store.commits(), before + 1);
    assert_eq!(
        rejection(&f.store, old_a.token.as_str()),
        Some(Rejection::Revoked)
    );
    assert!(f.store.verify(new_a.token.as_str()).unwrap().is_valid());
    assert!(f.store.verify(old_b.token.as_str()).unwrap().is_valid());
    assert_eq!(f.store.list_subject("alice").unwrap().len(), 1);

    f.store
        .revoke_issued_before(RevokeScope::Tenant("acme".into()), cut)
        .unwrap();
    assert_eq!(
        rejection(&f.store, old_b.token.as_str()),
        Some(Rejection::Revoked)
    );
    assert!(f.store.verify(old_key.token.as_str()).unwrap().is_valid());
    f.store
        .revoke_issued_before(RevokeScope::Store, cut)
        .unwrap();
    assert_eq!(
        rejection(&f.store, old_key.token.as_str()),
        Some(Rejection::Revoked)
    );
    assert!(f.store.verify(new_a.token.as_str()).unwrap().is_valid());

    // Epochs survive a reopen: what they killed is still dead before the purge removes it.
    let (path, opts) = (f.path(), f.options());
    drop(f.store);
    let store = Store::open(&path, opts.clone()).unwrap();
    for old in [&old_a, &old_b, &old_key] {
        assert_eq!(
            rejection(&store, old.token.as_str()),
            Some(Rejection::Revoked)
        );
    }
    assert!(store.verify(new_a.token.as_str()).unwrap().is_valid());
    assert_eq!(store.stats().unwrap().all.live, 1);

    // The dead rows are reclaimed by the purge; the survivor stays.
    assert_eq!(store.purge_expired().unwrap(), 3);
    assert_eq!(store.get(old_a.record.id).unwrap(), None);
    assert_eq!(store.get(old_key.record.id).unwrap(), None);
    assert!(store.verify(new_a.token.as_str()).unwrap().is_valid());
}

/// "Sign out everywhere after a password change" reaches the sessions rotated after the change
/// too: a later generation continues the session its first one began (whoever held the old
/// token rotated it). A rolled API key is a new key, and a cutoff before the roll spares it.
#[test]
fn a_cutoff_judges_a_rotated_session_by_its_first_generation() {
    let f = fixture();
    let first = f.store.issue(&IssueRequest::session("ann")).unwrap();
    let key = f
        .store
        .issue(&IssueRequest::api_key("acme").subject("ann"))
        .unwrap();
    f.clock.advance(MINUTE);
    let cut = f.store.now();
    f.clock.advance(MINUTE);
    let second = f.store.rotate(first.token.as_str()).unwrap();
    assert_eq!(
        second.record.family_created_at,
        Some(first.record.created_at)
    );
    f.clock.advance(MINUTE);
    let third = f.store.rotate(second.token.as_str()).unwrap();
    assert_eq!(
        third.record.family_created_at,
        Some(first.record.created_at)
    );
    let rolled = f.store.roll(key.record.id, HOUR).unwrap();
    assert_eq!(rolled.record.family_created_at, None);
    let later = f.store.issue(&IssueRequest::session("ann")).unwrap();
    f.store
        .revoke_issued_before(RevokeScope::Subject("ann".into()), cut)
        .unwrap();
    assert_eq!(
        rejection(&f.store, third.token.as_str()),
        Some(Rejection::Revoked)
    );
    assert!(f.store.verify(later.token.as_str()).unwrap().is_valid());
    assert!(f.store.verify(rolled.token.as_str()).unwrap().is_valid());
    assert_eq!(
        rejection(&f.store, key.token.as_str()),
        Some(Rejection::Revoked)
    );
    // The first generation presented now is dead through the cutoff, not reuse.
    assert_eq!(
        rejection(&f.store, first.token.as_str()),
        Some(Rejection::Revoked)
    );
    // The rule survives a reopen (the field is stored).
    let (path, opts) = (f.path(), f.options());
    drop(f.store);
    let store = Store::open(&path, opts).unwrap();
    assert_eq!(
        store
            .get(third.record.id)
            .unwrap()
            .unwrap()
            .family_created_at,
        Some(first.record.created_at)
    );
    assert_eq!(
        rejection(&store, third.token.as_str()),
        Some(Rejection::Revoked)
    );
    // The purge's cleanup of the cutoff goes by the same rule: the three generations and the
    // old key go, the later session and the rolled key stay.
    assert_eq!(store.purge_expired().unwrap(), 4);
    assert_eq!(
        rejection(&store, third.token.as_str()),
        Some(Rejection::Unknown)
    );
    assert!(store.verify(later.token.as_str()).unwrap().is_valid());
    assert!(store.verify(rolled.token.as_str()).unwrap().is_valid());
}

#[test]
fn the_audit_feed_records_every_change_with_ids_and_reads_from_a_cursor() {
    let f = fixture();
    let t = f
        .store
        .issue(&IssueRequest::session("alice").ttl(HOUR))
        .unwrap();
    f.store.renew(&t.token, 2 * HOUR).unwrap();
    let next = f.store.rotate(t.token.as_str()).unwrap();
    // Logging out with the new token ends the session: the old one, inside its grace window,
    // is revoked with it.
    assert_eq!(f.store.revoke(&next.token).unwrap(), 2);
    f.store
        .revoke_issued_before(RevokeScope::Tenant("acme".into()), f.store.now())
        .unwrap();
    // Past the tombstones' retention (7 days by default).
    f.clock.advance(8 * DAY);
    f.store.purge_expired().unwrap();
    let events = f.store.events(0, 100).unwrap();
    let kinds: Vec<_> = events.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        vec![
            EventKind::Issued,
            EventKind::Renewed,
            EventKind::Issued,
            EventKind::Rotated,
            EventKind::Revoked,
            EventKind::Revoked,
            EventKind::RevokedBefore,
            EventKind::Purged,
        ]
    );
    assert_eq!(events[0].token, Some(t.record.id));
    assert_eq!(events[4].token, Some(next.record.id));
    assert_eq!(events[4].reason, Some(RevokeReason::Logout));
    assert_eq!(events[5].token, Some(t.record.id));
    assert_eq!(events[6].scope.as_deref(), Some("tenant:acme"));
    assert_eq!(events[7].count, 2);
    let rest = f.store.events(events[3].seq, 100).unwrap();
    assert_eq!(rest.len(), 4);
    assert!(!format!("{events:?}").contains(&t.token.as_str()[26..]));
}

#[test]
fn the_audit_feed_keeps_only_its_retention() {
    let f = fixture_with(|o| {
        o.event_retention(300)
            .durability(tessera::IssueDurability::Eventual)
    });
    for i in 0..1000 {
        f.store
            .issue(&IssueRequest::session(format!("u{i}")))
            .unwrap();
    }
    let events = f.store.events(0, 10_000).unwrap();
    assert!(events.len() <= 300 + 256, "{} events kept", events.len());
    assert_eq!(events.last().map(|e| e.seq), Some(1000));
}

#[test]
fn a_write_that_fails_between_others_loses_none_of_them() {
    // Journaled writes share one open write transaction until a checkpoint; a failing write
    // drops it, and the writes before it must come back in the next one, for verify, for
    // listings and after a reopen.
    let mut f = fixture();
    let a = f.store.issue(&IssueRequest::session("a")).unwrap();
    let parent = f.store.issue(&IssueRequest::session("p")).unwrap();
    assert_eq!(f.store.revoke(parent.record.id).unwrap(), 1);
    let b = f.store.issue(&IssueRequest::session("b")).unwrap();
    let failed = f
        .store
        .issue_child(parent.token.as_str(), &IssueRequest::session("c"));
    assert!(
        matches!(failed, Err(Error::Rejected(Rejection::Revoked))),
        "{failed:?}"
    );
    let c = f.store.issue(&IssueRequest::session("c")).unwrap();
    for round in 0..2 {
        for t in [&a, &b, &c] {
            assert!(
                f.store.verify(t.token.as_str()).unwrap().is_valid(),
                "round {round}"
            );
        }
        assert_eq!(
            rejection(&f.store, parent.token.as_str()),
            Some(Rejection::Revoked)
        );
        assert_eq!(f.store.list_subject("c").unwrap().len(), 1, "round {round}");
        assert!(f.store.children(parent.record.id).unwrap().is_empty());
        let (path, opts) = (f.path(), f.options());
        drop(f.store);
        f.store = Store::open(path, opts).unwrap();
    }
}

#[test]
fn a_rotated_token_past_its_grace_window_cannot_issue_children_or_be_renewed() {
    let f = fixture_with(|o| o.rotation_grace(MINUTE));
    let old = f
        .store
        .issue(&IssueRequest::session("alice").ttl(DAY))
        .unwrap();
    let new = f.store.rotate(old.token.as_str()).unwrap();
    // Inside the grace window the old token still acts (a request racing the rotation).
    assert!(f
        .store
        .issue_child(&old.token, &IssueRequest::session("alice").ttl(HOUR))
        .is_ok());
    f.clock.advance(2 * MINUTE);
    // After it, presenting the old token anywhere is a reuse: the family is revoked.
    let child = f
        .store
        .issue_child(&old.token, &IssueRequest::session("alice").ttl(HOUR));
    assert_eq!(
        child.map(|c| c.clamped).unwrap_err(),
        Error::Rejected(Rejection::ReuseDetected)
    );
    assert_eq!(
        rejection(&f.store, new.token.as_str()),
        Some(Rejection::Revoked)
    );
    assert_eq!(f.store.list_subject("alice").unwrap(), vec![]);

    let old = f
        .store
        .issue(&IssueRequest::session("bob").ttl(DAY))
        .unwrap();
    let new = f.store.rotate(old.token.as_str()).unwrap();
    // By id (an operator, no secret presented): refused, nothing revoked.
    f.clock.advance(2 * MINUTE);
    assert!(matches!(
        f.store.renew(old.record.id, HOUR),
        Err(Error::InvalidArgument(_))
    ));
    assert!(f.store.verify(new.token.as_str()).unwrap().is_valid());
    assert_eq!(
        f.store.renew(&old.token, HOUR).map(|r| r.capped),
        Err(Error::Rejected(Rejection::ReuseDetected))
    );
    assert_eq!(
        rejection(&f.store, new.token.as_str()),
        Some(Rejection::Revoked)
    );
}

#[test]
fn a_limited_use_parent_spends_a_use_on_each_child() {
    let f = fixture();
    let link = f
        .store
        .issue(&IssueRequest::session("alice").ttl(HOUR).max_uses(1))
        .unwrap();
    let session = f
        .store
        .issue_child(&link.token, &IssueRequest::session("alice").ttl(DAY))
        .unwrap();
    assert!(f
        .store
        .verify(session.issued.token.as_str())
        .unwrap()
        .is_valid());
    assert_eq!(
        f.store
            .issue_child(&link.token, &IssueRequest::session("alice"))
            .map(|c| c.clamped),
        Err(Error::Rejected(Rejection::Exhausted))
    );
    assert_eq!(
        rejection(&f.store, link.token.as_str()),
        Some(Rejection::Exhausted)
    );
    assert_eq!(f.store.get(link.record.id).unwrap().unwrap().uses, 1);
}

#[test]
fn a_limited_use_token_is_neither_rotated_nor_rolled() {
    let f = fixture();
    let once = f
        .store
        .issue(&IssueRequest::session("alice").max_uses(1))
        .unwrap();
    assert!(matches!(
        f.store.rotate(once.token.as_str()),
        Err(Error::InvalidArgument(_))
    ));
    let key = f
        .store
        .issue(&IssueRequest::api_key("acme").max_uses(2))
        .unwrap();
    assert!(matches!(
        f.store.roll(&key.token, HOUR),
        Err(Error::InvalidArgument(_))
    ));
    // Their uses stay exactly what they were given.
    assert!(f.store.verify(once.token.as_str()).unwrap().is_valid());
    assert_eq!(
        rejection(&f.store, once.token.as_str()),
        Some(Rejection::Exhausted)
    );
}

#[test]
fn a_rotated_child_never_outlives_its_parent() {
    let f = fixture();
    let parent = f
        .store
        .issue(&IssueRequest::session("admin").ttl(2 * HOUR))
        .unwrap();
    let child = f
        .store
        .issue_child(&parent.token, &IssueRequest::session("admin").ttl(2 * HOUR))
        .unwrap();
    f.clock.advance(HOUR);
    let next = f.store.rotate(child.issued.token.as_str()).unwrap();
    assert_eq!(next.record.expires_at, parent.record.expires_at);
    assert_eq!(next.record.parent, Some(parent.record.id));
    f.clock.advance(HOUR);
    assert_eq!(
        rejection(&f.store, next.token.as_str()),
        Some(Rejection::Expired)
    );
}

#[test]
fn a_rolled_key_is_not_renewed_past_the_grace_its_roll_gave_it() {
    let f = fixture();
    let key = f
        .store
        .issue(&IssueRequest::api_key("acme").ttl(30 * DAY))
        .unwrap();
    let new = f.store.roll(&key.token, HOUR).unwrap();
    assert!(matches!(
        f.store.renew(&key.token, 30 * DAY),
        Err(Error::InvalidArgument(_))
    ));
    f.clock.advance(2 * HOUR);
    assert_eq!(
        rejection(&f.store, key.token.as_str()),
        Some(Rejection::Expired)
    );
    assert!(f.store.verify(new.token.as_str()).unwrap().is_valid());
}

#[test]
fn revoking_what_was_issued_before_an_instant_kills_the_children_too() {
    let f = fixture();
    let (admin, child) = admin_and_child(&f, DAY);
    let grandchild = f
        .store
        .issue_child(
            &child.issued.token,
            &IssueRequest::session("admin@bb").tenant("37002").ttl(DAY),
        )
        .unwrap();
    let other = f
        .store
        .issue(&IssueRequest::session("clerk").tenant("37001").ttl(DAY))
        .unwrap();
    f.clock.advance(MINUTE);
    f.store
        .revoke_issued_before(RevokeScope::Tenant("37000".into()), f.store.now())
        .unwrap();
    for t in [&admin.token, &child.issued.token, &grandchild.issued.token] {
        assert_eq!(rejection(&f.store, t.as_str()), Some(Rejection::Revoked));
    }
    assert!(matches!(
        f.store
            .issue_child(&child.issued.token, &IssueRequest::session("x"))
            .map(|c| c.clamped),
        Err(Error::Rejected(Rejection::Revoked))
    ));
    assert_eq!(f.store.list_tenant("37001", None).unwrap().len(), 1);
    // The purge removes the killed token with its line, so that nothing outlives the link.
    assert_eq!(f.store.purge_expired().unwrap(), 3);
    for t in [&admin.token, &child.issued.token, &grandchild.issued.token] {
        assert_eq!(rejection(&f.store, t.as_str()), Some(Rejection::Unknown));
    }
    assert!(f.store.verify(other.token.as_str()).unwrap().is_valid());
    // And after a reopen.
    let (path, opts) = (f.path(), f.options());
    drop(f.store);
    let store = Store::open(path, opts).unwrap();
    assert!(store.verify(other.token.as_str()).unwrap().is_valid());
    assert_eq!(store.stats().unwrap().all.total(), 1);
}

/// A child session for another tenant, rotated, whose parent an epoch of the parent's tenant
/// killed: the rotated-out generation answers "revoked" (through its line) before the purge,
/// and after it too, once the parent and the newest generation are gone and it stays for its
/// retention. It answered "reuse" then, a false alarm, since the line that told it was gone.
#[test]
fn a_rotated_out_child_killed_through_its_parent_stays_revoked_after_the_purge() {
    let f = fixture_with(|o| o.rotation_grace(MINUTE));
    let (admin, child) = admin_and_child(&f, DAY);
    let rotated = f.store.rotate(child.issued.token.as_str()).unwrap();
    f.clock.advance(2 * MINUTE);
    f.store
        .revoke_issued_before(RevokeScope::Tenant("37000".into()), f.store.now())
        .unwrap();
    for t in [&admin.token, &child.issued.token, &rotated.token] {
        assert_eq!(rejection(&f.store, t.as_str()), Some(Rejection::Revoked));
    }
    // The parent and the newest generation go; the rotated-out one stays for its retention.
    assert_eq!(f.store.purge_expired().unwrap(), 2);
    let kept = f.store.get(child.issued.record.id).unwrap().unwrap();
    assert_eq!(
        kept.revoked.map(|r| r.reason),
        Some(tessera::RevokeReason::Cascade)
    );
    assert_eq!(
        rejection(&f.store, child.issued.token.as_str()),
        Some(Rejection::Revoked)
    );
    for t in [&admin.token, &rotated.token] {
        assert_eq!(rejection(&f.store, t.as_str()), Some(Rejection::Unknown));
    }
}

/// Rotated-out children that an epoch kills themselves (the parent's tenant) go with the
/// epoch's cleanup, whichever of parent and child the purge reaches first (ids within one
/// second are random): every family's three tokens, each time.
#[test]
fn rotated_out_children_an_epoch_kills_themselves_go_whatever_the_id_order() {
    let f = fixture_with(|o| o.rotation_grace(MINUTE));
    let rotated: Vec<tessera::Issued> = (0..12)
        .map(|i| {
            let admin = f
                .store
                .issue(&IssueRequest::session(format!("admin{i}")).tenant("acme"))
                .unwrap();
            let child = f
                .store
                .issue_child(
                    &admin.token,
                    &IssueRequest::session(format!("admin{i}")).tenant("acme"),
                )
                .unwrap();
            f.store.rotate(child.issued.token.as_str()).unwrap();
            child.issued
        })
        .collect();
    f.clock.advance(2 * MINUTE);
    f.store
        .revoke_issued_before(RevokeScope::Tenant("acme".into()), f.store.now())
        .unwrap();
    assert_eq!(f.store.purge_expired().unwrap(), 36);
    for t in &rotated {
        assert_eq!(
            rejection(&f.store, t.token.as_str()),
            Some(Rejection::Unknown)
        );
    }
}

/// A rotated-out child past its own idle deadline, kept only for its rotated-out retention,
/// whose parent an epoch killed: revoked then, it keeps that deadline as any token revoked
/// past it does, and goes with the parent. It never answers "reuse".
#[test]
fn a_rotated_out_child_past_its_deadline_goes_with_its_killed_parent() {
    let f = fixture_with(|o| o.rotation_grace(MINUTE));
    let (admin, child) = admin_and_child(&f, DAY);
    let old = f
        .store
        .issue_child(
            &admin.token,
            &IssueRequest::session("admin@bb")
                .tenant("37001")
                .idle_timeout(30 * MINUTE),
        )
        .unwrap()
        .issued;
    let new = f.store.rotate(old.token.as_str()).unwrap();
    for _ in 0..12 {
        f.clock.advance(10 * MINUTE);
        assert!(f.store.verify(new.token.as_str()).unwrap().is_valid());
    }
    f.store
        .revoke_issued_before(RevokeScope::Tenant("37000".into()), f.store.now())
        .unwrap();
    // The parent, its two children and the newest generation; the old one with them.
    assert_eq!(f.store.purge_expired().unwrap(), 4);
    for t in [&admin, &child.issued, &old, &new] {
        assert_eq!(
            rejection(&f.store, t.token.as_str()),
            Some(Rejection::Unknown)
        );
    }
}

#[test]
fn logging_out_with_either_generation_ends_a_rotated_session() {
    let f = fixture_with(|o| o.rotation_grace(MINUTE));
    let t1 = f
        .store
        .issue(&IssueRequest::session("alice").ttl(DAY))
        .unwrap();
    let t2 = f.store.rotate(t1.token.as_str()).unwrap();
    let t3 = f.store.rotate(t2.token.as_str()).unwrap();
    // The client's answer was lost: it logs out with the token it still has.
    assert_eq!(f.store.revoke(&t2.token).unwrap(), 3);
    for t in [&t1.token, &t2.token, &t3.token] {
        assert_eq!(rejection(&f.store, t.as_str()), Some(Rejection::Revoked));
    }
    let u1 = f
        .store
        .issue(&IssueRequest::session("bob").ttl(DAY))
        .unwrap();
    let u2 = f.store.rotate(u1.token.as_str()).unwrap();
    assert_eq!(f.store.revoke(u2.record.id).unwrap(), 2);
    assert_eq!(
        rejection(&f.store, u1.token.as_str()),
        Some(Rejection::Revoked)
    );
    // A rolled key's generations stay apart: cutting the old key's grace short keeps the new.
    let k1 = f
        .store
        .issue(&IssueRequest::api_key("acme").ttl(DAY))
        .unwrap();
    let k2 = f.store.roll(&k1.token, HOUR).unwrap();
    assert_eq!(f.store.revoke(&k1.token).unwrap(), 1);
    assert!(f.store.verify(k2.token.as_str()).unwrap().is_valid());
}

#[test]
fn a_session_rotated_past_its_grace_is_listed_and_counted_once() {
    let f = fixture_with(|o| o.rotation_grace(MINUTE));
    let t1 = f
        .store
        .issue(&IssueRequest::session("alice").ttl(DAY))
        .unwrap();
    let t2 = f.store.rotate(t1.token.as_str()).unwrap();
    // Inside the grace window both generations still verify: both are live.
    assert_eq!(f.store.list_subject("alice").unwrap().len(), 2);
    f.clock.advance(MINUTE + Duration::from_secs(1));
    let listed = f.subject_ids("alice");
    assert_eq!(listed, vec![t2.record.id], "one device, one session");
    assert_eq!(
        f.store.state(t1.record.id).unwrap(),
        Some(TokenState::Expired)
    );
    assert_eq!(f.store.state(t2.record.id).unwrap(), Some(TokenState::Live));
    let all = f.store.stats().unwrap().all;
    assert_eq!((all.live, all.expired), (1, 1));
    // Reading the state counted nothing: presenting the old generation is still a reuse.
    assert_eq!(
        rejection(&f.store, t1.token.as_str()),
        Some(Rejection::ReuseDetected)
    );
}

/// A store with a one-minute rotation grace and two sessions of alice: her phone's, then her
/// laptop's.
fn alice_on_two_devices() -> (Fixture, Issued, Issued) {
    let f = fixture_with(|o| o.rotation_grace(MINUTE));
    let session = || {
        f.store
            .issue(&IssueRequest::session("alice").ttl(DAY))
            .unwrap()
    };
    let (phone, laptop) = (session(), session());
    (f, phone, laptop)
}

#[test]
fn logging_out_other_devices_from_the_previous_generation_keeps_the_session() {
    let (f, phone, laptop) = alice_on_two_devices();
    let rotated = f.store.rotate(phone.token.as_str()).unwrap();
    // A request still carrying the previous generation, inside the grace window.
    assert_eq!(
        f.store
            .revoke_subject("alice", Some(phone.record.id))
            .unwrap(),
        1
    );
    for t in [&phone.token, &rotated.token] {
        assert!(f.store.verify(t.as_str()).unwrap().is_valid());
    }
    assert_eq!(
        rejection(&f.store, laptop.token.as_str()),
        Some(Rejection::Revoked)
    );
}

/// "Log out my other devices" from the newest generation: the previous one, still inside its
/// grace window, is carried by requests in flight from the same device and keeps working.
#[test]
fn logging_out_other_devices_from_the_newest_generation_keeps_the_one_in_grace() {
    let (f, phone, laptop) = alice_on_two_devices();
    // Rotated twice: the first generation's window is over, the second's is not.
    let second = f.store.rotate(phone.token.as_str()).unwrap();
    f.clock.advance(2 * MINUTE);
    let third = f.store.rotate(second.token.as_str()).unwrap();
    assert_eq!(
        f.store
            .revoke_subject("alice", Some(third.record.id))
            .unwrap(),
        2
    );
    for t in [&second.token, &third.token] {
        assert!(f.store.verify(t.as_str()).unwrap().is_valid());
    }
    for t in [&laptop.token, &phone.token] {
        assert_eq!(rejection(&f.store, t.as_str()), Some(Rejection::Revoked));
    }
}

/// The text of the same id and secret under another prefix, with its check digits computed
/// again (what someone who edits a token would do).
fn under_prefix(text: &str, prefix: &str) -> String {
    let parts = forge::parts(text);
    forge::forge(prefix, &parts.id, &parts.secret)
}

#[test]
fn a_token_under_the_other_kind_s_prefix_is_rejected() {
    let f = fixture();
    let session = f.store.issue(&IssueRequest::session("alice")).unwrap();
    let key = f.store.issue(&IssueRequest::api_key("acme")).unwrap();
    // The helper forms the texts the store issued from their own prefixes.
    assert_eq!(
        under_prefix(session.token.as_str(), "tss"),
        session.token.as_str()
    );
    assert_eq!(under_prefix(key.token.as_str(), "tsk"), key.token.as_str());
    let forged = [
        under_prefix(session.token.as_str(), "tsk"),
        under_prefix(key.token.as_str(), "tss"),
    ];
    for text in &forged {
        assert_eq!(
            rejection(&f.store, text),
            Some(Rejection::Malformed(tessera::MalformedReason::Prefix))
        );
        assert_eq!(
            f.store.revoke(text.as_str()),
            Err(Error::Rejected(Rejection::Malformed(
                tessera::MalformedReason::Prefix
            )))
        );
    }
    assert!(matches!(
        f.store.rotate(&forged[0]),
        Err(Error::Rejected(Rejection::Malformed(_)))
    ));
    assert!(f.store.verify(session.token.as_str()).unwrap().is_valid());
    assert!(f.store.verify(key.token.as_str()).unwrap().is_valid());
}

#[test]
fn the_purge_removes_a_killed_line_whose_tokens_are_due_together() {
    let f = fixture();
    // No expiry, idle timeouts only: the parent and its child fall due in the same purge batch.
    let idle = |req: IssueRequest| lasting(req).idle_timeout(HOUR);
    let p = f
        .store
        .issue(&idle(IssueRequest::session("admin").tenant("a")))
        .unwrap();
    let c = f
        .store
        .issue_child(&p.token, &idle(IssueRequest::session("admin").tenant("b")))
        .unwrap();
    let g = f
        .store
        .issue_child(&c.issued.token, &lasting(IssueRequest::api_key("b")))
        .unwrap();
    f.clock.advance(MINUTE);
    f.store
        .revoke_issued_before(RevokeScope::Tenant("a".into()), f.store.now())
        .unwrap();
    assert_eq!(
        rejection(&f.store, g.issued.token.as_str()),
        Some(Rejection::Revoked)
    );
    f.clock.advance(2 * HOUR);
    assert_eq!(f.store.purge_expired().unwrap(), 3);
    assert_eq!(
        rejection(&f.store, g.issued.token.as_str()),
        Some(Rejection::Unknown)
    );
}

#[test]
fn the_store_wide_cleanup_goes_on_where_a_line_stopped_it() {
    let f = fixture_with(|o| o.purge_batch(3));
    let issue = |subject: &str| {
        let t = f
            .store
            .issue(&IssueRequest::session(subject).never_expires())
            .unwrap();
        f.clock.advance(Duration::from_secs(1));
        t
    };
    let a = issue("a");
    let (b, c) = (issue("b"), issue("c"));
    for _ in 0..2 {
        f.store
            .issue_child(&a.token, &IssueRequest::session("a"))
            .unwrap();
    }
    f.clock.advance(MINUTE);
    f.store
        .revoke_issued_before(RevokeScope::Store, f.store.now())
        .unwrap();
    // a and its two children fill the first batch; b and c come in the next.
    assert_eq!(f.store.purge_expired().unwrap(), 5);
    for t in [&a, &b, &c] {
        assert_eq!(
            rejection(&f.store, t.token.as_str()),
            Some(Rejection::Unknown)
        );
    }
    assert_eq!(f.store.stats().unwrap().all.total(), 0);
}

#[test]
fn ending_a_session_ends_its_previous_generation_after_the_first_were_purged() {
    // A rotated-out generation is purged once the retention past its expiry is over.
    let f = fixture_with(|o| o.rotation_grace(MINUTE).revoked_retention(MINUTE));
    let t1 = f
        .store
        .issue(&IssueRequest::session("alice").ttl(10 * MINUTE))
        .unwrap();
    f.clock.advance(5 * MINUTE);
    let t2 = f.store.rotate(t1.token.as_str()).unwrap();
    let child = f
        .store
        .issue_child(&t2.token, &IssueRequest::api_key("acme").ttl(HOUR))
        .unwrap();
    f.clock.advance(6 * MINUTE);
    // t1 expired: the purge removes it, and with it the family's first generation.
    assert_eq!(f.store.purge_expired().unwrap(), 1);
    let t3 = f.store.rotate(t2.token.as_str()).unwrap();
    assert!(f.store.verify(t2.token.as_str()).unwrap().is_valid());
    // The logout reaches t2 (the family starts there now) and its child.
    assert_eq!(f.store.revoke(&t3.token).unwrap(), 3);
    assert_eq!(
        rejection(&f.store, child.issued.token.as_str()),
        Some(Rejection::Revoked)
    );
    // t2 is inside its grace window, and its successor is revoked: the session is over.
    assert_eq!(
        rejection(&f.store, t2.token.as_str()),
        Some(Rejection::Revoked)
    );
    assert!(matches!(
        f.store
            .issue_child(&t2.token, &IssueRequest::session("alice"))
            .map(|c| c.clamped),
        Err(Error::Rejected(Rejection::Revoked))
    ));
}

#[test]
fn the_children_of_a_rolled_key_end_with_its_grace() {
    let f = fixture();
    let key = f
        .store
        .issue(&IssueRequest::api_key("acme").never_expires())
        .unwrap();
    let child = f
        .store
        .issue_child(&key.token, &IssueRequest::api_key("acme").never_expires())
        .unwrap();
    let new = f.store.roll(&key.token, HOUR).unwrap();
    assert!(f
        .store
        .verify(child.issued.token.as_str())
        .unwrap()
        .is_valid());
    f.clock.advance(2 * HOUR);
    assert_eq!(
        rejection(&f.store, child.issued.token.as_str()),
        Some(Rejection::Expired)
    );
    // The purge takes the old key and its child with it.
    assert_eq!(f.store.purge_expired().unwrap(), 2);
    assert_eq!(
        rejection(&f.store, child.issued.token.as_str()),
        Some(Rejection::Unknown)
    );
    assert!(f.store.verify(new.token.as_str()).unwrap().is_valid());
}

#[test]
fn an_idle_parent_leaves_its_children_to_their_own_use() {
    let f = fixture();
    let parent = f
        .store
        .issue(&lasting(IssueRequest::session("admin")).idle_timeout(HOUR))
        .unwrap();
    let child = f
        .store
        .issue_child(
            &parent.token,
            &lasting(IssueRequest::session("admin").tenant("b")).idle_timeout(HOUR),
        )
        .unwrap();
    for _ in 0..3 {
        f.clock.advance(HOUR / 2);
        assert!(f
            .store
            .verify(child.issued.token.as_str())
            .unwrap()
            .is_valid());
    }
    assert_eq!(
        rejection(&f.store, parent.token.as_str()),
        Some(Rejection::Idle)
    );
    assert_eq!(f.store.purge_expired().unwrap(), 1);
    assert!(f
        .store
        .verify(child.issued.token.as_str())
        .unwrap()
        .is_valid());
}

#[test]
fn a_revoked_ancestor_says_revoked_above_an_expired_one() {
    let f = fixture();
    let root = f
        .store
        .issue(&IssueRequest::session("root").never_expires())
        .unwrap();
    let middle = f
        .store
        .issue_child(&root.token, &IssueRequest::session("middle").ttl(MINUTE))
        .unwrap();
    let leaf = f
        .store
        .issue_child(&middle.issued.token, &IssueRequest::session("leaf"))
        .unwrap();
    f.clock.advance(2 * MINUTE);
    assert_eq!(
        rejection(&f.store, leaf.issued.token.as_str()),
        Some(Rejection::Expired)
    );
    f.store
        .revoke_issued_before(RevokeScope::Subject("root".into()), f.store.now())
        .unwrap();
    assert_eq!(
        rejection(&f.store, leaf.issued.token.as_str()),
        Some(Rejection::Revoked)
    );
}

/// A rotated-out generation is purged once the retention past its idle deadline is over; its
/// children, issued before the rotation and still in use, were deleted with it (the purge took
/// the parent's retention for its death). They are handed down as an idle parent's are.
#[test]
fn the_children_of_a_purged_rotated_out_generation_live_on() {
    let f = fixture_with(|o| o.revoked_retention(DAY));
    let parent = f
        .store
        .issue(&lasting(IssueRequest::session("dana")).idle_timeout(HOUR))
        .unwrap();
    let child = f
        .store
        .issue_child(&parent.token, &lasting(IssueRequest::session("dana")))
        .unwrap();
    let next = f.store.rotate(parent.token.as_str()).unwrap();
    // The session goes on (its idle timeout is an hour): 26 hours of use.
    in_use_for_26_hours(&f, &[&child.issued, &next]);
    // Past the parent's idle deadline and the retention after it: the parent goes, alone.
    assert_eq!(f.store.purge_expired().unwrap(), 1);
    assert_eq!(f.store.get(parent.record.id).unwrap(), None);
    assert!(f
        .store
        .verify(child.issued.token.as_str())
        .unwrap()
        .is_valid());
    assert!(f.store.verify(next.token.as_str()).unwrap().is_valid());
    assert_eq!(f.store.list_subject("dana").unwrap().len(), 2);
    // The session has it now: a logout with its newest token revokes it.
    let held = f.store.get(child.issued.record.id).unwrap().unwrap();
    assert_eq!(held.parent, Some(next.record.id));
    assert_eq!(f.store.revoke(next.token.as_str()).unwrap(), 2);
    assert_eq!(
        rejection(&f.store, child.issued.token.as_str()),
        Some(Rejection::Revoked)
    );
}

/// A session that never expires, rotated: the first generation is purged once the retention
/// past its grace window is over, and the child issued from it belongs to the session, whose
/// logout (with its newest token) revokes it, as before the purge.
#[test]
fn a_logout_revokes_the_children_of_a_purged_generation_of_the_session() {
    let f = fixture_with(|o| o.rotation_grace(MINUTE).revoked_retention(DAY));
    let first = f
        .store
        .issue(&lasting(IssueRequest::session("dana")))
        .unwrap();
    let child = f
        .store
        .issue_child(
            &first.token,
            &lasting(IssueRequest::session("bob").tenant("other")),
        )
        .unwrap();
    let second = f.store.rotate(first.token.as_str()).unwrap();
    let newest = f.store.rotate(second.token.as_str()).unwrap();
    f.clock.advance(DAY + HOUR);
    // The first two generations go; the child stays, with the session.
    assert_eq!(f.store.purge_expired().unwrap(), 2);
    assert_eq!(f.store.get(first.record.id).unwrap(), None);
    assert!(f
        .store
        .verify(child.issued.token.as_str())
        .unwrap()
        .is_valid());
    assert_eq!(
        f.store.get(child.issued.record.id).unwrap().unwrap().parent,
        Some(newest.record.id)
    );
    f.store.revoke(newest.token.as_str()).unwrap();
    assert_eq!(
        rejection(&f.store, child.issued.token.as_str()),
        Some(Rejection::Revoked)
    );
}

/// Keeps `tokens` in use (a verify every half hour, flushed) for 26 hours: past an hour's idle
/// timeout and a day's retention of anything not in use.
fn in_use_for_26_hours(f: &Fixture, tokens: &[&tessera::Issued]) {
    for _ in 0..52 {
        f.clock.advance(HOUR / 2);
        for t in tokens {
            assert!(f.store.verify(t.token.as_str()).unwrap().is_valid());
        }
        f.store.flush().unwrap();
    }
}

/// A session, its child and the grandchild, the first two idle and purged in one batch after
/// the session was rotated: the grandchild goes to the session (its newest generation), whose
/// logout revokes it, as it did before the purge.
#[test]
fn a_grandchild_goes_to_the_session_when_its_idle_parents_go_in_one_batch() {
    let f = fixture_with(|o| o.revoked_retention(DAY));
    let idle = |r: IssueRequest| lasting(r).idle_timeout(HOUR);
    let parent = f.store.issue(&idle(IssueRequest::session("dana"))).unwrap();
    let child = f
        .store
        .issue_child(&parent.token, &idle(IssueRequest::session("dana")))
        .unwrap();
    let grandchild = f
        .store
        .issue_child(&child.issued.token, &lasting(IssueRequest::session("dana")))
        .unwrap();
    let next = f.store.rotate(parent.token.as_str()).unwrap();
    in_use_for_26_hours(&f, &[&next, &grandchild.issued]);
    assert_eq!(f.store.purge_expired().unwrap(), 2);
    assert_eq!(
        f.store
            .get(grandchild.issued.record.id)
            .unwrap()
            .unwrap()
            .parent,
        Some(next.record.id)
    );
    f.store.revoke(next.token.as_str()).unwrap();
    assert_eq!(
        rejection(&f.store, grandchild.issued.token.as_str()),
        Some(Rejection::Revoked)
    );
}

/// A rolled key is a new key: revoking it leaves the old key's children, before the old key is
/// purged (idle, inside its grace window) and after.
#[test]
fn the_children_of_a_purged_rolled_key_do_not_go_to_the_new_key() {
    let f = fixture_with(|o| o.revoked_retention(DAY));
    let key = f
        .store
        .issue(&IssueRequest::api_key("acme").idle_timeout(HOUR))
        .unwrap();
    let child = f
        .store
        .issue_child(&key.token, &lasting(IssueRequest::session("dana")))
        .unwrap();
    let rolled = f.store.roll(key.token.as_str(), 3 * DAY).unwrap();
    in_use_for_26_hours(&f, &[&rolled, &child.issued]);
    assert_eq!(f.store.purge_expired().unwrap(), 1);
    assert_eq!(f.store.get(key.record.id).unwrap(), None);
    assert_eq!(
        f.store.get(child.issued.record.id).unwrap().unwrap().parent,
        None
    );
    f.store.revoke(rolled.token.as_str()).unwrap();
    assert!(f
        .store
        .verify(child.issued.token.as_str())
        .unwrap()
        .is_valid());
}

/// However many times a thief rotates a stolen session, presenting the stolen generation again
/// revokes the whole family, the newest generation too (a walk along the family has no cap on
/// its length, only a stop for a damaged file's cycle).
#[test]
fn a_reuse_revokes_a_family_of_any_length() {
    let clock = ManualClock::new(start());
    let store =
        Store::in_memory(Options::new().manual_clock(&clock).rotation_grace(MINUTE)).unwrap();
    let stolen = store.issue(&IssueRequest::session("victim")).unwrap();
    let mut newest = store.rotate(stolen.token.as_str()).unwrap();
    for _ in 0..100_001 {
        newest = store.rotate(newest.token.as_str()).unwrap();
    }
    clock.advance(HOUR);
    assert_reuse_revokes(&store, &stolen, &newest);
}

/// A generation rotated out of a session that never expires is purged once the retention past
/// its grace window is over; before, it had no deadline, and every rotation left a row for good.
#[test]
fn a_rotated_out_generation_without_a_deadline_is_purged_after_its_retention() {
    let f = fixture_with(|o| o.rotation_grace(MINUTE).revoked_retention(DAY));
    let first = f
        .store
        .issue(&lasting(IssueRequest::session("erin")))
        .unwrap();
    let second = f.store.rotate(first.token.as_str()).unwrap();
    f.clock.advance(DAY);
    // Inside the retention (presenting it now would be a reuse): kept.
    assert_eq!(f.store.purge_expired().unwrap(), 0);
    let stats = f.store.stats().unwrap();
    assert_eq!((stats.all.total(), stats.due_for_purge), (2, 0));
    f.clock.advance(MINUTE + Duration::from_secs(1));
    assert_eq!(f.store.stats().unwrap().due_for_purge, 1);
    assert_eq!(f.store.purge_expired().unwrap(), 1);
    assert_eq!(f.store.get(first.record.id).unwrap(), None);
    assert_eq!(
        rejection(&f.store, first.token.as_str()),
        Some(Rejection::Unknown)
    );
    assert!(f.store.verify(second.token.as_str()).unwrap().is_valid());
    // The family goes on from the second generation.
    let third = f.store.rotate(second.token.as_str()).unwrap();
    assert_eq!(f.store.revoke(&third.token).unwrap(), 2);
}

/// A session whose first generation was used late in its grace window (a retry) and whose
/// second was rotated at once: the second's purge deadline comes before the first's, by most of
/// a grace window. Purged then, it cut the family's walk: the first, presented again after
/// that, revoked only itself, and the newest generation lived on.
fn late_used_first_generation(f: &Fixture) -> [tessera::Issued; 3] {
    let first = f
        .store
        .issue(&lasting(IssueRequest::session("erin")).idle_timeout(HOUR))
        .unwrap();
    let second = f.store.rotate(first.token.as_str()).unwrap();
    f.clock.advance(Duration::from_secs(1));
    let third = f.store.rotate(second.token.as_str()).unwrap();
    f.clock.advance(Duration::from_secs(49));
    // A retry inside the grace window: a use of the first generation.
    assert!(f.store.verify(first.token.as_str()).unwrap().is_valid());
    f.store.flush().unwrap();
    // Past the second generation's purge deadline (its idle deadline, a day of retention),
    // 25 s before the first one's.
    in_use_for_a_day_and_an_hour(f, &[&third], Duration::from_secs(23));
    [first, second, third]
}

/// Verifies `newest` every half hour (their idle timeout is an hour) for a day and an hour,
/// less `short_of`.
fn in_use_for_a_day_and_an_hour(f: &Fixture, newest: &[&tessera::Issued], short_of: Duration) {
    for step in 0..50 {
        f.clock.advance(if step < 49 {
            30 * MINUTE
        } else {
            30 * MINUTE - short_of
        });
        for t in newest {
            assert!(f.store.verify(t.token.as_str()).unwrap().is_valid());
        }
    }
}

fn fixture_for_late_use() -> Fixture {
    fixture_with(|o| {
        o.rotation_grace(MINUTE)
            .revoked_retention(DAY)
            .flush_interval(Duration::from_secs(1))
    })
}

/// See [`late_used_first_generation`]: the second generation stays while the first is stored,
/// so that the first, presented again, still revokes the newest.
#[test]
fn a_generation_due_before_the_one_it_was_rotated_from_stays_until_that_one_goes() {
    let f = fixture_for_late_use();
    let [first, second, third] = late_used_first_generation(&f);
    assert_eq!(f.store.purge_expired().unwrap(), 0);
    assert!(f.store.get(second.record.id).unwrap().is_some());
    assert_reuse_revokes(&f.store, &first, &third);
}

/// The second generation held back for the first goes in the purge that removes the first.
#[test]
fn a_generation_held_back_for_an_earlier_one_is_purged_with_it() {
    let f = fixture_for_late_use();
    let [first, second, third] = late_used_first_generation(&f);
    assert_eq!(f.store.purge_expired().unwrap(), 0);
    f.clock.advance(MINUTE);
    assert_eq!(f.store.stats().unwrap().due_for_purge, 2);
    assert_eq!(f.store.purge_expired().unwrap(), 2);
    for gone in [&first, &second] {
        assert_eq!(f.store.get(gone.record.id).unwrap(), None);
    }
    assert!(f.store.verify(third.token.as_str()).unwrap().is_valid());
    // The family goes on from the third generation.
    let fourth = f.store.rotate(third.token.as_str()).unwrap();
    assert_eq!(f.store.revoke(&fourth.token).unwrap(), 2);
}

/// Two generations due together, in one purge batch, while the generation they were rotated
/// from is not: both stay. The purge takes a batch's rows out of the table before it judges
/// them, and the walk along the family stopped at the first of them it could not read: the
/// later one was purged whenever its id came first (half the families, the rest of an id
/// being random), and the newest generation outlived a reuse of the first.
#[test]
fn generations_due_in_one_purge_batch_stay_for_the_one_they_were_rotated_from() {
    let f = fixture_for_late_use();
    let families: Vec<(tessera::Issued, tessera::Issued, tessera::Issued)> = (0..20)
        .map(|i| {
            let first = f
                .store
                .issue(&lasting(IssueRequest::session(format!("u{i}"))).idle_timeout(HOUR))
                .unwrap();
            let second = f.store.rotate(first.token.as_str()).unwrap();
            let third = f.store.rotate(second.token.as_str()).unwrap();
            (first, second, third)
        })
        .collect();
    f.clock.advance(Duration::from_secs(1));
    let families: Vec<[tessera::Issued; 4]> = families
        .into_iter()
        .map(|(first, second, third)| {
            let fourth = f.store.rotate(third.token.as_str()).unwrap();
            [first, second, third, fourth]
        })
        .collect();
    f.clock.advance(Duration::from_secs(49));
    for [first, ..] in &families {
        assert!(f.store.verify(first.token.as_str()).unwrap().is_valid());
    }
    f.store.flush().unwrap();
    // Past the second and third generations' deadlines (a day and an hour after their issue,
    // unused), before the first's (used at 50 s); the newest in use meanwhile.
    let newest: Vec<&tessera::Issued> = families.iter().map(|[.., fourth]| fourth).collect();
    in_use_for_a_day_and_an_hour(&f, &newest, Duration::from_secs(20));
    assert_eq!(f.store.purge_expired().unwrap(), 0);
    for [first, .., fourth] in &families {
        assert_reuse_revokes(&f.store, first, fourth);
    }
}

/// A key rolled and then rotated: once the old key is purged (its roll grace over), revoking
/// the newest generation still ends the one rotated out inside its grace window. The purge
/// moved the family's start only along rotations, and left the rolled key's successors naming
/// a first generation that was gone.
#[test]
fn a_rolled_then_rotated_key_stays_one_family_after_the_old_key_is_purged() {
    let f = fixture_with(|o| o.rotation_grace(HOUR));
    let old = f
        .store
        .issue(&lasting(IssueRequest::api_key("acme")))
        .unwrap();
    let rolled = f.store.roll(&old.token, 10 * MINUTE).unwrap();
    let rotated = f.store.rotate(rolled.token.as_str()).unwrap();
    f.clock.advance(11 * MINUTE);
    assert_eq!(f.store.purge_expired().unwrap(), 1);
    assert_eq!(f.store.get(old.record.id).unwrap(), None);
    assert!(f.store.verify(rolled.token.as_str()).unwrap().is_valid());
    assert_eq!(f.store.revoke(&rotated.token).unwrap(), 2);
    assert_eq!(
        rejection(&f.store, rolled.token.as_str()),
        Some(Rejection::Revoked)
    );
}

/// A parent purged for its idle timeout alone leaves its child to its own use, but not past
/// what the parent would have allowed: the child ends when the parent would have expired (a
/// roll's grace here), as it would with the parent still stored.
#[test]
fn a_child_outlives_its_purged_idle_parent_only_within_the_parent_expiry() {
    let f = fixture();
    let key = f
        .store
        .issue(&lasting(IssueRequest::api_key("acme")).idle_timeout(DAY))
        .unwrap();
    let child = f
        .store
        .issue_child(&key.token, &lasting(IssueRequest::api_key("acme")))
        .unwrap();
    let rolled = f.store.roll(&key.token, 7 * DAY).unwrap();
    f.clock.advance(2 * DAY);
    assert_eq!(
        rejection(&f.store, key.token.as_str()),
        Some(Rejection::Idle)
    );
    // The key and its successor (the same idle timeout, unused too).
    assert_eq!(
        rejection(&f.store, rolled.token.as_str()),
        Some(Rejection::Idle)
    );
    assert_eq!(f.store.purge_expired().unwrap(), 2);
    assert_eq!(f.store.get(key.record.id).unwrap(), None);
    assert!(f
        .store
        .verify(child.issued.token.as_str())
        .unwrap()
        .is_valid());
    // Nor does a renewal take it further.
    f.store.renew(&child.issued.token, 30 * DAY).unwrap();
    f.clock.advance(6 * DAY);
    assert_eq!(
        rejection(&f.store, child.issued.token.as_str()),
        Some(Rejection::Expired)
    );
}

/// A line of idle tokens purged in one batch: the grandchild takes the first ancestor that
/// stays as its parent (a revocation of that ancestor reaches it) and the earliest expiry.
#[test]
fn idle_ancestors_purged_together_hand_down_to_the_first_that_stays() {
    let f = fixture();
    let root = f
        .store
        .issue(&lasting(IssueRequest::api_key("acme")))
        .unwrap();
    let idle = |r: IssueRequest| lasting(r).idle_timeout(DAY);
    let a = f
        .store
        .issue_child(&root.token, &idle(IssueRequest::api_key("acme")))
        .unwrap();
    let b = f
        .store
        .issue_child(&a.issued.token, &idle(IssueRequest::api_key("acme")))
        .unwrap();
    let leaf = f
        .store
        .issue_child(&b.issued.token, &lasting(IssueRequest::api_key("acme")))
        .unwrap();
    f.clock.advance(2 * DAY);
    assert!(f.store.verify(root.token.as_str()).unwrap().is_valid());
    assert_eq!(f.store.purge_expired().unwrap(), 2);
    assert_eq!(
        f.store.get(leaf.issued.record.id).unwrap().unwrap().parent,
        Some(root.record.id)
    );
    assert_eq!(f.store.revoke(root.record.id).unwrap(), 2);
    assert_eq!(
        rejection(&f.store, leaf.issued.token.as_str()),
        Some(Rejection::Revoked)
    );
}

/// A session refreshed by rotation is one device under the cap (its generations in their grace
/// window are the same session), and evicting it ends every generation.
#[test]
fn a_rotated_session_counts_once_under_the_subject_cap() {
    for policy in [CapPolicy::Refuse, CapPolicy::EvictOldest] {
        let f = fixture_with(|o| o.subject_cap(Kind::Session, 2, policy));
        let phone = f.store.issue(&IssueRequest::session("ann")).unwrap();
        let mut current = phone.token.as_str().to_owned();
        for _ in 0..3 {
            f.clock.advance(Duration::from_secs(1));
            current = f.store.rotate(&current).unwrap().token.as_str().to_owned();
        }
        f.clock.advance(Duration::from_secs(1));
        let laptop = f.store.issue(&IssueRequest::session("ann")).unwrap();
        assert!(f.store.verify(&current).unwrap().is_valid());
        f.clock.advance(Duration::from_secs(1));
        let third = f.store.issue(&IssueRequest::session("ann"));
        if policy == CapPolicy::Refuse {
            assert!(matches!(third, Err(Error::LimitReached(_))), "{third:?}");
            assert!(f.store.verify(&current).unwrap().is_valid());
        } else {
            // The oldest device goes: the phone, with the generations still in their grace.
            third.unwrap();
            assert_eq!(rejection(&f.store, &current), Some(Rejection::Revoked));
            assert_eq!(
                rejection(&f.store, phone.token.as_str()),
                Some(Rejection::Revoked)
            );
        }
        assert!(f.store.verify(laptop.token.as_str()).unwrap().is_valid());
    }
}

/// With a cap of one, a child of the same subject would evict its own parent: refused, and the
/// parent stays.
#[test]
fn a_child_never_evicts_its_own_parent() {
    let f = fixture_with(|o| o.subject_cap(Kind::Session, 1, CapPolicy::EvictOldest));
    let parent = f.store.issue(&IssueRequest::session("ann")).unwrap();
    let child = f
        .store
        .issue_child(&parent.token, &IssueRequest::session("ann"));
    assert!(matches!(child, Err(Error::LimitReached(_))), "{child:?}");
    assert!(f.store.verify(parent.token.as_str()).unwrap().is_valid());
}

/// Nor the parent's newer generation, inside the rotation's grace window: evicting it would end
/// the whole session, the parent with it, and the child would be issued dead.
#[test]
fn a_child_never_evicts_its_parent_s_newer_generation() {
    let f = fixture_with(|o| o.subject_cap(Kind::Session, 1, CapPolicy::EvictOldest));
    let parent = f.store.issue(&IssueRequest::session("ann")).unwrap();
    let newer = f.store.rotate(parent.token.as_str()).unwrap();
    let child = f
        .store
        .issue_child(&parent.token, &IssueRequest::session("ann"));
    assert!(matches!(child, Err(Error::LimitReached(_))), "{child:?}");
    assert!(f.store.verify(newer.token.as_str()).unwrap().is_valid());
    assert!(f.store.verify(parent.token.as_str()).unwrap().is_valid());
}

/// A stolen generation rotated by the thief: the client presenting the old one after it
/// expired is still a reuse, and ends the thief's branch.
#[test]
fn reuse_is_detected_after_the_old_generation_expired() {
    let f = fixture();
    let stolen = f
        .store
        .issue(&IssueRequest::session("ann").ttl(HOUR))
        .unwrap();
    let thief = f.store.rotate(stolen.token.as_str()).unwrap();
    f.clock.advance(HOUR / 2);
    let thief = f.store.rotate(thief.token.as_str()).unwrap();
    f.clock.advance(HOUR / 2 + MINUTE);
    // The purge keeps the rotated-out generations (for the revocation retention past their
    // expiry): the expired token is still there to be recognised.
    assert_eq!(f.store.purge_expired().unwrap(), 0);
    assert_reuse_revokes(&f.store, &stolen, &thief);
}

/// Also when it is a child whose parent expired and was purged: the purge keeps it for its
/// retention, as it keeps a tombstone child.
#[test]
fn a_rotated_out_child_is_kept_when_its_parent_is_purged() {
    let f = fixture();
    let parent = f
        .store
        .issue(&IssueRequest::session("ann").ttl(MINUTE))
        .unwrap();
    let child = f
        .store
        .issue_child(&parent.token, &IssueRequest::session("ann"))
        .unwrap()
        .issued;
    let newer = f.store.rotate(child.token.as_str()).unwrap();
    f.clock.advance(2 * MINUTE);
    // The parent and the child's newer generation (bound by the parent's expiry) go.
    assert_eq!(f.store.purge_expired().unwrap(), 2);
    assert!(f.store.get(parent.record.id).unwrap().is_none());
    assert!(f.store.get(newer.record.id).unwrap().is_none());
    assert!(f.store.get(child.record.id).unwrap().is_some());
}

/// A rotated-out generation is purged once the revocation retention past its expiry is over,
/// and only then.
#[test]
fn a_rotated_out_generation_is_kept_for_the_retention_past_its_expiry() {
    let retention = Duration::from_secs(86_400);
    let f = fixture_with(|o| o.revoked_retention(retention));
    let first = f
        .store
        .issue(&IssueRequest::session("ann").ttl(HOUR))
        .unwrap();
    let second = f.store.rotate(first.token.as_str()).unwrap();
    f.clock.advance(HOUR + retention - Duration::from_secs(1));
    assert_eq!(f.store.purge_expired().unwrap(), 1, "the second, expired");
    assert!(f.store.get(first.record.id).unwrap().is_some());
    f.clock.advance(Duration::from_secs(2));
    assert_eq!(f.store.purge_expired().unwrap(), 1);
    assert!(f.store.get(first.record.id).unwrap().is_none());
    assert!(f.store.get(second.record.id).unwrap().is_none());
}

/// Reuse of a middle generation ends the earlier ones too, with their children.
#[test]
fn reuse_revokes_the_earlier_generations_and_their_children() {
    let f = fixture();
    let first = f.store.issue(&IssueRequest::session("ann")).unwrap();
    let child = f
        .store
        .issue_child(&first.token, &IssueRequest::api_key("acme").subject("ann"))
        .unwrap();
    let second = f.store.rotate(first.token.as_str()).unwrap();
    f.store.rotate(second.token.as_str()).unwrap();
    f.clock.advance(HOUR);
    assert_reuse_revokes(&f.store, &second, &child.issued);
}

/// "Log out my other devices" from a session that a magic link was exchanged for keeps that
/// session: the link, its parent, is not revoked under it.
#[test]
fn revoking_a_subject_keeps_the_excepted_token_and_its_ancestors() {
    let f = fixture();
    let link = f
        .store
        .issue(&IssueRequest::session("ann").max_uses(1))
        .unwrap();
    let session = f
        .store
        .issue_child(&link.token, &IssueRequest::session("ann"))
        .unwrap();
    let other = f.store.issue(&IssueRequest::session("ann")).unwrap();
    assert_eq!(
        f.store
            .revoke_subject("ann", Some(session.issued.record.id))
            .unwrap(),
        1
    );
    assert!(f
        .store
        .verify(session.issued.token.as_str())
        .unwrap()
        .is_valid());
    assert_eq!(
        rejection(&f.store, other.token.as_str()),
        Some(Rejection::Revoked)
    );
}

/// Times are kept in milliseconds: a shorter lifetime is refused rather than stored as zero.
#[test]
fn a_lifetime_under_a_millisecond_is_refused() {
    let f = fixture();
    let short = f
        .store
        .issue(&IssueRequest::session("ann").ttl(Duration::from_micros(500)));
    assert!(matches!(short, Err(Error::InvalidArgument(_))), "{short:?}");
    let t = f.store.issue(&IssueRequest::session("ann")).unwrap();
    let renewed = f.store.renew(&t.token, Duration::from_micros(500));
    assert!(
        matches!(renewed, Err(Error::InvalidArgument(_))),
        "{renewed:?}"
    );
}

/// Checks walk at most 64 ancestors: a deeper child is refused.
#[test]
fn a_line_of_children_is_at_most_63_deep() {
    let f = fixture();
    let mut token = f
        .store
        .issue(&IssueRequest::api_key("acme").never_expires())
        .unwrap()
        .token;
    for _ in 0..63 {
        token = f
            .store
            .issue_child(&token, &IssueRequest::api_key("acme"))
            .unwrap()
            .issued
            .token;
    }
    let deeper = f.store.issue_child(&token, &IssueRequest::api_key("acme"));
    assert!(
        matches!(deeper, Err(Error::InvalidArgument(_))),
        "{deeper:?}"
    );
}

/// A grace window under a millisecond would be none (times are kept in milliseconds): refused
/// for rotations at open and for a roll, with nothing rolled; zero (none) is taken.
#[test]
fn a_grace_under_a_millisecond_is_refused() {
    let under = Duration::from_micros(900);
    let err = Store::in_memory(Options::new().rotation_grace(under)).unwrap_err();
    assert!(matches!(&err, Error::InvalidArgument(m) if m.contains("at least 1 ms")));
    let f = fixture_with(|o| o.rotation_grace(Duration::ZERO));
    let key = f.store.issue(&IssueRequest::api_key("acme")).unwrap();
    let err = f.store.roll(key.token.as_str(), under).unwrap_err();
    assert!(matches!(&err, Error::InvalidArgument(m) if m.contains("at least 1 ms")));
    assert!(f
        .store
        .get(key.record.id)
        .unwrap()
        .unwrap()
        .successor
        .is_none());
    let rolled = f.store.roll(key.token.as_str(), Duration::ZERO).unwrap();
    assert!(f.store.verify(rolled.token.as_str()).unwrap().is_valid());
    assert_eq!(
        rejection(&f.store, key.token.as_str()),
        Some(Rejection::Expired)
    );
}
