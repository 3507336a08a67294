//! Token lifecycles beyond issue and revoke: child tokens, rotation with reuse detection, API
//! key rolling, limited-use tokens, per-subject caps, and revoking everything issued before an
//! instant (epochs).
//!
//! **Rotation without stored secrets.** A successor's id and secret are derived from the old
//! token's id and secret with the store's secret key (keyed BLAKE3). A client that retries a
//! rotation inside the grace window presents the old secret again, so the store derives the very
//! same successor and returns its text, while storing no plaintext secret. Without the store's
//! key, nobody computes a successor from a stolen old token offline; presented to `rotate`
//! inside the grace window it does get the successor's text (that is the retry), and the
//! family then has two holders until one presents a generation past its window (reuse).
//! Concurrent rotations of one token are serialised by the write transaction: exactly one
//! successor exists.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use crate::sync::RwLock;

use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::events::{EventKind, NewEvent};
use crate::issue::{IssueRequest, Issued};
use crate::record::{Kind, Record, Replacement, Revocation, RevokeReason, Stored, Successor};
use crate::revoke::TokenRef;
use crate::schema::HashKey;
use crate::store::Inner;
use crate::token_text::{self, MalformedReason, Secret, TokenId};
use crate::verify::{secret_hash, Rejection};
use crate::write::{Commit, Tx};

/// Whose tokens [`crate::Store::revoke_issued_before`] revokes.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RevokeScope {
    /// Every token of the store.
    Store,
    /// Every token of a tenant.
    Tenant(String),
    /// Every token of a subject, in every tenant.
    Subject(String),
}

impl RevokeScope {
    pub(crate) fn key(&self) -> String {
        match self {
            RevokeScope::Store => "*".into(),
            RevokeScope::Tenant(t) => format!("t:{t}"),
            RevokeScope::Subject(s) => format!("s:{s}"),
        }
    }

    fn label(&self) -> String {
        match self {
            RevokeScope::Store => "store".into(),
            RevokeScope::Tenant(t) => format!("tenant:{t}"),
            RevokeScope::Subject(s) => format!("subject:{s}"),
        }
    }
}

/// What the per-subject cap does when a new token would exceed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CapPolicy {
    /// Refuse the new token ([`Error::LimitReached`]).
    Refuse,
    /// Revoke the oldest live token of the subject (same kind).
    EvictOldest,
    /// Revoke the live token of the subject (same kind) used longest ago (its last use as
    /// recorded: in the multi-process mode, another process's uses reach the file within its
    /// flush interval, see [`crate::Options::subject_cap`]).
    EvictLeastRecentlyUsed,
}

/// A child token and whether its expiry was cut to its parent's.
#[derive(Debug)]
pub struct Child {
    /// The child.
    pub issued: Issued,
    /// Whether the child's expiry was clamped to the parent's.
    pub clamped: bool,
}

/// Whether an epoch kills this record: issued strictly before the store's, its tenant's or its
/// subject's epoch.
pub(crate) fn killed(
    r: &Record,
    lookup: impl Fn(&str) -> Result<Option<Timestamp>>,
) -> Result<bool> {
    Ok(killer(r, lookup)?.is_some())
}

/// The key of the first epoch that kills this record (`"*"`, `"t:<tenant>"` or
/// `"s:<subject>"`), if one does.
pub(crate) fn killer(
    r: &Record,
    lookup: impl Fn(&str) -> Result<Option<Timestamp>>,
) -> Result<Option<String>> {
    let issued = r.issued_for_cutoffs();
    // Keys formatted only as far as they are looked up: verify judges every token so.
    let kills = |key: &str| Ok::<_, Error>(lookup(key)?.is_some_and(|e| issued < e));
    if kills("*")? {
        return Ok(Some("*".to_owned()));
    }
    let tenant = format!("t:{}", r.tenant);
    if kills(&tenant)? {
        return Ok(Some(tenant));
    }
    if let Some(s) = &r.subject {
        let subject = format!("s:{s}");
        if kills(&subject)? {
            return Ok(Some(subject));
        }
    }
    Ok(None)
}

/// How many ancestors a check walks up at most (a bound against a damaged file's cycles; child
/// chains are a few levels deep).
pub(crate) const MAX_ANCESTORS: usize = 64;

/// How far past the store's clock a cutoff of [`crate::Store::revoke_issued_before`] may be: an
/// epoch never goes back, so a cutoff far ahead (a time in microseconds passed as milliseconds
/// is 50,000 years ahead) would revoke every token of its scope as it is issued, for good.
pub const MAX_CUTOFF_AHEAD: Duration = Duration::from_secs(24 * 60 * 60);

/// The earliest cutoff [`crate::Store::revoke_issued_before`] takes while the store's clock is
/// past it: 2000-01-01T00:00:00Z. A time in seconds passed as milliseconds reads as January 1970
/// and would revoke nothing, without a word; a store on a clock set before 2000 (a test's) takes
/// any cutoff.
pub const EARLIEST_CUTOFF: Timestamp = Timestamp::from_unix_millis(946_684_800_000);

/// What an epoch and a token's ancestors say of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Line {
    /// Nothing ends it.
    Alive,
    /// An epoch kills it, or one of its ancestors is revoked or killed by an epoch.
    Revoked,
    /// One of its ancestors is past its expiry (a rolled key whose grace is over, say).
    Expired,
}

/// What ends a token through an epoch, its line or its rotation: a child never outlives its
/// parent, [`crate::Store::revoke_issued_before`] kills without writing to the rows, and a
/// rotated token in its grace window ends with its successor ([`successor_ended`]). A parent's
/// idle timeout does not end its children: their own use keeps them going (the purge that
/// removes such a parent hands its parent and expiry down to them). A revoked or killed
/// ancestor says "revoked" even above an expired one. `get` reads a token's record, `kills`
/// says whether an epoch kills one record.
pub(crate) fn line_of(
    r: &Record,
    now: Timestamp,
    get: impl Fn(&TokenId) -> Result<Option<Record>>,
    kills: impl Fn(&Record) -> Result<bool>,
) -> Result<Line> {
    if kills(r)? {
        return Ok(Line::Revoked);
    }
    // Revoked before expired, as for the token itself: an expired ancestor does not hide a
    // revoked or killed one above it.
    let mut expired = false;
    let mut next = r.parent;
    for _ in 0..MAX_ANCESTORS {
        let Some(id) = next else { break };
        let Some(p) = get(&id)? else { break };
        if p.revoked.is_some() || kills(&p)? {
            return Ok(Line::Revoked);
        }
        expired |= p.expires_at.is_some_and(|e| e <= now);
        next = p.parent;
    }
    if successor_ended(r, now, &get)? {
        return Ok(Line::Revoked);
    }
    Ok(if expired { Line::Expired } else { Line::Alive })
}

impl Line {
    /// The rejection it makes, if any.
    pub(crate) fn rejection(self) -> Option<Rejection> {
        match self {
            Line::Alive => None,
            Line::Revoked => Some(Rejection::Revoked),
            Line::Expired => Some(Rejection::Expired),
        }
    }
}

/// Whether a rotated token inside its grace window has lost its successor (revoked, or gone):
/// the session was ended with the newer token, so the older one ends with it, even when the
/// family's first generations are purged and the revocation could not reach it.
fn successor_ended(
    r: &Record,
    now: Timestamp,
    get: impl Fn(&TokenId) -> Result<Option<Record>>,
) -> Result<bool> {
    match r.successor {
        Some(sc) if sc.how == Replacement::Rotated && now < sc.grace_until => {
            Ok(get(&sc.id)?.is_none_or(|s| s.revoked.is_some()))
        }
        _ => Ok(false),
    }
}

/// Whether a token was rotated and its grace window is over: presenting it is a reuse (unless
/// it is revoked, or dead through its line already).
pub(crate) fn rotated_out(r: &Record, now: Timestamp) -> bool {
    r.revoked.is_none()
        && r.successor
            .is_some_and(|sc| sc.how == Replacement::Rotated && now >= sc.grace_until)
}

/// Epochs in memory, for verifies in the exclusive mode (where every epoch is written by this
/// process).
#[derive(Default)]
pub(crate) struct MemEpochs(RwLock<HashMap<String, Timestamp>>);

impl MemEpochs {
    pub(crate) fn load(&self, all: Vec<(String, Timestamp)>) {
        self.0.write().extend(all);
    }

    pub(crate) fn raise(&self, key: String, t: Timestamp) {
        let mut m = self.0.write();
        let e = m.entry(key).or_insert(t);
        *e = (*e).max(t);
    }

    pub(crate) fn kills(&self, r: &Record) -> bool {
        let m = self.0.read();
        if m.is_empty() {
            return false;
        }
        killed(r, |k| Ok(m.get(k).copied())).unwrap_or(false)
    }
}

/// The id and secret of a token's rotation successor.
fn successor_of(key: &HashKey, id: &TokenId, secret: &Secret) -> (TokenId, Secret) {
    let mut h = blake3::Hasher::new_keyed(&key.key);
    h.update(b"tessera rotation successor v1");
    h.update(&id.0);
    h.update(&secret.0);
    let mut out = [0u8; 48];
    h.finalize_xof().fill(&mut out);
    let mut sid = [0u8; 16];
    let mut ssecret = [0u8; 32];
    sid.copy_from_slice(&out[..16]);
    ssecret.copy_from_slice(&out[16..]);
    token_text::wipe(&mut out);
    (TokenId(sid), Secret(ssecret))
}

/// A successor's record: the old token's identity, scopes and limits, issued now. A rotated
/// session's lifetime goes on from its first generation's (its `max_lifetime` bounds the
/// session); a rolled key is a new key, whose lifetime starts now as the old one's did at its
/// issue (rolling a key ahead of its expiry is what a key's expiry asks for).
fn successor_record(old: &Record, id: TokenId, now: Timestamp, how: Replacement) -> Record {
    let start = match how {
        Replacement::Rotated => old.created_at,
        Replacement::Rolled => now,
    };
    let cap = old.max_lifetime.map(|m| start.saturating_add(m));
    let expires_at = old.expires_at.map(|e| {
        let wanted = now.saturating_add(e.saturating_duration_since(old.created_at));
        cap.map_or(wanted, |c| wanted.min(c))
    });
    let mut r = old.clone();
    r.id = id;
    r.created_at = now;
    r.expires_at = expires_at;
    r.max_lifetime = cap.map(|c| c.saturating_duration_since(now));
    r.last_used_at = None;
    r.uses = 0;
    r.family = Some(old.family.unwrap_or(old.id));
    // A rotation continues the session (its secret derives from the old one's), which cutoffs
    // judge by its first generation's issue; a roll makes a new key.
    r.family_created_at = match how {
        Replacement::Rotated => Some(old.family_created_at.unwrap_or(old.created_at)),
        Replacement::Rolled => None,
    };
    r.successor = None;
    r.revoked = None;
    r
}

/// Refuses to replace a limited-use token: its successor would start its uses again, and the old
/// token's grace window would add the uses it has left.
fn refuse_limited_use(r: &Record, how: &str) -> Result<()> {
    match r.max_uses {
        Some(_) => Err(Error::InvalidArgument(format!(
            "a limited-use token is not {how}: issue a new one"
        ))),
        None => Ok(()),
    }
}

impl Tx<'_, '_> {
    /// A successor's record, issued now, its expiry cut to its parent's if it has one.
    fn successor_record(&self, old: &Record, id: TokenId, how: Replacement) -> Result<Record> {
        let mut r = successor_record(old, id, self.now, how);
        if let Some(pe) = self.parent_expiry(old)? {
            r.expires_at = Some(r.expires_at.map_or(pe, |e| e.min(pe)));
        }
        Ok(r)
    }

    /// Everything that makes a stored token dead now, epochs read in this transaction (its own
    /// and its ancestors').
    pub(crate) fn judge(&self, r: &Record) -> Result<Result<(), Rejection>> {
        if r.revoked.is_none() {
            let line = line_of(
                r,
                self.now,
                |id| Ok(self.tables.get(id)?.map(|s| s.record)),
                |a| killed(a, |k| self.tables.epoch(k)),
            )?;
            if let Some(why) = line.rejection() {
                return Ok(Err(why));
            }
        }
        Ok(self.inner.judge_state(r, self.now))
    }

    /// Judges a token that a call acts on (the parent of a child, a token to renew or roll):
    /// like [`Self::judge`], and a rotated token whose grace window is over is refused. When its
    /// secret was presented (`presented`), that is a reuse, as at verify: the family is revoked
    /// in this transaction (the callers' are durable), and the answer is
    /// [`Rejection::ReuseDetected`].
    pub(crate) fn judge_target(
        &mut self,
        s: &Stored,
        presented: bool,
    ) -> Result<Result<(), Rejection>> {
        if self.reused(&s.record)? {
            if !presented {
                let successor = s.record.successor.map(|sc| sc.id.to_string());
                return Err(Error::InvalidArgument(format!(
                    "this token was rotated and its grace window is over; its successor is {}",
                    successor.unwrap_or_default()
                )));
            }
            self.revoke_chain(s)?;
            return Ok(Err(Rejection::ReuseDetected));
        }
        // A rotated token past its grace that is not a reuse is dead through its line.
        self.judge(&s.record)
    }

    /// The ids of a line from `first` up through its parents, as far as they are stored, at most
    /// [`MAX_ANCESTORS`] (what every check walks).
    pub(crate) fn line_ids(&self, first: Option<TokenId>) -> Result<Vec<TokenId>> {
        let mut ids = Vec::new();
        let mut next = first;
        while let Some(id) = next.filter(|_| ids.len() < MAX_ANCESTORS) {
            ids.push(id);
            next = self.tables.get(&id)?.and_then(|s| s.record.parent);
        }
        Ok(ids)
    }

    /// The expiry of the token's parent, if it has a parent that expires: a token derived from a
    /// child (its rotation successor) never outlives the parent either.
    fn parent_expiry(&self, r: &Record) -> Result<Option<Timestamp>> {
        let Some(parent) = r.parent else {
            return Ok(None);
        };
        Ok(self.tables.get(&parent)?.and_then(|p| p.record.expires_at))
    }

    /// Stores a new token, enforcing the per-subject cap first.
    pub(crate) fn insert_new(&mut self, s: &Stored, apply_cap: bool) -> Result<()> {
        if apply_cap {
            self.enforce_cap(&s.record)?;
        }
        if self.tables.get(&s.record.id)?.is_some() {
            return Err(Error::Internal("a new token id already exists".into()));
        }
        self.tables.put(None, s)?;
        if let Some(p) = s.record.parent {
            self.tables.add_child(&p, &s.record.id)?;
        }
        // Issued before an epoch still ahead (`revoke_issued_before` with a future instant): it
        // is dead already, and the cleanup of that epoch may have passed its place; queue it
        // again so that the purge removes this token too.
        // One killing epoch's cleanup is enough to remove it.
        if let Some(key) = killer(&s.record, |k| self.tables.epoch(k))? {
            self.tables.queue_cleanup(&key)?;
        }
        self.event(NewEvent::token(EventKind::Issued, s.record.id))
    }

    fn enforce_cap(&mut self, new: &Record) -> Result<()> {
        let (Some(subject), Some(&(max, policy))) =
            (&new.subject, self.inner.opts.caps.get(&new.kind))
        else {
            return Ok(());
        };
        // A rotated generation is the same session as its successor: it counts once, as the
        // newest generation.
        let superseded = |r: &Record| r.successor.is_some_and(|sc| sc.how == Replacement::Rotated);
        let mut live = Vec::new();
        for s in self.tables.of_subject(subject)? {
            let r = &s.record;
            if r.kind == new.kind && !superseded(r) && self.judge(r)?.is_ok() {
                live.push(s);
            }
        }
        if live.len() < max {
            return Ok(());
        }
        // The new token's own ancestors count, but are not evicted (a child would be issued
        // under a parent its own issue revoked), nor are their later rotated generations: an
        // eviction revokes a session's whole family, which would take the ancestor with it.
        let mut ancestors = self.line_ids(new.parent)?;
        for id in ancestors.clone() {
            if let Some(a) = self.tables.get(&id)? {
                ancestors.extend(self.later_generations(&a)?.iter().map(|g| g.record.id));
            }
        }
        let key = |s: &Stored| match policy {
            CapPolicy::EvictLeastRecentlyUsed => {
                let r = &s.record;
                let pending = self.inner.touches.latest(&r.id);
                (
                    r.last_used_at.max(pending).unwrap_or(r.created_at),
                    r.created_at,
                )
            }
            _ => (s.record.created_at, s.record.created_at),
        };
        match policy {
            CapPolicy::Refuse => Err(Error::LimitReached(format!(
                "subject {subject:?} already has {} live {} tokens (cap {max})",
                live.len(),
                new.kind
            ))),
            _ => {
                let excess = live.len() + 1 - max;
                live.retain(|s| !ancestors.contains(&s.record.id));
                if live.len() < excess {
                    return Err(Error::LimitReached(format!(
                        "subject {subject:?} is at its cap of {max} live {} tokens, and the \
                         ones to evict are this token's own ancestors",
                        new.kind
                    )));
                }
                live.sort_by_key(|s| key(s));
                for s in live.iter().take(excess) {
                    // Re-read: an earlier eviction's cascade may have reached it. A session
                    // goes with every generation of its rotation family.
                    if let Some(current) = self.tables.get(&s.record.id)? {
                        self.revoke_family(&current, RevokeReason::CapEviction)?;
                    }
                }
                Ok(())
            }
        }
    }

    /// Revokes a token and all its descendants (children, their children, ...). Returns how
    /// many were revoked.
    pub(crate) fn revoke_tree(&mut self, root: &Stored, reason: RevokeReason) -> Result<usize> {
        let mut n = 0;
        let mut stack = vec![(root.clone(), reason)];
        // Each token once: a damaged file (or an import from before cycles were refused) may
        // hold a parent cycle, which would otherwise keep this walk going for ever.
        let mut seen = std::collections::HashSet::new();
        while let Some((s, why)) = stack.pop() {
            if !seen.insert(s.record.id) {
                continue;
            }
            for child in self.tables.children_of(&s.record.id)? {
                if let Some(c) = self.tables.get(&child)? {
                    stack.push((c, RevokeReason::Cascade));
                }
            }
            if s.record.revoked.is_some() {
                continue;
            }
            let mut new = s.clone();
            new.record.revoked = Some(Revocation {
                at: self.now,
                reason: why,
            });
            self.tables.put(Some(&s), &new)?;
            self.event(NewEvent {
                reason: Some(why),
                ..NewEvent::token(EventKind::Revoked, s.record.id)
            })?;
            n += 1;
        }
        Ok(n)
    }

    /// Revokes a token with its descendants and, when it belongs to a rotation family, every
    /// generation linked to it by a rotation: logging out with the token of an older generation
    /// (a client whose rotation answer was lost) ends the session, and so does revoking the
    /// newest while an older one is inside its grace window. A rolled API key's generations stay
    /// apart: revoking the old key in its grace window leaves the new one.
    pub(crate) fn revoke_family(&mut self, s: &Stored, why: RevokeReason) -> Result<usize> {
        let earlier = self.earlier_generations(s)?;
        let later = self.later_generations(s)?;
        let mut n = self.revoke_tree(s, why)?;
        let ids: Vec<TokenId> = earlier.iter().chain(&later).map(|g| g.record.id).collect();
        for id in ids {
            // Read again: a cascade may have revoked it already.
            if let Some(current) = self.tables.get(&id)? {
                n += self.revoke_tree(&current, why)?;
            }
        }
        Ok(n)
    }

    /// The generations that `s` was made from by rotations, nearest first, as stored: walked
    /// from its family's first generation (which the purge moves to the first one stored), up
    /// to `s`, keeping those linked to `s` by rotations alone (a roll in between starts a new
    /// key). Empty if `s` is not on its family's stored chain (`s` itself need not be stored).
    pub(crate) fn earlier_generations(&self, s: &Stored) -> Result<Vec<Stored>> {
        self.earlier_generations_with(s, |id| self.tables.get(id))
    }

    /// [`Self::earlier_generations`], reading each generation through `get` (the purge's, which
    /// also sees the rows its batch took out of the table).
    pub(crate) fn earlier_generations_with(
        &self,
        s: &Stored,
        get: impl Fn(&TokenId) -> Result<Option<Stored>>,
    ) -> Result<Vec<Stored>> {
        let Some(root) = s.record.family else {
            return Ok(Vec::new());
        };
        let mut chain = Vec::new();
        let mut seen = HashSet::new();
        let mut next = Some(root);
        // `s` itself is not read: the purge has it out of the table already.
        while let Some(id) = next.take() {
            if id == s.record.id {
                let linked = chain.iter().rev().take_while(|g: &&Stored| {
                    g.record
                        .successor
                        .is_some_and(|sc| sc.how == Replacement::Rotated)
                });
                return Ok(linked.cloned().collect());
            }
            // Unbounded but for a cycle, which only a damaged file has: a cap on the length
            // would let a thief rotating a stolen token past it keep the newest generation
            // when the family is revoked.
            if !seen.insert(id) {
                break;
            }
            let Some(g) = get(&id)? else {
                break;
            };
            next = g.record.successor.map(|sc| sc.id);
            chain.push(g);
        }
        Ok(Vec::new())
    }

    /// The generations that rotations made from `s`, oldest first, as stored (up to the first
    /// one that is not).
    pub(crate) fn later_generations(&self, s: &Stored) -> Result<Vec<Stored>> {
        self.successors(s, true)
    }

    /// The generations made from `s` by rotations (and by rolls, unless `rotations_only`),
    /// oldest first, as stored (up to the first one that is not).
    pub(crate) fn successors(&self, s: &Stored, rotations_only: bool) -> Result<Vec<Stored>> {
        let mut later = Vec::new();
        let mut seen = HashSet::from([s.record.id]);
        let mut next = s.record.successor;
        while let Some(sc) = next.filter(|sc| !rotations_only || sc.how == Replacement::Rotated) {
            // As long as the family is, but for a damaged file's cycle (see
            // `earlier_generations_with`).
            if !seen.insert(sc.id) {
                break;
            }
            let Some(g) = self.tables.get(&sc.id)? else {
                break;
            };
            next = g.record.successor;
            later.push(g);
        }
        Ok(later)
    }

    /// Revokes the family of a reused token: every generation linked to it by rotations, the
    /// earlier ones too (and the children of each), as [`Self::revoke_family`].
    fn revoke_chain(&mut self, from: &Stored) -> Result<usize> {
        self.revoke_family(from, RevokeReason::Reuse)
    }

    /// Whether presenting this token is the reuse of a rotated generation: not revoked, rotated,
    /// its grace window over, and not dead through its line already (revoking its family again
    /// would add nothing). Judged before its expiry and idle timeout: a stolen generation that
    /// an attacker rotated stays a reuse when the client presents it after it expired.
    pub(crate) fn reused(&self, r: &Record) -> Result<bool> {
        if !rotated_out(r, self.now) {
            return Ok(false);
        }
        Ok(self.line(r)? != Line::Revoked)
    }

    /// What an epoch and the token's stored ancestors say of it ([`line_of`]).
    pub(crate) fn line(&self, r: &Record) -> Result<Line> {
        line_of(
            r,
            self.now,
            |id| Ok(self.tables.get(id)?.map(|s| s.record)),
            |a| killed(a, |k| self.tables.epoch(k)),
        )
    }
}

impl Inner {
    fn prefix(&self, kind: Kind) -> &str {
        match kind {
            Kind::Session => &self.opts.session_prefix,
            Kind::ApiKey => &self.opts.api_key_prefix,
        }
    }

    pub(crate) fn issue_child(&self, parent: TokenRef<'_>, req: &IssueRequest) -> Result<Child> {
        let parent = self.resolve(parent)?;
        let now = self.opts.clock.now();
        let (id, secret) = token_text::generate(now)?;
        let record = req.build(&self.opts, id, now)?;
        let prefix = self.prefix(record.kind).to_owned();
        let hash = secret_hash(&self.key, &id, &secret);
        let key_version = self.key.version;
        let token = token_text::format(&prefix, &id, &secret);
        // Durable whatever the issue durability: it may spend a use of a limited-use parent (or
        // evict a token under the subject's cap), and neither may come back after a crash.
        let made = self.write(Commit::Durable, move |tx| {
            let p = parent.load(tx)?;
            if let Err(why) = tx.judge_target(&p, parent.presented())? {
                return Ok(Err(why));
            }
            // Every check walks a token's ancestors up to MAX_ANCESTORS: a deeper child would
            // escape its line's epochs and expiries.
            if 1 + tx.line_ids(p.record.parent)?.len() >= MAX_ANCESTORS {
                return Err(Error::InvalidArgument(format!(
                    "a child is at most {} levels below its first ancestor",
                    MAX_ANCESTORS - 1
                )));
            }
            if p.record.max_uses.is_some() {
                // A limited-use token spends a use on each child (a one-time link exchanged
                // for a session), like a verify that accepts it.
                let mut used = p.clone();
                used.record.uses += 1;
                used.record.last_used_at = Some(tx.now);
                tx.tables.put(Some(&p), &used)?;
                tx.event(NewEvent::token(EventKind::Used, p.record.id))?;
            }
            // A clone: the job runs again if another in its batch fails.
            let mut record = record.clone();
            record.parent = Some(p.record.id);
            let mut clamped = false;
            if let Some(pe) = p.record.expires_at {
                if record.expires_at.is_none_or(|e| e > pe) {
                    record.expires_at = Some(pe);
                    clamped = true;
                }
            }
            let stored = Stored {
                record: record.clone(),
                key_version,
                hash,
            };
            tx.insert_new(&stored, true)?;
            Ok(Ok((stored.record, clamped)))
        })?;
        let (record, clamped) = made.map_err(Error::Rejected)?;
        Ok(Child {
            issued: Issued { token, record },
            clamped,
        })
    }

    pub(crate) fn rotate(&self, text: &[u8]) -> Result<Issued> {
        let p = self.parse(text).map_err(Error::Rejected)?;
        let kind = self.kind_of_prefix(p.prefix);
        let (id, hash) = (p.id, secret_hash(&self.key, &p.id, &p.secret));
        let (succ_id, succ_secret) = successor_of(&self.key, &p.id, &p.secret);
        let succ_hash = secret_hash(&self.key, &succ_id, &succ_secret);
        let (grace, key_version) = (self.opts.rotation_grace, self.key.version);
        let outcome = self.write(
            Commit::Durable,
            move |tx| -> Result<Result<Record, Rejection>> {
                let Some(old) = tx.tables.get(&id)? else {
                    return Ok(Err(Rejection::Unknown));
                };
                if let Err(why) = tx.inner.judge_secret(&old, &hash) {
                    return Ok(Err(why));
                }
                if kind.is_some_and(|k| k != old.record.kind) {
                    return Ok(Err(Rejection::Malformed(MalformedReason::Prefix)));
                }
                if tx.reused(&old.record)? {
                    tx.revoke_chain(&old)?;
                    return Ok(Err(Rejection::ReuseDetected));
                }
                if let Err(why) = tx.judge(&old.record)? {
                    return Ok(Err(why));
                }
                if let Some(sc) = old.record.successor {
                    if sc.how == Replacement::Rolled {
                        return Err(Error::InvalidArgument(
                            "this key was rolled; it cannot also be rotated".into(),
                        ));
                    }
                    if sc.id != succ_id {
                        return Err(Error::Internal(
                            "a rotation successor does not match".into(),
                        ));
                    }
                    if tx.now >= sc.grace_until {
                        tx.revoke_chain(&old)?;
                        return Ok(Err(Rejection::ReuseDetected));
                    }
                    // A retry inside the grace window: the same successor, judged as presenting
                    // it would be. Rotated on in turn and past its own grace (a grace window
                    // shortened since, or a clock set back), it is a reuse already: handing it
                    // out would only hand out a token that its next use revokes.
                    return match tx.tables.get(&sc.id)? {
                        Some(s) if tx.reused(&s.record)? => {
                            tx.revoke_chain(&s)?;
                            Ok(Err(Rejection::ReuseDetected))
                        }
                        Some(s) => Ok(tx.judge(&s.record)?.map(|()| s.record)),
                        None => Ok(Err(Rejection::Unknown)),
                    };
                }
                refuse_limited_use(&old.record, "rotated")?;
                let new = Stored {
                    record: tx.successor_record(&old.record, succ_id, Replacement::Rotated)?,
                    key_version,
                    hash: succ_hash,
                };
                tx.insert_new(&new, false)?;
                let mut rotated = old.clone();
                rotated.record.successor = Some(Successor {
                    id: succ_id,
                    at: tx.now,
                    grace_until: tx.now.saturating_add(grace),
                    how: Replacement::Rotated,
                });
                tx.tables.put(Some(&old), &rotated)?;
                tx.event(NewEvent::token(EventKind::Rotated, id))?;
                Ok(Ok(new.record))
            },
        )?;
        let record = outcome.map_err(Error::Rejected)?;
        let token = token_text::format(self.prefix(record.kind), &succ_id, &succ_secret);
        Ok(Issued { token, record })
    }

    pub(crate) fn roll(&self, target: TokenRef<'_>, grace: Duration) -> Result<Issued> {
        if !crate::options::whole_grace(grace) {
            return Err(Error::InvalidArgument(
                crate::options::GRACE_UNDER_A_MILLISECOND.into(),
            ));
        }
        let target = self.resolve(target)?;
        let (new_id, new_secret) = token_text::generate(self.opts.clock.now())?;
        let new_hash = secret_hash(&self.key, &new_id, &new_secret);
        let key_version = self.key.version;
        let rolled = self.write(Commit::Durable, move |tx| {
            let old = target.load(tx)?;
            if old.record.kind != Kind::ApiKey {
                return Err(Error::InvalidArgument(
                    "only API keys are rolled; rotate sessions".into(),
                ));
            }
            if let Err(why) = tx.judge_target(&old, target.presented())? {
                return Ok(Err(why));
            }
            if let Some(sc) = old.record.successor {
                return Err(Error::InvalidArgument(format!(
                    "this key was already replaced by {}",
                    sc.id
                )));
            }
            refuse_limited_use(&old.record, "rolled")?;
            let new = Stored {
                record: tx.successor_record(&old.record, new_id, Replacement::Rolled)?,
                key_version,
                hash: new_hash,
            };
            tx.insert_new(&new, false)?;
            let until = tx.now.saturating_add(grace);
            let mut rolled = old.clone();
            rolled.record.expires_at = Some(old.record.expires_at.map_or(until, |e| e.min(until)));
            rolled.record.successor = Some(Successor {
                id: new_id,
                at: tx.now,
                grace_until: until,
                how: Replacement::Rolled,
            });
            tx.tables.put(Some(&old), &rolled)?;
            tx.event(NewEvent::token(EventKind::Rolled, old.record.id))?;
            Ok(Ok(new.record))
        })?;
        let record = rolled.map_err(Error::Rejected)?;
        let token = token_text::format(self.prefix(record.kind), &new_id, &new_secret);
        Ok(Issued { token, record })
    }

    pub(crate) fn revoke_before(&self, scope: RevokeScope, before: Timestamp) -> Result<()> {
        let now = self.opts.clock.now();
        if before > now.saturating_add(MAX_CUTOFF_AHEAD) {
            return Err(Error::InvalidArgument(format!(
                "the cutoff {before} is more than a day after the store's clock ({now}): every \
                 token issued until then would be revoked as it is issued, for good (a time in \
                 microseconds where milliseconds are expected?)"
            )));
        }
        if before < EARLIEST_CUTOFF && now >= EARLIEST_CUTOFF {
            return Err(Error::InvalidArgument(format!(
                "the cutoff {before} is before {EARLIEST_CUTOFF}, and the store's clock is at \
                 {now}: cutoffs that early are refused, as a time in seconds where milliseconds \
                 are expected reads as January 1970 (pass a later cutoff)"
            )));
        }
        let key = scope.key();
        let label = scope.label();
        let k = key.clone();
        let in_force = self.write(Commit::Durable, move |tx| {
            let t = tx.tables.raise_epoch(&k, before)?;
            tx.event(NewEvent {
                kind: EventKind::RevokedBefore,
                token: None,
                reason: None,
                scope: Some(&label),
                count: 0,
                cutoff: Some(before),
            })?;
            Ok(t)
        })?;
        self.epochs.raise(key, in_force);
        Ok(())
    }

    /// Counts one use of a limited-use token that passed every read-only check.
    pub(crate) fn consume(&self, id: TokenId) -> Result<Result<Record, Rejection>> {
        self.write(Commit::Durable, move |tx| {
            let Some(old) = tx.tables.get(&id)? else {
                return Ok(Err(Rejection::Unknown));
            };
            if let Err(why) = tx.judge(&old.record)? {
                return Ok(Err(why));
            }
            let mut new = old.clone();
            new.record.uses += 1;
            new.record.last_used_at = Some(tx.now);
            tx.tables.put(Some(&old), &new)?;
            tx.event(NewEvent::token(EventKind::Used, id))?;
            Ok(Ok(new.record))
        })
    }

    /// Revokes a rotated token's family after verify detected its reuse (`seen`: the token as
    /// verify read it). If the purge removed the token since (its retention ended meanwhile),
    /// the generations rotated from it are revoked still: they are the thief's.
    pub(crate) fn on_reuse(&self, seen: Stored) -> Result<()> {
        self.write(Commit::Durable, move |tx| {
            match tx.tables.get(&seen.record.id)? {
                Some(old) => {
                    tx.revoke_chain(&old)?;
                }
                None => {
                    for g in tx.later_generations(&seen)? {
                        tx.revoke_tree(&g, RevokeReason::Reuse)?;
                    }
                }
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::{IssueRequest, Options, Rejection, Store};

    /// Verify reads a reused generation, then revokes its family in a write of its own: if the
    /// purge removed the generation in between (its retention ended meanwhile), the generations
    /// rotated from it (the thief's) are revoked still. Before, nothing was, and the answer
    /// said the reuse was detected.
    #[test]
    fn a_reuse_whose_token_was_purged_meanwhile_still_revokes_the_thief_s_generations() {
        let store = Store::in_memory(Options::new()).unwrap();
        let first = store.issue(&IssueRequest::session("fay")).unwrap();
        let second = store.rotate(first.token.as_str()).unwrap();
        let inner = store.checked().unwrap();
        let id = first.record.id;
        let seen = inner
            .write(crate::write::Commit::Durable, move |tx| {
                let s = tx.tables.get(&id)?.expect("stored");
                tx.tables.delete(&s)?;
                Ok(s)
            })
            .unwrap();
        inner.on_reuse(seen).unwrap();
        assert_eq!(
            store.verify(second.token.as_str()).unwrap().rejection(),
            Some(Rejection::Revoked)
        );
    }
}
