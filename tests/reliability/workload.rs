//! A mixed, sequential workload (issue, verify, revoke by text, by id, by subject, by tenant,
//! renew, clock moves, purge, flush) and the checker of what a store reopened after a crash or a
//! fault must hold, given which operations were acknowledged.
//!
//! The rules, per token:
//! * issue acknowledged: the token is there; issue not started: it is not; issue in flight or
//!   failed: either (all or nothing).
//! * a revocation covering the token (by text, by id, of its subject or tenant, issued after it)
//!   acknowledged: the token is revoked; in flight or failed: revoked or valid; none: valid.
//! * short-lived tokens (1 s) are expired once the clock passed them, and gone once an
//!   acknowledged purge ran after that.
//! * nothing is half-applied: the subject and tenant listings show a token iff verify says it is
//!   valid, `get` finds it iff verify knows it, and `get` says revoked iff verify does.

use std::collections::HashMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use tessera::{
    Clock, Error, IssueRequest, ManualClock, Outcome, Rejection, Store, Timestamp, TokenId,
};

use super::Rng;

pub const SUBJECTS: [&str; 4] = ["alice", "bob", "carol", "dave"];
pub const TENANTS: [&str; 2] = ["acme", "globex"];
/// Subject and tenant of short-lived tokens; never revoked, so expiry is all that happens to
/// them.
pub const EPHEMERAL: &str = "ephemeral";
pub const SHORT_TTL: Duration = Duration::from_secs(1);
pub const ADVANCE: Duration = Duration::from_secs(2);

/// The store's clock at the start of every workload: 2026-11-23T00:00:00Z.
pub fn start() -> Timestamp {
    Timestamp::from_unix_millis(1_795_392_000_000)
}

#[derive(Debug, Clone)]
pub enum Action {
    /// A long-lived session (or API key) of `SUBJECTS[subject]` in `TENANTS[tenant]`.
    Issue {
        subject: usize,
        tenant: usize,
        api_key: bool,
        /// With 3,000 bytes of metadata, so that the file grows.
        big: bool,
    },
    /// A 1-second session of `EPHEMERAL`.
    IssueShort,
    /// Arguments are the index of the token among the issues (0 = the first issue action).
    Verify(usize),
    RevokeText(usize),
    RevokeId(usize),
    RevokeSubject(usize),
    RevokeTenant(usize),
    Renew(usize),
    Advance,
    Purge,
    Flush,
}

impl Action {
    pub fn name(&self) -> &'static str {
        match self {
            Action::Issue { .. } => "issue",
            Action::IssueShort => "issue_short",
            Action::Verify(_) => "verify",
            Action::RevokeText(_) => "revoke_text",
            Action::RevokeId(_) => "revoke_id",
            Action::RevokeSubject(_) => "revoke_subject",
            Action::RevokeTenant(_) => "revoke_tenant",
            Action::Renew(_) => "renew",
            Action::Advance => "advance",
            Action::Purge => "purge",
            Action::Flush => "flush",
        }
    }

    pub fn is_revocation(&self) -> bool {
        matches!(
            self,
            Action::RevokeText(_)
                | Action::RevokeId(_)
                | Action::RevokeSubject(_)
                | Action::RevokeTenant(_)
        )
    }
}

/// A random workload of `n` actions. Revocations and renewals name long-lived tokens only.
pub fn generate(rng: &mut Rng, n: usize) -> Vec<Action> {
    let mut out = Vec::with_capacity(n);
    let mut long = Vec::new();
    let mut issued = 0usize;
    while out.len() < n {
        let roll = rng.below(100);
        let a = if issued < 3 || roll < 30 {
            long.push(issued);
            issued += 1;
            Action::Issue {
                subject: rng.index(SUBJECTS.len()),
                tenant: rng.index(TENANTS.len()),
                api_key: rng.chance(1, 4),
                big: rng.chance(1, 4),
            }
        } else if roll < 38 {
            issued += 1;
            Action::IssueShort
        } else if roll < 50 {
            Action::Verify(rng.index(issued))
        } else if roll < 60 {
            Action::RevokeText(long[rng.index(long.len())])
        } else if roll < 68 {
            Action::RevokeId(long[rng.index(long.len())])
        } else if roll < 72 {
            Action::RevokeSubject(rng.index(SUBJECTS.len()))
        } else if roll < 75 {
            Action::RevokeTenant(rng.index(TENANTS.len()))
        } else if roll < 82 {
            Action::Renew(long[rng.index(long.len())])
        } else if roll < 88 {
            Action::Advance
        } else if roll < 95 {
            Action::Purge
        } else {
            Action::Flush
        };
        out.push(a);
    }
    out
}

/// A token the workload issued (and got the text of).
#[derive(Debug, Clone)]
pub struct Token {
    pub text: String,
    pub id: TokenId,
    pub subject: String,
    pub tenant: String,
    pub short: bool,
    pub expires_at: Option<Timestamp>,
    /// Index of the issuing action.
    pub op: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Never started: it cannot have had any effect.
    NotStarted,
    /// Started and not acknowledged (in flight at a crash, or it returned an error): all or
    /// nothing.
    Maybe,
    /// Returned success.
    Acked,
}

/// What happened when a workload ran.
#[derive(Debug, Default)]
pub struct Run {
    pub status: Vec<Status>,
    /// By issue index; `None` if that issue did not return a token.
    pub tokens: Vec<Option<Token>>,
    /// The store's clock when each action started.
    pub clock_at: Vec<Timestamp>,
    /// Faults (not logical refusals such as renewing a revoked token).
    pub errors: Vec<(usize, Error)>,
    pub panics: Vec<(usize, String)>,
    /// Actions skipped because their token's issue failed.
    pub skipped: usize,
}

/// Whether an error is a fault of the storage rather than a refusal of the request.
pub fn is_fault(e: &Error) -> bool {
    !matches!(
        e,
        Error::Rejected(_) | Error::NotFound | Error::InvalidArgument(_)
    )
}

pub fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "<non-string panic>".into())
}

/// Runs `actions` in order, each inside `catch_unwind`. `hook(i, false)` is called before action
/// `i` and `hook(i, true)` after it returned successfully.
pub fn run(
    store: &Store,
    clock: &ManualClock,
    actions: &[Action],
    mut hook: impl FnMut(usize, bool),
) -> Run {
    let mut r = Run {
        status: vec![Status::NotStarted; actions.len()],
        ..Run::default()
    };
    for (i, a) in actions.iter().enumerate() {
        r.clock_at.push(clock.now());
        let token = |k: usize| r.tokens.get(k).cloned().flatten();
        let needs = match a {
            Action::Verify(k) | Action::RevokeText(k) | Action::RevokeId(k) | Action::Renew(k) => {
                Some(token(*k))
            }
            _ => None,
        };
        if let Some(None) = needs {
            r.skipped += 1;
            continue;
        }
        let t = needs.flatten();
        hook(i, false);
        r.status[i] = Status::Maybe;
        let result = catch_unwind(AssertUnwindSafe(|| -> Result<Option<Token>, Error> {
            match a {
                Action::Issue {
                    subject,
                    tenant,
                    api_key,
                    big,
                } => {
                    let mut req = if *api_key {
                        IssueRequest::api_key(TENANTS[*tenant]).subject(SUBJECTS[*subject])
                    } else {
                        IssueRequest::session(SUBJECTS[*subject]).tenant(TENANTS[*tenant])
                    };
                    if *big {
                        req = req.metadata(vec![b'm'; 3000]);
                    }
                    let issued = store.issue(&req)?;
                    Ok(Some(Token {
                        text: issued.token.as_str().to_owned(),
                        id: issued.record.id,
                        subject: SUBJECTS[*subject].into(),
                        tenant: TENANTS[*tenant].into(),
                        short: false,
                        expires_at: issued.record.expires_at,
                        op: i,
                    }))
                }
                Action::IssueShort => {
                    let req = IssueRequest::session(EPHEMERAL)
                        .tenant(EPHEMERAL)
                        .ttl(SHORT_TTL);
                    let issued = store.issue(&req)?;
                    Ok(Some(Token {
                        text: issued.token.as_str().to_owned(),
                        id: issued.record.id,
                        subject: EPHEMERAL.into(),
                        tenant: EPHEMERAL.into(),
                        short: true,
                        expires_at: issued.record.expires_at,
                        op: i,
                    }))
                }
                Action::Verify(_) => store.verify(&t.as_ref().unwrap().text).map(|_| None),
                Action::RevokeText(_) => store
                    .revoke(t.as_ref().unwrap().text.as_str())
                    .map(|_| None),
                Action::RevokeId(_) => store.revoke(t.as_ref().unwrap().id).map(|_| None),
                Action::RevokeSubject(s) => store.revoke_subject(SUBJECTS[*s], None).map(|_| None),
                Action::RevokeTenant(tn) => store.revoke_tenant(TENANTS[*tn]).map(|_| None),
                Action::Renew(_) => store
                    .renew(t.as_ref().unwrap().text.as_str(), Duration::from_secs(3600))
                    .map(|_| None),
                Action::Advance => {
                    clock.advance(ADVANCE);
                    Ok(None)
                }
                Action::Purge => store.purge_expired().map(|_| None),
                Action::Flush => store.flush().map(|_| None),
            }
        }));
        let is_issue = matches!(a, Action::Issue { .. } | Action::IssueShort);
        match result {
            Ok(Ok(tok)) => {
                r.status[i] = Status::Acked;
                if is_issue {
                    r.tokens.push(tok);
                }
                hook(i, true);
            }
            Ok(Err(e)) => {
                if is_issue {
                    r.tokens.push(None);
                }
                if is_fault(&e) {
                    r.errors.push((i, e));
                } else {
                    // A refusal changed nothing.
                    r.status[i] = Status::Acked;
                    hook(i, true);
                }
            }
            Err(p) => {
                if is_issue {
                    r.tokens.push(None);
                }
                r.panics.push((i, panic_message(&*p)));
            }
        }
    }
    r
}

/// What a check looked at.
#[derive(Debug, Default, Clone, Copy)]
pub struct Checked {
    pub tokens: usize,
    pub acked_issues: usize,
    pub acked_revocations: usize,
    pub valid: usize,
    pub revoked: usize,
    pub expired: usize,
    pub unknown: usize,
}

impl Checked {
    pub fn add(&mut self, o: Checked) {
        self.tokens += o.tokens;
        self.acked_issues += o.acked_issues;
        self.acked_revocations += o.acked_revocations;
        self.valid += o.valid;
        self.revoked += o.revoked;
        self.expired += o.expired;
        self.unknown += o.unknown;
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Seen {
    Valid,
    Revoked,
    Expired,
    Unknown,
}

fn seen(o: &Outcome) -> Result<Seen, String> {
    match o {
        Outcome::Valid(_) => Ok(Seen::Valid),
        Outcome::Invalid(Rejection::Revoked) => Ok(Seen::Revoked),
        Outcome::Invalid(Rejection::Expired) => Ok(Seen::Expired),
        Outcome::Invalid(Rejection::Unknown) => Ok(Seen::Unknown),
        Outcome::Invalid(other) => Err(format!("unexpected rejection {other:?}")),
    }
}

/// Checks a store reopened after a crash or fault against the statuses of the actions (see the
/// module documentation). `tokens` are all tokens whose text is known (also those whose issue
/// had not started at the crash). The store's clock must be where the workload left it.
pub fn check(
    store: &Store,
    actions: &[Action],
    tokens: &[Option<Token>],
    status: &[Status],
    clock_at: &[Timestamp],
) -> Result<Checked, String> {
    let mut c = Checked::default();
    let now = store.now();
    let mut lists: HashMap<(bool, String), Vec<TokenId>> = HashMap::new();
    let mut listed = |by_subject: bool, name: &str| -> Result<Vec<TokenId>, String> {
        let key = (by_subject, name.to_string());
        if let Some(v) = lists.get(&key) {
            return Ok(v.clone());
        }
        let records = if by_subject {
            store.list_subject(name)
        } else {
            store.list_tenant(name, None)
        }
        .map_err(|e| format!("listing {name}: {e}"))?;
        let ids: Vec<TokenId> = records.iter().map(|r| r.id).collect();
        lists.insert(key, ids.clone());
        Ok(ids)
    };
    c.acked_revocations = actions
        .iter()
        .zip(status)
        .filter(|(a, s)| a.is_revocation() && **s == Status::Acked)
        .count();
    let mut present_known = 0u64;
    let mut maybe_unknown_issues = 0u64;
    let mut issue_index = 0usize;
    for (i, a) in actions.iter().enumerate() {
        if !matches!(a, Action::Issue { .. } | Action::IssueShort) {
            continue;
        }
        let k = issue_index;
        issue_index += 1;
        let Some(t) = tokens.get(k).cloned().flatten() else {
            if status[i] != Status::NotStarted {
                maybe_unknown_issues += 1;
            }
            continue;
        };
        debug_assert_eq!(t.op, i);
        c.tokens += 1;
        let issue = status[i];
        if issue == Status::Acked {
            c.acked_issues += 1;
        }
        let (mut must_revoke, mut may_revoke) = (false, false);
        let (mut must_purge, mut may_purge) = (false, false);
        for (o, b) in actions.iter().enumerate().skip(i + 1) {
            let covers = !t.short
                && match b {
                    Action::RevokeText(j) | Action::RevokeId(j) => *j == k,
                    Action::RevokeSubject(s) => SUBJECTS[*s] == t.subject,
                    Action::RevokeTenant(tn) => TENANTS[*tn] == t.tenant,
                    _ => false,
                };
            let purges = t.short
                && matches!(b, Action::Purge)
                && t.expires_at
                    .is_some_and(|e| clock_at.get(o).is_some_and(|&c| c >= e));
            match status[o] {
                Status::Acked => {
                    must_revoke |= covers;
                    must_purge |= purges;
                }
                Status::Maybe => {
                    may_revoke |= covers;
                    may_purge |= purges;
                }
                Status::NotStarted => {}
            }
        }
        let expired = t.expires_at.is_some_and(|e| e <= now);
        let mut allowed: Vec<Seen> = if t.short && expired {
            if must_purge {
                vec![Seen::Unknown]
            } else if may_purge {
                vec![Seen::Unknown, Seen::Expired]
            } else {
                vec![Seen::Expired]
            }
        } else if must_revoke {
            vec![Seen::Revoked]
        } else if may_revoke {
            vec![Seen::Revoked, Seen::Valid]
        } else {
            vec![Seen::Valid]
        };
        match issue {
            Status::NotStarted => allowed = vec![Seen::Unknown],
            Status::Maybe => allowed.push(Seen::Unknown),
            Status::Acked => {}
        }
        let outcome = store
            .verify(&t.text)
            .map_err(|e| format!("verify of token {} failed: {e}", t.id))?;
        let s = seen(&outcome).map_err(|m| format!("token {}: {m}", t.id))?;
        if !allowed.contains(&s) {
            return Err(format!(
                "token {} ({} at action {i}, issue {issue:?}, must_revoke {must_revoke}, \
                 may_revoke {may_revoke}, must_purge {must_purge}): verify says {s:?}, \
                 allowed {allowed:?}",
                t.id,
                actions[i].name()
            ));
        }
        match s {
            Seen::Valid => c.valid += 1,
            Seen::Revoked => c.revoked += 1,
            Seen::Expired => c.expired += 1,
            Seen::Unknown => c.unknown += 1,
        }
        if s != Seen::Unknown {
            present_known += 1;
        }
        // Nothing half-applied: every view of the token agrees with verify.
        let got = store
            .get(t.id)
            .map_err(|e| format!("get of token {} failed: {e}", t.id))?;
        if got.is_some() != (s != Seen::Unknown) {
            return Err(format!(
                "token {}: verify says {s:?} but get finds {}",
                t.id,
                if got.is_some() { "a record" } else { "nothing" }
            ));
        }
        if let Some(r) = &got {
            if r.revoked.is_some() != (s == Seen::Revoked) {
                return Err(format!(
                    "token {}: verify says {s:?} but the record's revocation is {:?}",
                    t.id, r.revoked
                ));
            }
        }
        let in_subject = listed(true, &t.subject)?.contains(&t.id);
        let in_tenant = listed(false, &t.tenant)?.contains(&t.id);
        if in_subject != (s == Seen::Valid) || in_tenant != (s == Seen::Valid) {
            return Err(format!(
                "token {}: verify says {s:?} but it is {}listed for its subject and {}listed \
                 for its tenant (an index row without its token, or the reverse)",
                t.id,
                if in_subject { "" } else { "not " },
                if in_tenant { "" } else { "not " },
            ));
        }
    }
    let stats = store.stats().map_err(|e| format!("stats failed: {e}"))?;
    let total = stats.all.total();
    if total < present_known || total > present_known + maybe_unknown_issues {
        return Err(format!(
            "the store holds {total} tokens; {present_known} known tokens are present and at \
             most {maybe_unknown_issues} failed issues may have landed"
        ));
    }
    Ok(c)
}

/// [`check`], then the integrity check, then proof that the store still takes writes.
pub fn check_fully(
    store: &Store,
    actions: &[Action],
    tokens: &[Option<Token>],
    status: &[Status],
    clock_at: &[Timestamp],
) -> Result<Checked, String> {
    match store.check_integrity() {
        Ok(true) => {}
        Ok(false) => return Err("check_integrity found damage (and repaired it)".into()),
        Err(e) => return Err(format!("check_integrity failed: {e}")),
    }
    let c = check(store, actions, tokens, status, clock_at)?;
    let fresh = store
        .issue(&IssueRequest::session("after-recovery"))
        .map_err(|e| format!("issue after recovery failed: {e}"))?;
    if !store
        .verify(fresh.token.as_str())
        .map_err(|e| e.to_string())?
        .is_valid()
    {
        return Err("a token issued after recovery does not verify".into());
    }
    store
        .revoke(&fresh.token)
        .map_err(|e| format!("revoke after recovery failed: {e}"))?;
    Ok(c)
}
