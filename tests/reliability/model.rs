//! Operation sequences decoded from arbitrary bytes, run against an in-memory store and against a
//! plain reference model; every answer must agree. Shared by the cargo-fuzz target `operations`
//! (fuzz/) and the stable-toolchain fallback (`tests/reliability_fuzz_stable.rs`), so that the
//! same model is exercised with or without a nightly toolchain.
//!
//! Bytes are decoded by hand rather than with `arbitrary`, so this file has no dependency beyond
//! tessera and can be `#[path]`-included by the fuzz crate.

use std::collections::BTreeMap;
use std::time::Duration;

use tessera::{
    Clock, Error, IssueRequest, Kind, ManualClock, Options, Outcome, Rejection, Store, Timestamp,
    TokenId,
};

use super::forge;

const SUBJECTS: [&str; 3] = ["alice", "bob", "carol"];
const TENANTS: [&str; 2] = ["acme", "globex"];
const SESSION_TTL: Duration = Duration::from_secs(24 * 3600);
const MAX_LIFETIME: Duration = Duration::from_secs(30 * 24 * 3600);
const RETENTION: Duration = Duration::from_secs(2 * 3600);

/// One operation; token arguments index the issued tokens modulo their number.
#[derive(Debug, Clone)]
pub enum Op {
    Issue {
        api_key: bool,
        subject: u8,
        tenant: u8,
        ttl_min: Option<u16>,
    },
    /// `how`: 0 the token, 1 a wrong secret, 2 an unknown id, 3 a foreign prefix, 4 a typo.
    Verify {
        token: u8,
        how: u8,
    },
    Garbage(Vec<u8>),
    Revoke {
        token: u8,
        by_text: bool,
    },
    RevokeSubject {
        subject: u8,
        except: Option<u8>,
    },
    RevokeTenant {
        tenant: u8,
    },
    Renew {
        token: u8,
        minutes: u16,
    },
    Advance {
        minutes: u16,
    },
    Purge,
    List {
        subject: u8,
    },
    Get {
        token: u8,
    },
}

/// Decodes a byte string into operations (at most 64).
pub fn decode(data: &[u8]) -> Vec<Op> {
    let mut it = data.iter().copied();
    let mut next = move || it.next();
    let mut ops = Vec::new();
    while ops.len() < 64 {
        let Some(code) = next() else { break };
        let a = next().unwrap_or(0);
        let b = next().unwrap_or(0);
        let op = match code % 11 {
            0 => Op::Issue {
                api_key: a & 1 == 1,
                subject: (a >> 1) % 3,
                tenant: (a >> 3) % 2,
                ttl_min: (b != 0).then_some(u16::from(b) * 7),
            },
            1 => Op::Verify {
                token: a,
                how: b % 5,
            },
            2 => {
                let n = usize::from(a % 120);
                let mut g = Vec::with_capacity(n);
                for _ in 0..n {
                    g.push(next().unwrap_or(b'_'));
                }
                Op::Garbage(g)
            }
            3 => Op::Revoke {
                token: a,
                by_text: b & 1 == 1,
            },
            4 => Op::RevokeSubject {
                subject: a % 3,
                except: (b & 1 == 1).then_some(b >> 1),
            },
            5 => Op::RevokeTenant { tenant: a % 2 },
            6 => Op::Renew {
                token: a,
                minutes: u16::from(b) * 13 + 1,
            },
            7 => Op::Advance {
                minutes: u16::from_le_bytes([a, b]) % 3000,
            },
            8 => Op::Purge,
            9 => Op::List { subject: a % 3 },
            _ => Op::Get { token: a },
        };
        ops.push(op);
    }
    ops
}

#[derive(Debug, Clone)]
struct M {
    text: String,
    id: TokenId,
    kind: Kind,
    subject: Option<String>,
    tenant: String,
    created: Timestamp,
    expires: Option<Timestamp>,
    max_lifetime: Option<Duration>,
    revoked: Option<Timestamp>,
}

impl M {
    fn state(&self, now: Timestamp) -> Result<(), Rejection> {
        if self.revoked.is_some() {
            return Err(Rejection::Revoked);
        }
        if self.expires.is_some_and(|e| e <= now) {
            return Err(Rejection::Expired);
        }
        Ok(())
    }

    fn purge_at(&self) -> Option<Timestamp> {
        // A tombstone stays for its retention, also past the token's own expiry, unless that
        // came before the revocation.
        match (self.revoked, self.expires) {
            (Some(at), Some(e)) if e <= at => Some(e),
            (Some(at), _) => Some(at.saturating_add(RETENTION)),
            (None, e) => e,
        }
    }
}

fn rejection(o: &Outcome) -> Option<Rejection> {
    o.rejection()
}

/// Runs the operations encoded in `data`; `Err` describes the first divergence.
pub fn run_bytes(data: &[u8]) -> Result<usize, String> {
    run_ops(&decode(data))
}

pub fn run_ops(ops: &[Op]) -> Result<usize, String> {
    let clock = ManualClock::new(Timestamp::from_unix_millis(1_795_392_000_000));
    let store = Store::in_memory(
        Options::new()
            .manual_clock(&clock)
            .session_ttl(Some(SESSION_TTL))
            .session_max_lifetime(Some(MAX_LIFETIME))
            .revoked_retention(RETENTION),
    )
    .map_err(|e| format!("open: {e}"))?;
    // Every token ever issued, in order; `live` holds those still stored.
    let mut issued: Vec<M> = Vec::new();
    let mut stored: BTreeMap<TokenId, usize> = BTreeMap::new();
    let pick = |issued: &Vec<M>, k: u8| -> Option<usize> {
        (!issued.is_empty()).then(|| usize::from(k) % issued.len())
    };
    for (step, op) in ops.iter().enumerate() {
        let now = clock.now();
        let fail = |what: String| Err(format!("step {step} {op:?}: {what}"));
        match op {
            Op::Issue {
                api_key,
                subject,
                tenant,
                ttl_min,
            } => {
                let subject = SUBJECTS[usize::from(*subject)];
                let tenant = TENANTS[usize::from(*tenant)];
                let mut req = if *api_key {
                    IssueRequest::api_key(tenant).subject(subject)
                } else {
                    IssueRequest::session(subject).tenant(tenant)
                };
                let ttl = ttl_min.map(|m| Duration::from_secs(u64::from(m) * 60 + 1));
                if let Some(t) = ttl {
                    req = req.ttl(t);
                }
                let got = match store.issue(&req) {
                    Ok(g) => g,
                    Err(e) => return fail(format!("issue failed: {e}")),
                };
                let (expires, max_lifetime) = if *api_key {
                    (ttl.map(|t| now.saturating_add(t)), None)
                } else {
                    let t = ttl.unwrap_or(SESSION_TTL).min(MAX_LIFETIME);
                    (Some(now.saturating_add(t)), Some(MAX_LIFETIME))
                };
                if got.record.expires_at != expires {
                    return fail(format!(
                        "expiry {:?}, the model says {expires:?}",
                        got.record.expires_at
                    ));
                }
                if stored.contains_key(&got.record.id) {
                    return fail("a fresh id repeats".into());
                }
                stored.insert(got.record.id, issued.len());
                issued.push(M {
                    text: got.token.as_str().to_owned(),
                    id: got.record.id,
                    kind: if *api_key {
                        Kind::ApiKey
                    } else {
                        Kind::Session
                    },
                    subject: Some(subject.to_owned()),
                    tenant: tenant.to_owned(),
                    created: now,
                    expires,
                    max_lifetime,
                    revoked: None,
                });
            }
            Op::Verify { token, how } => {
                let Some(i) = pick(&issued, *token) else {
                    continue;
                };
                let t = &issued[i];
                let present = stored.contains_key(&t.id);
                let p = forge::parts(&t.text);
                let (text, want): (String, Option<Rejection>) = match how {
                    0 => (
                        t.text.clone(),
                        if present {
                            t.state(now).err()
                        } else {
                            Some(Rejection::Unknown)
                        },
                    ),
                    1 => {
                        let mut s = p.secret;
                        s[usize::from(*token) % 32] ^= 1 << (token % 8);
                        (
                            forge::forge(p.prefix, &p.id, &s),
                            Some(if present {
                                Rejection::BadSecret
                            } else {
                                Rejection::Unknown
                            }),
                        )
                    }
                    2 => {
                        let mut id = p.id;
                        id[0] ^= 0xA5;
                        id[15] ^= token | 1;
                        let known = stored.keys().any(|k| k.as_bytes() == &id);
                        if known {
                            continue;
                        }
                        (
                            forge::forge(p.prefix, &id, &p.secret),
                            Some(Rejection::Unknown),
                        )
                    }
                    3 => (
                        forge::forge("zz9", &p.id, &p.secret),
                        Some(Rejection::Malformed(tessera::MalformedReason::Prefix)),
                    ),
                    _ => {
                        let mut b = t.text.clone().into_bytes();
                        let at = b.len() - 1 - usize::from(*token) % 60;
                        b[at] = if b[at] == b'A' { b'B' } else { b'A' };
                        (String::from_utf8(b).unwrap(), None)
                    }
                };
                let got = match store.verify(&text) {
                    Ok(o) => o,
                    Err(e) => return fail(format!("verify failed: {e}")),
                };
                let r = rejection(&got);
                let ok = match (how, want) {
                    (4, _) => matches!(r, Some(Rejection::Malformed(_))),
                    (_, w) => r == w,
                };
                if !ok {
                    return fail(format!("verify says {r:?}, the model says {want:?}"));
                }
                if let Outcome::Valid(rec) = &got {
                    if rec.id != t.id || rec.subject != t.subject || rec.tenant != t.tenant {
                        return fail("verify returned another token's record".into());
                    }
                }
            }
            Op::Garbage(bytes) => match store.verify(bytes) {
                Ok(Outcome::Invalid(Rejection::Malformed(_) | Rejection::Unknown)) => {}
                other => return fail(format!("garbage verified as {other:?}")),
            },
            Op::Revoke { token, by_text } => {
                let Some(i) = pick(&issued, *token) else {
                    continue;
                };
                let present = stored.contains_key(&issued[i].id);
                let got = if *by_text {
                    store.revoke(issued[i].text.as_str())
                } else {
                    store.revoke(issued[i].id)
                };
                let want: Result<usize, Error> = if !present {
                    Err(if *by_text {
                        Error::Rejected(Rejection::Unknown)
                    } else {
                        Error::NotFound
                    })
                } else if issued[i].revoked.is_some() {
                    Ok(0)
                } else {
                    issued[i].revoked = Some(now);
                    Ok(1)
                };
                if got != want {
                    return fail(format!("revoke says {got:?}, the model says {want:?}"));
                }
            }
            Op::RevokeSubject { subject, except } => {
                let subject = SUBJECTS[usize::from(*subject)];
                let except_id = except.and_then(|k| pick(&issued, k)).map(|i| issued[i].id);
                let got = store.revoke_subject(subject, except_id);
                let mut n = 0;
                for t in issued.iter_mut() {
                    if stored.contains_key(&t.id)
                        && t.subject.as_deref() == Some(subject)
                        && t.revoked.is_none()
                        && Some(t.id) != except_id
                    {
                        t.revoked = Some(now);
                        n += 1;
                    }
                }
                if got != Ok(n) {
                    return fail(format!("revoke_subject says {got:?}, the model says {n}"));
                }
            }
            Op::RevokeTenant { tenant } => {
                let tenant = TENANTS[usize::from(*tenant)];
                let got = store.revoke_tenant(tenant);
                let mut n = 0;
                for t in issued.iter_mut() {
                    if stored.contains_key(&t.id) && t.tenant == tenant && t.revoked.is_none() {
                        t.revoked = Some(now);
                        n += 1;
                    }
                }
                if got != Ok(n) {
                    return fail(format!("revoke_tenant says {got:?}, the model says {n}"));
                }
            }
            Op::Renew { token, minutes } => {
                let Some(i) = pick(&issued, *token) else {
                    continue;
                };
                let t = &mut issued[i];
                let extend = Duration::from_secs(u64::from(*minutes) * 60);
                let got = store.renew(t.text.as_str(), extend);
                let want = if !stored.contains_key(&t.id) {
                    Err(Error::Rejected(Rejection::Unknown))
                } else if let Err(r) = t.state(now) {
                    Err(Error::Rejected(r))
                } else if let Some(current) = t.expires {
                    let wanted = now.saturating_add(extend);
                    let cap = t.max_lifetime.map(|m| t.created.saturating_add(m));
                    let new = cap.map_or(wanted, |c| wanted.min(c)).max(current);
                    t.expires = Some(new);
                    Ok(new)
                } else {
                    Err(Error::InvalidArgument(String::new()))
                };
                match (&got, &want) {
                    (Ok(g), Ok(w)) if g.record.expires_at == Some(*w) => {}
                    (Err(Error::InvalidArgument(_)), Err(Error::InvalidArgument(_))) => {}
                    (Err(g), Err(w)) if g == w => {}
                    _ => return fail(format!("renew says {got:?}, the model says {want:?}")),
                }
            }
            Op::Advance { minutes } => clock.advance(Duration::from_secs(u64::from(*minutes) * 60)),
            Op::Purge => {
                let got = store.purge_expired();
                let due: Vec<TokenId> = stored
                    .iter()
                    .filter(|(_, &i)| issued[i].purge_at().is_some_and(|d| d <= now))
                    .map(|(id, _)| *id)
                    .collect();
                for id in &due {
                    stored.remove(id);
                }
                if got != Ok(due.len()) {
                    return fail(format!("purge says {got:?}, the model says {}", due.len()));
                }
            }
            Op::List { subject } => {
                let subject = SUBJECTS[usize::from(*subject)];
                let got = match store.list_subject(subject) {
                    Ok(l) => l,
                    Err(e) => return fail(format!("list failed: {e}")),
                };
                let mut got: Vec<TokenId> = got.iter().map(|r| r.id).collect();
                got.sort();
                let mut want: Vec<TokenId> = stored
                    .values()
                    .map(|&i| &issued[i])
                    .filter(|t| t.subject.as_deref() == Some(subject) && t.state(now).is_ok())
                    .map(|t| t.id)
                    .collect();
                want.sort();
                if got != want {
                    return fail(format!(
                        "list_subject has {} tokens, the model {}",
                        got.len(),
                        want.len()
                    ));
                }
            }
            Op::Get { token } => {
                let Some(i) = pick(&issued, *token) else {
                    continue;
                };
                let t = &issued[i];
                let got = match store.get(t.id) {
                    Ok(g) => g,
                    Err(e) => return fail(format!("get failed: {e}")),
                };
                let want = stored.contains_key(&t.id);
                if got.is_some() != want {
                    return fail(format!("get found {}, the model {want}", got.is_some()));
                }
                if let Some(r) = got {
                    if r.kind != t.kind || r.revoked.map(|v| v.at) != t.revoked {
                        return fail(format!(
                            "get has kind {:?} revoked {:?}, the model {:?} {:?}",
                            r.kind, r.revoked, t.kind, t.revoked
                        ));
                    }
                }
            }
        }
    }
    Ok(ops.len())
}
