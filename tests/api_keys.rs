//! Organization API keys: tenant, scopes, labels, no expiry unless asked, listing.

mod common;

use common::*;
use tessera::{IssueRequest, Kind, Outcome, Rejection, Requirements, Store};

#[test]
fn an_api_key_never_expires_unless_asked() {
    let f = fixture();
    let key = f.store.issue(&IssueRequest::api_key("acme")).unwrap();
    assert_eq!(key.record.expires_at, None);
    assert_eq!(key.record.kind, Kind::ApiKey);
    assert!(key.token.as_str().starts_with("tsk_"));
    f.clock.advance(3650 * DAY);
    assert!(f.store.verify(key.token.as_str()).unwrap().is_valid());
    let short = f
        .store
        .issue(&IssueRequest::api_key("acme").ttl(DAY))
        .unwrap();
    assert_eq!(
        short.record.expires_at,
        Some(f.store.now().saturating_add(DAY))
    );
}

#[test]
fn scopes_and_tenant_are_enforced_when_required() {
    let f = fixture();
    let key = f
        .store
        .issue(
            &IssueRequest::api_key("acme")
                .scope("locations:12")
                .scope("reports:read")
                .label("BI"),
        )
        .unwrap();
    let t = key.token.as_str();
    let check = |req: Requirements| f.store.verify_with(t, &req).unwrap().rejection();
    assert_eq!(check(Requirements::new()), None);
    assert_eq!(
        check(Requirements::new().tenant("acme").scope("reports:read")),
        None
    );
    assert_eq!(
        check(
            Requirements::new()
                .scope("reports:read")
                .scope("locations:12")
        ),
        None
    );
    assert_eq!(
        check(Requirements::new().scope("reports:write")),
        Some(Rejection::ScopeDenied)
    );
    assert_eq!(
        check(
            Requirements::new()
                .scope("reports:read")
                .scope("locations:13")
        ),
        Some(Rejection::ScopeDenied)
    );
    assert_eq!(
        check(Requirements::new().tenant("globex")),
        Some(Rejection::TenantMismatch)
    );
}

/// A requirement that no token can meet is a mistake of the caller's, reported as one: before,
/// a required scope with a trailing space refused every token (403 for every request).
#[test]
fn requirements_no_token_can_meet_are_an_invalid_argument() {
    let f = fixture();
    let key = f
        .store
        .issue(&IssueRequest::api_key("acme").scope("reports:read"))
        .unwrap();
    let long = "t".repeat(256);
    for req in [
        Requirements::new().scope("reports:read "),
        Requirements::new().scope(""),
        Requirements::new().scope("reports:\nread"),
        Requirements::new().tenant(long.as_str()),
        Requirements::new().tenant("acme\u{0}"),
    ] {
        let got = f.store.verify_with(key.token.as_str(), &req);
        assert!(
            matches!(&got, Err(tessera::Error::InvalidArgument(_))),
            "{req:?}: {got:?}"
        );
        assert!(req.check().is_err());
    }
    let fine = Requirements::new().tenant("acme").scope("reports:read");
    assert_eq!(fine.check(), Ok(()));
    assert!(f
        .store
        .verify_with(key.token.as_str(), &fine)
        .unwrap()
        .is_valid());
}

#[test]
fn a_tenants_keys_are_listed_without_secrets() {
    let f = fixture();
    let k1 = f
        .store
        .issue(&IssueRequest::api_key("acme").label("one"))
        .unwrap();
    f.clock.advance(MINUTE);
    let k2 = f
        .store
        .issue(&IssueRequest::api_key("acme").subject("alice").label("two"))
        .unwrap();
    f.store.issue(&IssueRequest::api_key("globex")).unwrap();
    f.store
        .issue(&IssueRequest::session("alice").tenant("acme"))
        .unwrap();
    let keys = f.store.list_api_keys("acme").unwrap();
    let ids: Vec<_> = keys.iter().map(|r| r.id).collect();
    assert_eq!(ids, vec![k1.record.id, k2.record.id]);
    assert_eq!(keys[1].subject.as_deref(), Some("alice"));
    let listing = format!("{keys:?}");
    for k in [&k1, &k2] {
        let secret = &k.token.as_str()[4 + 22..];
        assert!(!listing.contains(secret));
    }
    assert_eq!(f.store.list_tenant("acme", None).unwrap().len(), 3);
    f.store.revoke(k1.record.id).unwrap();
    assert_eq!(f.store.list_api_keys("acme").unwrap().len(), 1);
}

#[test]
fn a_limited_use_token_is_valid_until_its_uses_are_spent_in_the_record() {
    let f = fixture();
    let t = f
        .store
        .issue(&IssueRequest::session("reset:alice").max_uses(1).ttl(HOUR))
        .unwrap();
    assert_eq!(t.record.max_uses, Some(1));
    assert!(matches!(
        f.store.verify(t.token.as_str()).unwrap(),
        Outcome::Valid(_)
    ));
    assert_eq!(f.store.get(t.record.id).unwrap().unwrap().uses, 1);
    assert_eq!(
        f.store.verify(t.token.as_str()).unwrap().rejection(),
        Some(Rejection::Exhausted)
    );
    assert_eq!(f.store.get(t.record.id).unwrap().unwrap().uses, 1);
}

/// Tokens share a few scope sets: the file holds each set once, not once per token, and every
/// reader (verify, get, listing, a reopened store with nothing in memory) sees the scopes.
#[test]
fn shared_scope_sets_are_stored_once_and_read_back_everywhere() {
    let f = fixture();
    let sets: Vec<Vec<String>> = (0..5)
        .map(|i| {
            vec![
                format!("reports:read:{i}"),
                "billing:write".into(),
                "zz:x".into(),
            ]
        })
        .collect();
    let short = vec!["a".to_string()];
    let keys: Vec<_> = (0..600)
        .map(|i| {
            let scopes = if i % 7 == 0 { &short } else { &sets[i % 5] };
            let key = f
                .store
                .issue(
                    &IssueRequest::api_key(format!("org-{}", i % 3)).scopes(scopes.iter().cloned()),
                )
                .unwrap();
            (key, scopes.clone())
        })
        .collect();
    let check = |store: &Store| {
        for (key, scopes) in &keys {
            let required = scopes
                .iter()
                .fold(Requirements::new(), |r, s| r.scope(s.as_str()));
            let ok = store.verify_with(key.token.as_str(), &required).unwrap();
            assert!(ok.is_valid(), "{ok:?}");
            let rec = store.get(key.record.id).unwrap().unwrap();
            assert_eq!(rec.scopes.to_vec(), *scopes);
        }
        for org in 0..3 {
            for rec in store.list_tenant(&format!("org-{org}"), None).unwrap() {
                let want = &keys.iter().find(|(k, _)| k.record.id == rec.id).unwrap().1;
                assert_eq!(rec.scopes.to_vec(), *want);
            }
        }
    };
    check(&f.store);
    f.store.compact().unwrap();
    let bytes = std::fs::read(f.path()).unwrap();
    let copies = bytes.windows(13).filter(|w| w == b"billing:write").count();
    assert!(
        copies <= 10,
        "the scope string is in the file {copies} times"
    );
    let options = f.options();
    let path = f.path();
    drop(f.store);
    let store = Store::open(&path, options).unwrap();
    check(&store);
}

/// A key's subject, when given, is a name: "" is refused (it would be a subject that
/// revoke_subject("") reaches), and nothing is issued.
#[test]
fn an_empty_subject_of_a_key_is_refused() {
    let f = fixture();
    let err = f
        .store
        .issue(&IssueRequest::api_key("acme").subject(""))
        .unwrap_err();
    assert!(matches!(&err, tessera::Error::InvalidArgument(m) if m.contains("subject is empty")));
    assert_eq!(f.store.stats().unwrap().all.live, 0);
    assert_eq!(f.store.revoke_subject("", None).unwrap(), 0);
}
