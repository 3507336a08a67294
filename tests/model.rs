//! Model-based test: random sequences of operations and clock moves run against the store and
//! against a plain in-memory reference model; every outcome must agree.

mod common;

use std::time::Duration;

use common::*;
use proptest::prelude::*;
use tessera::{
    Error, IssueRequest, Issued, Kind, Outcome, Rejection, Requirements, Store, Timestamp, TokenId,
};

const SUBJECTS: [&str; 3] = ["alice", "bob", "carol"];
const TENANTS: [&str; 2] = ["acme", "globex"];
const SCOPES: [&str; 2] = ["read", "write"];
const RETENTION: Duration = Duration::from_secs(90 * 60);

#[derive(Debug, Clone)]
enum Op {
    Issue {
        key: bool,
        subject: usize,
        tenant: usize,
        scope: Option<usize>,
        ttl_min: Option<u64>,
        idle_min: Option<u64>,
        max_life_min: Option<u64>,
    },
    Verify {
        token: usize,
        tenant: Option<usize>,
        scope: Option<usize>,
    },
    VerifyTampered {
        token: usize,
        at: usize,
    },
    Revoke {
        token: usize,
        by_text: bool,
    },
    RevokeSubject {
        subject: usize,
        except: Option<usize>,
    },
    RevokeTenant {
        tenant: usize,
    },
    Renew {
        token: usize,
        minutes: u64,
    },
    Advance {
        minutes: u64,
    },
    Purge,
    Flush,
    List {
        subject: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let minutes = prop_oneof![
        Just(None),
        (1u64..10).prop_map(Some),
        (1u64..240).prop_map(Some)
    ];
    prop_oneof![
        3 => (any::<bool>(), 0..3usize, 0..2usize, proptest::option::of(0..2usize),
              minutes.clone(), minutes.clone(), minutes)
            .prop_map(|(key, subject, tenant, scope, ttl_min, idle_min, max_life_min)| Op::Issue {
                key, subject, tenant, scope, ttl_min, idle_min, max_life_min }),
        6 => (any::<usize>(), proptest::option::of(0..2usize), proptest::option::of(0..2usize))
            .prop_map(|(token, tenant, scope)| Op::Verify { token, tenant, scope }),
        1 => (any::<usize>(), 0..200usize).prop_map(|(token, at)| Op::VerifyTampered { token, at }),
        2 => (any::<usize>(), any::<bool>()).prop_map(|(token, by_text)| Op::Revoke { token, by_text }),
        1 => (0..3usize, proptest::option::of(any::<usize>()))
            .prop_map(|(subject, except)| Op::RevokeSubject { subject, except }),
        1 => (0..2usize).prop_map(|tenant| Op::RevokeTenant { tenant }),
        2 => (any::<usize>(), 1u64..300).prop_map(|(token, minutes)| Op::Renew { token, minutes }),
        3 => prop_oneof![0u64..12, 0u64..120].prop_map(|minutes| Op::Advance { minutes }),
        1 => Just(Op::Purge),
        1 => Just(Op::Flush),
        1 => (0..3usize).prop_map(|subject| Op::List { subject }),
    ]
}

/// What the model knows of one token.
struct Model {
    id: TokenId,
    kind: Kind,
    subject: Option<String>,
    tenant: String,
    scopes: Vec<String>,
    created: Timestamp,
    expires: Option<Timestamp>,
    idle: Option<Duration>,
    max_life: Option<Duration>,
    last_used: Timestamp,
    revoked_at: Option<Timestamp>,
    purged: bool,
}

impl Model {
    fn state(&self, now: Timestamp) -> Result<(), Rejection> {
        if self.purged {
            return Err(Rejection::Unknown);
        }
        if self.revoked_at.is_some() {
            return Err(Rejection::Revoked);
        }
        if self.expires.is_some_and(|e| e <= now) {
            return Err(Rejection::Expired);
        }
        if self
            .idle
            .is_some_and(|i| self.last_used.saturating_add(i) <= now)
        {
            return Err(Rejection::Idle);
        }
        Ok(())
    }

    fn purge_deadline(&self) -> Option<Timestamp> {
        let idle = self.idle.map(|i| self.last_used.saturating_add(i));
        let own = match (self.expires, idle) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        match self.revoked_at {
            Some(r) => Some(own.map_or(r.saturating_add(RETENTION), |d| {
                d.min(r.saturating_add(RETENTION))
            })),
            None => own,
        }
    }
}

fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let f = fixture_with(|o| o.revoked_retention(RETENTION));
    let store: &Store = &f.store;
    let mut tokens: Vec<(Issued, Model)> = Vec::new();
    for op in ops {
        let now = store.now();
        match op {
            Op::Issue {
                key,
                subject,
                tenant,
                scope,
                ttl_min,
                idle_min,
                max_life_min,
            } => {
                let mut req = if key {
                    IssueRequest::api_key(TENANTS[tenant]).subject(SUBJECTS[subject])
                } else {
                    IssueRequest::session(SUBJECTS[subject]).tenant(TENANTS[tenant])
                };
                if let Some(s) = scope {
                    req = req.scope(SCOPES[s]);
                }
                req = match ttl_min {
                    Some(m) => req.ttl(Duration::from_secs(m * 60)),
                    None => req.never_expires(),
                };
                req = match idle_min {
                    Some(m) => req.idle_timeout(Duration::from_secs(m * 60)),
                    None => req.no_idle_timeout(),
                };
                req = match max_life_min {
                    Some(m) => req.max_lifetime(Duration::from_secs(m * 60)),
                    None => req.no_max_lifetime(),
                };
                let issued = store.issue(&req).unwrap();
                let ttl = ttl_min.map(|m| now.saturating_add(Duration::from_secs(m * 60)));
                let cap = max_life_min.map(|m| now.saturating_add(Duration::from_secs(m * 60)));
                let expires = match (ttl, cap) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
                prop_assert_eq!(issued.record.expires_at, expires);
                let model = Model {
                    id: issued.record.id,
                    kind: if key { Kind::ApiKey } else { Kind::Session },
                    subject: Some(SUBJECTS[subject].to_string()),
                    tenant: TENANTS[tenant].to_string(),
                    scopes: scope
                        .map(|s| vec![SCOPES[s].to_string()])
                        .unwrap_or_default(),
                    created: now,
                    expires,
                    idle: idle_min.map(|m| Duration::from_secs(m * 60)),
                    max_life: max_life_min.map(|m| Duration::from_secs(m * 60)),
                    last_used: now,
                    revoked_at: None,
                    purged: false,
                };
                tokens.push((issued, model));
            }
            Op::Verify {
                token,
                tenant,
                scope,
            } => {
                let n = tokens.len();
                let Some((issued, m)) = tokens.get_mut(token % n.max(1)) else {
                    continue;
                };
                let mut req = Requirements::new();
                if let Some(t) = tenant {
                    req = req.tenant(TENANTS[t]);
                }
                if let Some(s) = scope {
                    req = req.scope(SCOPES[s]);
                }
                let got = store.verify_with(issued.token.as_str(), &req).unwrap();
                let want = m.state(now).and_then(|()| {
                    if tenant.is_some_and(|t| m.tenant != TENANTS[t]) {
                        Err(Rejection::TenantMismatch)
                    } else if scope.is_some_and(|s| !m.scopes.iter().any(|x| x == SCOPES[s])) {
                        Err(Rejection::ScopeDenied)
                    } else {
                        Ok(())
                    }
                });
                match (&got, want) {
                    (Outcome::Valid(r), Ok(())) => {
                        prop_assert_eq!(r.id, m.id);
                        prop_assert_eq!(r.kind, m.kind);
                        prop_assert_eq!(&r.tenant, &m.tenant);
                        m.last_used = now;
                    }
                    (Outcome::Invalid(g), Err(w)) => prop_assert_eq!(*g, w),
                    (g, w) => prop_assert!(false, "verify: store {:?}, model {:?}", g, w),
                }
            }
            Op::VerifyTampered { token, at } => {
                let Some((issued, _)) = tokens.get(token % tokens.len().max(1)) else {
                    continue;
                };
                let mut text = issued.token.as_str().as_bytes().to_vec();
                let i = at % text.len();
                text[i] = if text[i] == b'x' { b'y' } else { b'x' };
                let got = store.verify(&text).unwrap();
                prop_assert!(
                    matches!(got, Outcome::Invalid(Rejection::Malformed(_))),
                    "{:?}",
                    got
                );
            }
            Op::Revoke { token, by_text } => {
                let n = tokens.len();
                let Some((issued, m)) = tokens.get_mut(token % n.max(1)) else {
                    continue;
                };
                let got = if by_text {
                    store.revoke(&issued.token)
                } else {
                    store.revoke(m.id)
                };
                if m.purged {
                    let want = if by_text {
                        Error::Rejected(Rejection::Unknown)
                    } else {
                        Error::NotFound
                    };
                    prop_assert_eq!(got, Err(want));
                } else if m.revoked_at.is_some() {
                    prop_assert_eq!(got, Ok(0));
                } else {
                    prop_assert_eq!(got, Ok(1));
                    m.revoked_at = Some(now);
                }
            }
            Op::RevokeSubject { subject, except } => {
                let except_id = except
                    .and_then(|e| tokens.get(e % tokens.len().max(1)))
                    .map(|(_, m)| m.id);
                let got = store.revoke_subject(SUBJECTS[subject], except_id).unwrap();
                let mut want = 0;
                for (_, m) in tokens.iter_mut() {
                    if m.subject.as_deref() == Some(SUBJECTS[subject])
                        && !m.purged
                        && m.revoked_at.is_none()
                        && Some(m.id) != except_id
                    {
                        m.revoked_at = Some(now);
                        want += 1;
                    }
                }
                prop_assert_eq!(got, want);
            }
            Op::RevokeTenant { tenant } => {
                let got = store.revoke_tenant(TENANTS[tenant]).unwrap();
                let mut want = 0;
                for (_, m) in tokens.iter_mut() {
                    if m.tenant == TENANTS[tenant] && !m.purged && m.revoked_at.is_none() {
                        m.revoked_at = Some(now);
                        want += 1;
                    }
                }
                prop_assert_eq!(got, want);
            }
            Op::Renew { token, minutes } => {
                let n = tokens.len();
                let Some((issued, m)) = tokens.get_mut(token % n.max(1)) else {
                    continue;
                };
                let extend = Duration::from_secs(minutes * 60);
                let got = store.renew(&issued.token, extend);
                match (m.state(now), m.expires) {
                    (Err(why), _) => {
                        prop_assert_eq!(got.map(|r| r.record.id), Err(Error::Rejected(why)))
                    }
                    (Ok(()), None) => {
                        prop_assert!(matches!(got, Err(Error::InvalidArgument(_))), "{:?}", got)
                    }
                    (Ok(()), Some(current)) => {
                        let wanted = now.saturating_add(extend);
                        let cap = m.max_life.map(|l| m.created.saturating_add(l));
                        let new = cap.map_or(wanted, |c| wanted.min(c)).max(current);
                        let r = got.unwrap();
                        prop_assert_eq!(r.record.expires_at, Some(new));
                        prop_assert_eq!(r.capped, cap.is_some_and(|c| wanted > c));
                        m.expires = Some(new);
                        m.last_used = now;
                    }
                }
            }
            Op::Advance { minutes } => f.clock.advance(Duration::from_secs(minutes * 60)),
            Op::Purge => {
                let got = store.purge_expired().unwrap();
                let mut want = 0;
                for (_, m) in tokens.iter_mut() {
                    if !m.purged && m.purge_deadline().is_some_and(|d| d <= now) {
                        m.purged = true;
                        want += 1;
                    }
                }
                prop_assert_eq!(got, want);
            }
            Op::Flush => store.flush().unwrap(),
            Op::List { subject } => {
                let got: Vec<TokenId> = store
                    .list_subject(SUBJECTS[subject])
                    .unwrap()
                    .iter()
                    .map(|r| r.id)
                    .collect();
                let mut want: Vec<(Timestamp, TokenId)> = tokens
                    .iter()
                    .filter(|(_, m)| {
                        m.subject.as_deref() == Some(SUBJECTS[subject]) && m.state(now).is_ok()
                    })
                    .map(|(_, m)| (m.created, m.id))
                    .collect();
                want.sort();
                prop_assert_eq!(got, want.into_iter().map(|(_, id)| id).collect::<Vec<_>>());
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn the_store_agrees_with_the_reference_model(ops in proptest::collection::vec(op(), 1..120)) {
        run(ops)?;
    }
}
