//! What a web backend relies on for login sessions: many devices per user, logout, expiry,
//! idle timeout, renewal, listing.

mod common;

use common::*;
use tessera::{Error, IssueRequest, Kind, Outcome, Rejection, RevokeReason, Store};

fn rejection(store: &Store, token: &str) -> Option<Rejection> {
    store.verify(token).expect("verify").rejection()
}

#[test]
fn a_new_session_verifies_and_returns_its_record() {
    let f = fixture();
    let issued = f
        .store
        .issue(
            &IssueRequest::session("alice")
                .tenant("acme")
                .label("Firefox on Linux")
                .metadata(b"ua=firefox".to_vec()),
        )
        .unwrap();
    let Outcome::Valid(record) = f.store.verify(issued.token.as_str()).unwrap() else {
        panic!("a fresh token must verify");
    };
    assert_eq!(record.id, issued.record.id);
    assert_eq!(record.kind, Kind::Session);
    assert_eq!(record.subject.as_deref(), Some("alice"));
    assert_eq!(record.tenant, "acme");
    assert_eq!(record.label.as_deref(), Some("Firefox on Linux"));
    assert_eq!(record.metadata, b"ua=firefox");
    assert_eq!(record.created_at, start());
    assert_eq!(record.expires_at, Some(start().saturating_add(DAY)));
    assert!(issued.token.as_str().starts_with("tss_"));
}

#[test]
fn logging_out_one_device_leaves_the_others_valid() {
    let f = fixture();
    let phone = f.store.issue(&IssueRequest::session("alice")).unwrap();
    f.clock.advance(MINUTE);
    let laptop = f.store.issue(&IssueRequest::session("alice")).unwrap();
    f.clock.advance(MINUTE);
    let tablet = f.store.issue(&IssueRequest::session("alice")).unwrap();
    assert_eq!(f.store.revoke(&laptop.token).unwrap(), 1);
    assert_eq!(
        rejection(&f.store, laptop.token.as_str()),
        Some(Rejection::Revoked)
    );
    assert!(f.store.verify(phone.token.as_str()).unwrap().is_valid());
    assert!(f.store.verify(tablet.token.as_str()).unwrap().is_valid());
    let listed = f.subject_ids("alice");
    assert_eq!(listed, vec![phone.record.id, tablet.record.id]);
}

#[test]
fn revoking_twice_is_harmless_and_the_reason_is_kept() {
    let f = fixture();
    let t = f.store.issue(&IssueRequest::session("bob")).unwrap();
    assert_eq!(f.store.revoke(&t.token).unwrap(), 1);
    assert_eq!(f.store.revoke(&t.token).unwrap(), 0);
    let r = f.store.get(t.record.id).unwrap().expect("tombstone kept");
    assert_eq!(r.revoked.map(|v| v.reason), Some(RevokeReason::Logout));
}

#[test]
fn logout_with_a_wrong_secret_revokes_nothing() {
    let f = fixture();
    let t = f.store.issue(&IssueRequest::session("bob")).unwrap();
    let other = f.store.issue(&IssueRequest::session("eve")).unwrap();
    // Same id, another token's secret and check: the check digits no longer match.
    let forged = format!(
        "{}{}",
        &t.token.as_str()[..4 + 22],
        &other.token.as_str()[4 + 22..]
    );
    assert!(matches!(
        f.store.revoke(forged.as_str()),
        Err(Error::Rejected(Rejection::Malformed(_)))
    ));
    // A well-formed text of the same id with another secret: it reaches the secret's check.
    let mut text = [0u8; tessera::MAX_TOKEN_LEN];
    let len = tessera::support::token_text(
        &f.store,
        Kind::Session,
        t.record.id.as_bytes(),
        &[7u8; 32],
        &mut text,
    )
    .unwrap();
    let wrong = std::str::from_utf8(&text[..len]).unwrap();
    assert_eq!(
        f.store.verify(wrong).unwrap().rejection(),
        Some(Rejection::BadSecret)
    );
    assert!(matches!(
        f.store.revoke(wrong),
        Err(Error::Rejected(Rejection::BadSecret))
    ));
    assert!(matches!(
        f.store.renew(wrong, std::time::Duration::from_secs(60)),
        Err(Error::Rejected(Rejection::BadSecret))
    ));
    assert!(matches!(
        f.store.issue_child(wrong, &IssueRequest::session("bob")),
        Err(Error::Rejected(Rejection::BadSecret))
    ));
    assert!(matches!(
        f.store.rotate(wrong),
        Err(Error::Rejected(Rejection::BadSecret))
    ));
    assert!(f.store.verify(t.token.as_str()).unwrap().is_valid());
    assert_eq!(f.store.list_subject("bob").unwrap().len(), 1);
}

#[test]
fn log_out_my_other_devices_keeps_the_current_one() {
    let f = fixture();
    let current = f.store.issue(&IssueRequest::session("carol")).unwrap();
    let others: Vec<_> = (0..4)
        .map(|_| f.store.issue(&IssueRequest::session("carol")).unwrap())
        .collect();
    let someone_else = f.store.issue(&IssueRequest::session("dave")).unwrap();
    let n = f
        .store
        .revoke_subject("carol", Some(current.record.id))
        .unwrap();
    assert_eq!(n, 4);
    assert!(f.store.verify(current.token.as_str()).unwrap().is_valid());
    for o in &others {
        assert_eq!(
            rejection(&f.store, o.token.as_str()),
            Some(Rejection::Revoked)
        );
    }
    assert!(f
        .store
        .verify(someone_else.token.as_str())
        .unwrap()
        .is_valid());
    assert_eq!(f.store.list_subject("carol").unwrap().len(), 1);
}

#[test]
fn a_session_expires_at_its_ttl_to_the_millisecond() {
    let f = fixture();
    let t = f
        .store
        .issue(&IssueRequest::session("erin").ttl(HOUR))
        .unwrap();
    f.clock.advance(HOUR - std::time::Duration::from_millis(1));
    assert!(f.store.verify(t.token.as_str()).unwrap().is_valid());
    f.clock.advance(std::time::Duration::from_millis(1));
    assert_eq!(
        rejection(&f.store, t.token.as_str()),
        Some(Rejection::Expired)
    );
    assert!(f.store.list_subject("erin").unwrap().is_empty());
}

#[test]
fn an_idle_token_dies_after_its_idle_timeout_while_its_ttl_is_far() {
    let f = fixture();
    let t = f
        .store
        .issue(
            &IssueRequest::session("frank")
                .ttl(DAY)
                .idle_timeout(30 * MINUTE),
        )
        .unwrap();
    // Used every 20 minutes: stays alive for hours.
    for _ in 0..9 {
        f.clock.advance(20 * MINUTE);
        assert!(f.store.verify(t.token.as_str()).unwrap().is_valid());
    }
    f.clock.advance(30 * MINUTE);
    assert_eq!(rejection(&f.store, t.token.as_str()), Some(Rejection::Idle));
}

#[test]
fn idle_extensions_survive_a_flush_and_a_reopen() {
    let f = fixture();
    let t = f
        .store
        .issue(&IssueRequest::session("gina").idle_timeout(30 * MINUTE))
        .unwrap();
    f.clock.advance(20 * MINUTE);
    assert!(f.store.verify(t.token.as_str()).unwrap().is_valid());
    let used_at = f.store.now();
    f.store.flush().unwrap();
    let path = f.path();
    let opts = f.options();
    f.store.close().unwrap();
    let store = Store::open(&path, opts).unwrap();
    let r = store.get(t.record.id).unwrap().unwrap();
    assert_eq!(r.last_used_at, Some(used_at));
    f.clock.advance(20 * MINUTE);
    assert!(store.verify(t.token.as_str()).unwrap().is_valid());
}

#[test]
fn a_short_idle_timeout_moves_with_every_use_even_just_after_a_flush() {
    let f = fixture();
    let ms = std::time::Duration::from_millis;
    let t = f
        .store
        .issue(&IssueRequest::session("hana").idle_timeout(ms(1000)))
        .unwrap();
    f.clock.advance(ms(500));
    assert!(f.store.verify(t.token.as_str()).unwrap().is_valid());
    f.store.flush().unwrap();
    // Used every 0.9 s, the first time 0.9 s after the use the flush wrote: alive throughout.
    for _ in 0..5 {
        f.clock.advance(ms(900));
        assert!(f.store.verify(t.token.as_str()).unwrap().is_valid());
    }
    f.clock.advance(ms(1000));
    assert_eq!(rejection(&f.store, t.token.as_str()), Some(Rejection::Idle));
}

#[test]
fn verifying_never_commits_for_tokens_without_idle_timeout() {
    let f = fixture();
    let tokens: Vec<_> = (0..50)
        .map(|i| {
            f.store
                .issue(&IssueRequest::session(format!("u{i}")))
                .unwrap()
        })
        .collect();
    let before = f.store.commits();
    for round in 0..20 {
        f.clock.advance(MINUTE);
        for t in &tokens {
            assert!(
                f.store.verify(t.token.as_str()).unwrap().is_valid(),
                "round {round}"
            );
        }
    }
    assert_eq!(f.store.commits(), before);
    // The uses are not lost: the next write carries them.
    let last = f.store.now();
    f.store.flush().unwrap();
    assert_eq!(
        f.store
            .get(tokens[7].record.id)
            .unwrap()
            .unwrap()
            .last_used_at,
        Some(last)
    );
}

#[test]
fn a_renewed_token_never_outlives_its_max_lifetime() {
    let f = fixture();
    let t = f
        .store
        .issue(
            &IssueRequest::session("hank")
                .ttl(HOUR)
                .max_lifetime(3 * HOUR),
        )
        .unwrap();
    f.clock.advance(50 * MINUTE);
    let r = f.store.renew(&t.token, HOUR).unwrap();
    assert!(!r.capped);
    assert_eq!(
        r.record.expires_at,
        Some(f.store.now().saturating_add(HOUR))
    );
    f.clock.advance(50 * MINUTE);
    let r = f.store.renew(&t.token, 2 * HOUR).unwrap();
    assert!(
        r.capped,
        "renewal past the max lifetime is reported as capped"
    );
    assert_eq!(r.record.expires_at, Some(start().saturating_add(3 * HOUR)));
    f.clock.advance(80 * MINUTE);
    assert_eq!(
        rejection(&f.store, t.token.as_str()),
        Some(Rejection::Expired)
    );
    assert!(matches!(
        f.store.renew(&t.token, HOUR),
        Err(Error::Rejected(Rejection::Expired))
    ));
}

#[test]
fn renewing_by_id_works_and_unknown_ids_are_not_found() {
    let f = fixture();
    let t = f
        .store
        .issue(&IssueRequest::session("ivy").ttl(HOUR))
        .unwrap();
    f.clock.advance(30 * MINUTE);
    let r = f.store.renew(t.record.id, 2 * HOUR).unwrap();
    assert_eq!(
        r.record.expires_at,
        Some(f.store.now().saturating_add(2 * HOUR))
    );
    let stranger = tessera::TokenId::from_bytes([1; 16]);
    assert_eq!(f.store.renew(stranger, HOUR).unwrap_err(), Error::NotFound);
    assert_eq!(f.store.revoke(stranger).unwrap_err(), Error::NotFound);
}

#[test]
fn revoking_a_tenant_revokes_its_sessions_and_keys_only() {
    let f = fixture();
    let a1 = f
        .store
        .issue(&IssueRequest::session("u1").tenant("a"))
        .unwrap();
    let a2 = f.store.issue(&IssueRequest::api_key("a")).unwrap();
    let b1 = f
        .store
        .issue(&IssueRequest::session("u1").tenant("b"))
        .unwrap();
    assert_eq!(f.store.revoke_tenant("a").unwrap(), 2);
    assert_eq!(
        rejection(&f.store, a1.token.as_str()),
        Some(Rejection::Revoked)
    );
    assert_eq!(
        rejection(&f.store, a2.token.as_str()),
        Some(Rejection::Revoked)
    );
    assert!(f.store.verify(b1.token.as_str()).unwrap().is_valid());
    let r = f.store.get(a2.record.id).unwrap().unwrap();
    assert_eq!(r.revoked.map(|v| v.reason), Some(RevokeReason::Tenant));
}

#[test]
fn a_subject_is_the_same_user_across_tenants() {
    let f = fixture();
    f.store
        .issue(&IssueRequest::session("admin").tenant("parent"))
        .unwrap();
    f.store
        .issue(&IssueRequest::session("admin").tenant("child"))
        .unwrap();
    assert_eq!(f.store.list_subject("admin").unwrap().len(), 2);
    assert_eq!(f.store.revoke_subject("admin", None).unwrap(), 2);
    assert!(f.store.list_subject("admin").unwrap().is_empty());
}

#[test]
fn bad_requests_get_clear_errors_and_store_nothing() {
    let f = fixture();
    let cases = [
        IssueRequest::session(""),
        IssueRequest::session("x".repeat(300)),
        IssueRequest::session("a\u{0}b"),
        IssueRequest::session("a").scope("has space"),
        IssueRequest::session("a").scope(""),
        IssueRequest::session("a").metadata(vec![0u8; 5000]),
        IssueRequest::session("a").ttl(std::time::Duration::ZERO),
        IssueRequest::session("a").max_uses(0),
        IssueRequest::session("a").scopes((0..65).map(|i| format!("s{i}"))),
    ];
    for req in cases {
        match f.store.issue(&req) {
            Err(Error::InvalidArgument(msg)) => assert!(!msg.is_empty()),
            other => panic!("{req:?} gave {other:?}"),
        }
    }
    assert_eq!(f.store.stats().unwrap().all.total(), 0);
}

#[test]
fn a_scope_given_twice_counts_once_toward_the_limit() {
    let f = fixture();
    let names: Vec<String> = (0..64).map(|i| format!("s{i}")).collect();
    // 64 distinct scopes, each given twice: 128 names, 64 scopes.
    let req = IssueRequest::session("a").scopes(names.iter().chain(&names).cloned());
    let t = f.store.issue(&req).unwrap();
    assert_eq!(t.record.scopes.iter().count(), 64);
    assert_eq!(t.record.scopes.iter().collect::<Vec<_>>(), names);
    // A 65th distinct one is refused.
    let err = f.store.issue(&req.scope("s64")).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err:?}");
}

#[test]
fn stats_count_tokens_by_state_kind_and_tenant() {
    let f = fixture();
    let a = f
        .store
        .issue(&IssueRequest::session("u").tenant("t1").ttl(HOUR))
        .unwrap();
    f.store
        .issue(&IssueRequest::session("u").tenant("t1").ttl(DAY))
        .unwrap();
    f.store.issue(&IssueRequest::api_key("t2")).unwrap();
    let b = f.store.issue(&IssueRequest::api_key("t2")).unwrap();
    f.store.revoke(b.record.id).unwrap();
    f.clock.advance(2 * HOUR);
    let s = f.store.stats().unwrap();
    assert_eq!((s.all.live, s.all.expired, s.all.revoked), (2, 1, 1));
    assert_eq!(s.by_kind[&Kind::ApiKey].revoked, 1);
    assert_eq!(s.by_tenant["t1"].expired, 1);
    assert_eq!(s.due_for_purge, 1);
    assert!(s.file_bytes > 0);
    drop(a);
}
