//! Token records: what a token is, and its compact, versioned binary encoding on disk.
//!
//! Encoding, version 1 (integers are LEB128 varints, times are zigzag varints of Unix
//! milliseconds, strings are a varint length then UTF-8 bytes):
//!
//! ```text
//! u8  format (1)        u8 kind         u16 LE presence flags     u8 key version
//! [32] keyed hash of the secret
//! created_at   [expires_at] [idle_timeout] [max_lifetime] [last_used_at] [uses] [max_uses]
//! [parent: 16 bytes] [revoked_at, u8 reason] [family: 16 bytes] [family_created_at]
//! [successor: 16 bytes, at, grace_until, u8 how (1 rotated, 2 rolled)]
//! tenant [subject] scopes [label] [metadata bytes]
//! ```
//!
//! `scopes` is the space-separated string, or (flag 13) the 8-byte id of a scope set interned
//! in the `scope_sets` table: a store's tokens share a few scope sets, and a token's row
//! shrinks by the length of the string.
//!
//! Bracketed fields are present only when their flag is set, so a field that is absent cannot be
//! mistaken for a sentinel value. A flag this version does not know is an error ("written by a
//! newer tessera"), never silently ignored.

use std::fmt;
use std::time::Duration;

use crate::clock::{duration_millis, earliest, Timestamp};
use crate::error::Error;
use crate::token_text::TokenId;

/// What a token is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Kind {
    /// A login: many per subject, one per device.
    Session,
    /// An API key: owned by a tenant, optionally by a subject, scoped, long-lived.
    ApiKey,
}

impl Kind {
    /// The stable name: `session` or `api_key`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Session => "session",
            Kind::ApiKey => "api_key",
        }
    }

    /// The kind with this stable name.
    pub fn from_name(name: &str) -> Option<Kind> {
        match name {
            "session" => Some(Kind::Session),
            "api_key" => Some(Kind::ApiKey),
            _ => None,
        }
    }

    fn code(self) -> u8 {
        match self {
            Kind::Session => 1,
            Kind::ApiKey => 2,
        }
    }

    fn from_code(c: u8) -> Option<Kind> {
        match c {
            1 => Some(Kind::Session),
            2 => Some(Kind::ApiKey),
            _ => None,
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a token was revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RevokeReason {
    /// Revoked by its own text (a logout).
    Logout,
    /// Revoked by id (an administrator or an operator).
    ById,
    /// Revoked with all of its subject's tokens.
    Subject,
    /// Revoked with all of its tenant's tokens.
    Tenant,
    /// Revoked because its parent (or an ancestor) was revoked.
    Cascade,
    /// Revoked because an old token of its rotation family was reused after its grace window.
    Reuse,
    /// Evicted to keep its subject under the per-subject cap.
    CapEviction,
}

impl RevokeReason {
    /// The stable name, e.g. `logout`.
    pub fn as_str(self) -> &'static str {
        match self {
            RevokeReason::Logout => "logout",
            RevokeReason::ById => "by_id",
            RevokeReason::Subject => "subject",
            RevokeReason::Tenant => "tenant",
            RevokeReason::Cascade => "cascade",
            RevokeReason::Reuse => "reuse",
            RevokeReason::CapEviction => "cap_eviction",
        }
    }

    /// The reason with this stable name.
    pub fn from_name(name: &str) -> Option<Self> {
        (1..=7)
            .filter_map(Self::from_code)
            .find(|r| r.as_str() == name)
    }

    fn code(self) -> u8 {
        match self {
            RevokeReason::Logout => 1,
            RevokeReason::ById => 2,
            RevokeReason::Subject => 3,
            RevokeReason::Tenant => 4,
            RevokeReason::Cascade => 5,
            RevokeReason::Reuse => 6,
            RevokeReason::CapEviction => 7,
        }
    }

    fn from_code(c: u8) -> Option<Self> {
        match c {
            1 => Some(RevokeReason::Logout),
            2 => Some(RevokeReason::ById),
            3 => Some(RevokeReason::Subject),
            4 => Some(RevokeReason::Tenant),
            5 => Some(RevokeReason::Cascade),
            6 => Some(RevokeReason::Reuse),
            7 => Some(RevokeReason::CapEviction),
            _ => None,
        }
    }
}

impl fmt::Display for RevokeReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The scopes of a token: a set of names without whitespace, kept in one string (so that a
/// verify allocates once for them, however many there are). Iterate with `for s in &scopes`.
#[derive(Clone, PartialEq, Eq, Default, Hash)]
pub struct Scopes(String);

impl Scopes {
    /// No scopes.
    pub fn new() -> Self {
        Scopes(String::new())
    }

    /// Scopes from names (each non-empty, without whitespace, at most 255 bytes), skipping
    /// duplicates.
    pub fn from_names<S: AsRef<str>>(names: impl IntoIterator<Item = S>) -> Result<Self, Error> {
        let names: Vec<S> = names.into_iter().collect();
        for n in &names {
            crate::issue::check_scope(n.as_ref())?;
        }
        Ok(Scopes::from_checked(names))
    }

    /// Scopes from names, skipping duplicates. The caller has checked that each name is
    /// non-empty and has no whitespace.
    pub(crate) fn from_checked<S: AsRef<str>>(names: impl IntoIterator<Item = S>) -> Self {
        let mut out = Scopes::new();
        for n in names {
            let n = n.as_ref();
            if !out.contains(n) {
                if !out.0.is_empty() {
                    out.0.push(' ');
                }
                out.0.push_str(n);
            }
        }
        out
    }

    /// Scopes as a record stores them (already checked when they were written).
    pub(crate) fn from_stored(text: String) -> Self {
        Scopes(text)
    }

    /// The scopes, in the order they were given.
    pub fn iter(&self) -> std::str::SplitAsciiWhitespace<'_> {
        self.0.split_ascii_whitespace()
    }

    /// Whether `scope` is one of them.
    pub fn contains(&self, scope: &str) -> bool {
        self.iter().any(|s| s == scope)
    }

    /// How many there are.
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The scopes separated by single spaces (the OAuth `scope` form).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The scopes as owned strings.
    pub fn to_vec(&self) -> Vec<String> {
        self.iter().map(str::to_owned).collect()
    }
}

impl<'a> IntoIterator for &'a Scopes {
    type Item = &'a str;
    type IntoIter = std::str::SplitAsciiWhitespace<'a>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl fmt::Debug for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// How a token was replaced by a successor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Replacement {
    /// `rotate`: the old secret works until the grace window ends; presenting it later is reuse.
    Rotated,
    /// `roll` (API keys): the old key works until the grace period ends, then expires.
    Rolled,
}

/// A token's successor, once it was rotated or rolled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Successor {
    /// The successor's id.
    pub id: TokenId,
    /// When the old token was replaced.
    pub at: Timestamp,
    /// Until when the old token keeps working.
    pub grace_until: Timestamp,
    /// Rotation or roll.
    pub how: Replacement,
}

/// When and why a token was revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Revocation {
    /// When.
    pub at: Timestamp,
    /// Why.
    pub reason: RevokeReason,
}

/// Everything the store knows about a token, except its secret (which it never knows) and the
/// keyed hash of that secret (which only an export carries, with the store key).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Record {
    /// The public id.
    pub id: TokenId,
    /// Session or API key.
    pub kind: Kind,
    /// The organization the token belongs to (`""` when the host has no tenants).
    pub tenant: String,
    /// The user the token was issued to; always present for sessions.
    pub subject: Option<String>,
    /// What the token may do, as the host defines it.
    pub scopes: Scopes,
    /// A human-readable name ("Jenkins deploy key", "Firefox on Linux").
    pub label: Option<String>,
    /// Opaque bytes for the host (device information, for example).
    pub metadata: Vec<u8>,
    /// When it was issued.
    pub created_at: Timestamp,
    /// When it expires (absolute), already capped by `max_lifetime`. `None`: never.
    pub expires_at: Option<Timestamp>,
    /// It dies after this long without use.
    pub idle_timeout: Option<Duration>,
    /// Renewal never takes `expires_at` past `created_at + max_lifetime`.
    pub max_lifetime: Option<Duration>,
    /// The last successful verify or renewal (see [`crate::Options::flush_interval`] for how stale
    /// it may be).
    pub last_used_at: Option<Timestamp>,
    /// Successful verifies counted against `max_uses`.
    pub uses: u64,
    /// The number of successful verifies allowed, for limited-use tokens.
    pub max_uses: Option<u64>,
    /// The token this one was derived from (a child token).
    pub parent: Option<TokenId>,
    /// The first token of its family, for a successor (a rotated session's later generation, or
    /// a rolled API key's new key); `None` for every other token, the first generation
    /// included.
    pub family: Option<TokenId>,
    /// For a rotated session's later generation: when the family's first generation was issued.
    /// Cutoffs of [`crate::Store::revoke_issued_before`] judge the generation by it, as the
    /// session it continues (the successor's secret derives from the old one's: whoever held
    /// the old token holds the session). `None` for every other token, a rolled key included (a
    /// new key, often rolled because the old one leaked).
    pub family_created_at: Option<Timestamp>,
    /// Set once the token was rotated or rolled.
    pub successor: Option<Successor>,
    /// Set once the token is revoked.
    pub revoked: Option<Revocation>,
}

impl Record {
    /// A record with only its identity set: for tools that rebuild records (an import), which
    /// then set the public fields they need.
    pub fn new(id: TokenId, kind: Kind, created_at: Timestamp) -> Record {
        Record {
            id,
            kind,
            tenant: String::new(),
            subject: None,
            scopes: Scopes::new(),
            label: None,
            metadata: Vec::new(),
            created_at,
            expires_at: None,
            idle_timeout: None,
            max_lifetime: None,
            last_used_at: None,
            uses: 0,
            max_uses: None,
            parent: None,
            family: None,
            family_created_at: None,
            successor: None,
            revoked: None,
        }
    }

    /// The instant the token stops being valid without any further use: the earlier of its
    /// absolute expiry and its idle deadline (from `last_used_at`, or `created_at` if never used).
    pub fn deadline(&self) -> Option<Timestamp> {
        earliest(self.expires_at, self.idle_deadline())
    }

    /// When the token counts as issued for the cutoffs of
    /// [`crate::Store::revoke_issued_before`]: a rotated session's later generation as its first
    /// generation ([`Record::family_created_at`]), every other token at its `created_at`.
    pub fn issued_for_cutoffs(&self) -> Timestamp {
        self.family_created_at
            .map_or(self.created_at, |f| f.min(self.created_at))
    }

    /// The idle deadline alone.
    pub fn idle_deadline(&self) -> Option<Timestamp> {
        self.idle_timeout.map(|t| {
            self.last_used_at
                .unwrap_or(self.created_at)
                .max(self.created_at)
                .saturating_add(t)
        })
    }

    /// Whether, at `now`, the record alone says the token is neither revoked nor past any
    /// deadline. It cannot see `revoke_issued_before` cutoffs or uses not yet written: ask
    /// [`crate::Store::state`] for the store's own judgement.
    pub fn is_live(&self, now: Timestamp) -> bool {
        self.revoked.is_none()
            && self.deadline().is_none_or(|d| d > now)
            && self.max_uses.is_none_or(|m| self.uses < m)
    }

    /// Whether the token grants every one of `scopes`.
    pub fn has_scopes<S: AsRef<str>>(&self, scopes: &[S]) -> bool {
        scopes.iter().all(|s| self.scopes.contains(s.as_ref()))
    }
}

/// A record as stored: the record plus the hash of its secret.
#[derive(Clone)]
pub(crate) struct Stored {
    pub(crate) record: Record,
    pub(crate) key_version: u8,
    pub(crate) hash: [u8; 32],
}

impl fmt::Debug for Stored {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Stored")
            .field("record", &self.record)
            .field("hash", &"<redacted>")
            .finish()
    }
}

const FORMAT: u8 = 1;
const F_EXPIRES: u16 = 1 << 0;
const F_IDLE: u16 = 1 << 1;
const F_MAX_LIFE: u16 = 1 << 2;
const F_LAST_USED: u16 = 1 << 3;
const F_USES: u16 = 1 << 4;
const F_MAX_USES: u16 = 1 << 5;
const F_PARENT: u16 = 1 << 6;
const F_REVOKED: u16 = 1 << 7;
const F_SUBJECT: u16 = 1 << 8;
const F_LABEL: u16 = 1 << 9;
const F_METADATA: u16 = 1 << 10;
const F_FAMILY: u16 = 1 << 11;
const F_SUCCESSOR: u16 = 1 << 12;
const F_SCOPE_SET: u16 = 1 << 13;
const F_FAMILY_CREATED: u16 = 1 << 14;
const F_KNOWN: u16 = (1 << 15) - 1;

/// The id of an interned scope set (see `storage::ScopeSets`).
pub(crate) type ScopeSetId = [u8; 8];

impl Stored {
    /// The record's bytes. `set`: the id its scopes are interned under, written instead of them.
    pub(crate) fn encode(&self, scope_set: Option<ScopeSetId>) -> Vec<u8> {
        let r = &self.record;
        let mut flags = 0u16;
        let mut set = |cond: bool, f: u16| {
            if cond {
                flags |= f
            }
        };
        set(r.expires_at.is_some(), F_EXPIRES);
        set(r.idle_timeout.is_some(), F_IDLE);
        set(r.max_lifetime.is_some(), F_MAX_LIFE);
        set(r.last_used_at.is_some(), F_LAST_USED);
        set(r.uses != 0, F_USES);
        set(r.max_uses.is_some(), F_MAX_USES);
        set(r.parent.is_some(), F_PARENT);
        set(r.revoked.is_some(), F_REVOKED);
        set(r.subject.is_some(), F_SUBJECT);
        set(r.label.is_some(), F_LABEL);
        set(!r.metadata.is_empty(), F_METADATA);
        set(r.family.is_some(), F_FAMILY);
        set(r.successor.is_some(), F_SUCCESSOR);
        set(scope_set.is_some(), F_SCOPE_SET);
        set(r.family_created_at.is_some(), F_FAMILY_CREATED);

        let mut out = Vec::with_capacity(64 + r.tenant.len() + r.metadata.len());
        out.push(FORMAT);
        out.push(r.kind.code());
        out.extend_from_slice(&flags.to_le_bytes());
        out.push(self.key_version);
        out.extend_from_slice(&self.hash);
        put_time(&mut out, r.created_at);
        if let Some(t) = r.expires_at {
            put_time(&mut out, t);
        }
        if let Some(d) = r.idle_timeout {
            put_varint(&mut out, duration_millis(d) as u64);
        }
        if let Some(d) = r.max_lifetime {
            put_varint(&mut out, duration_millis(d) as u64);
        }
        if let Some(t) = r.last_used_at {
            put_time(&mut out, t);
        }
        if r.uses != 0 {
            put_varint(&mut out, r.uses);
        }
        if let Some(m) = r.max_uses {
            put_varint(&mut out, m);
        }
        if let Some(p) = r.parent {
            out.extend_from_slice(&p.0);
        }
        if let Some(rv) = r.revoked {
            put_time(&mut out, rv.at);
            out.push(rv.reason.code());
        }
        if let Some(f) = r.family {
            out.extend_from_slice(&f.0);
        }
        if let Some(t) = r.family_created_at {
            put_time(&mut out, t);
        }
        if let Some(sc) = r.successor {
            out.extend_from_slice(&sc.id.0);
            put_time(&mut out, sc.at);
            put_time(&mut out, sc.grace_until);
            out.push(match sc.how {
                Replacement::Rotated => 1,
                Replacement::Rolled => 2,
            });
        }
        put_bytes(&mut out, r.tenant.as_bytes());
        if let Some(s) = &r.subject {
            put_bytes(&mut out, s.as_bytes());
        }
        match scope_set {
            Some(id) => out.extend_from_slice(&id),
            None => put_bytes(&mut out, r.scopes.as_str().as_bytes()),
        }
        if let Some(l) = &r.label {
            put_bytes(&mut out, l.as_bytes());
        }
        if !r.metadata.is_empty() {
            put_bytes(&mut out, &r.metadata);
        }
        out
    }

    /// Decodes a record; `scope_set` looks up the scopes of an interned scope set.
    pub(crate) fn decode(
        id: TokenId,
        bytes: &[u8],
        scope_set: impl FnOnce(&ScopeSetId) -> Result<Scopes, Error>,
    ) -> Result<Stored, Error> {
        let mut rd = Reader { b: bytes, id };
        let format = rd.u8()?;
        if format != FORMAT {
            return Err(rd.corrupt(&format!(
                "record format {format} is not known to this version of tessera"
            )));
        }
        let kind = Kind::from_code(rd.u8()?).ok_or_else(|| rd.corrupt("unknown token kind"))?;
        let flags = u16::from_le_bytes([rd.u8()?, rd.u8()?]);
        if flags & !F_KNOWN != 0 {
            return Err(rd.corrupt("record written by a newer version of tessera"));
        }
        let key_version = rd.u8()?;
        let mut hash = [0u8; 32];
        hash.copy_from_slice(rd.take(32)?);
        let has = |f: u16| flags & f != 0;
        let created_at = rd.time()?;
        let expires_at = if has(F_EXPIRES) {
            Some(rd.time()?)
        } else {
            None
        };
        let idle_timeout = if has(F_IDLE) {
            Some(rd.duration()?)
        } else {
            None
        };
        let max_lifetime = if has(F_MAX_LIFE) {
            Some(rd.duration()?)
        } else {
            None
        };
        let last_used_at = if has(F_LAST_USED) {
            Some(rd.time()?)
        } else {
            None
        };
        let uses = if has(F_USES) { rd.varint()? } else { 0 };
        let max_uses = if has(F_MAX_USES) {
            Some(rd.varint()?)
        } else {
            None
        };
        let parent = if has(F_PARENT) { Some(rd.id()?) } else { None };
        let revoked = if has(F_REVOKED) {
            let at = rd.time()?;
            let reason = RevokeReason::from_code(rd.u8()?)
                .ok_or_else(|| rd.corrupt("unknown revocation reason"))?;
            Some(Revocation { at, reason })
        } else {
            None
        };
        let family = if has(F_FAMILY) { Some(rd.id()?) } else { None };
        let family_created_at = if has(F_FAMILY_CREATED) {
            Some(rd.time()?)
        } else {
            None
        };
        let successor = if has(F_SUCCESSOR) {
            let id = rd.id()?;
            let at = rd.time()?;
            let grace_until = rd.time()?;
            let how = match rd.u8()? {
                1 => Replacement::Rotated,
                2 => Replacement::Rolled,
                _ => return Err(rd.corrupt("unknown replacement kind")),
            };
            Some(Successor {
                id,
                at,
                grace_until,
                how,
            })
        } else {
            None
        };
        let tenant = rd.string()?;
        let subject = if has(F_SUBJECT) {
            Some(rd.string()?)
        } else {
            None
        };
        let scopes = if has(F_SCOPE_SET) {
            let mut set = [0u8; 8];
            set.copy_from_slice(rd.take(8)?);
            scope_set(&set)?
        } else {
            Scopes(rd.string()?)
        };
        let label = if has(F_LABEL) {
            Some(rd.string()?)
        } else {
            None
        };
        let metadata = if has(F_METADATA) {
            rd.bytes()?.to_vec()
        } else {
            Vec::new()
        };
        if !rd.b.is_empty() {
            return Err(rd.corrupt("trailing bytes"));
        }
        Ok(Stored {
            record: Record {
                id,
                kind,
                tenant,
                subject,
                scopes,
                label,
                metadata,
                created_at,
                expires_at,
                idle_timeout,
                max_lifetime,
                last_used_at,
                uses,
                max_uses,
                parent,
                family,
                family_created_at,
                successor,
                revoked,
            },
            key_version,
            hash,
        })
    }
}

pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

pub(crate) fn put_time(out: &mut Vec<u8>, t: Timestamp) {
    let v = t.as_unix_millis();
    put_varint(out, ((v << 1) ^ (v >> 63)) as u64);
}

pub(crate) fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

pub(crate) struct Reader<'a> {
    pub(crate) b: &'a [u8],
    pub(crate) id: TokenId,
}

impl<'a> Reader<'a> {
    pub(crate) fn corrupt(&self, what: &str) -> Error {
        Error::Corrupt(format!("record of token {}: {what}", self.id))
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], Error> {
        if self.b.len() < n {
            return Err(self.corrupt("truncated"));
        }
        let (head, tail) = self.b.split_at(n);
        self.b = tail;
        Ok(head)
    }

    pub(crate) fn id(&mut self) -> Result<TokenId, Error> {
        let mut p = [0u8; 16];
        p.copy_from_slice(self.take(16)?);
        Ok(TokenId(p))
    }

    pub(crate) fn u8(&mut self) -> Result<u8, Error> {
        Ok(self.take(1)?[0])
    }

    pub(crate) fn varint(&mut self) -> Result<u64, Error> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.u8()?;
            v |= u64::from(byte & 0x7F) << shift;
            if byte & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(self.corrupt("varint too long"))
    }

    pub(crate) fn time(&mut self) -> Result<Timestamp, Error> {
        let z = self.varint()?;
        Ok(Timestamp::from_unix_millis(
            ((z >> 1) as i64) ^ -((z & 1) as i64),
        ))
    }

    pub(crate) fn duration(&mut self) -> Result<Duration, Error> {
        let ms = self.varint()?;
        if ms > i64::MAX as u64 {
            return Err(self.corrupt("duration out of range"));
        }
        Ok(Duration::from_millis(ms))
    }

    pub(crate) fn bytes(&mut self) -> Result<&'a [u8], Error> {
        let n = self.varint()?;
        let n = usize::try_from(n).map_err(|_| self.corrupt("length overflow"))?;
        self.take(n)
    }

    pub(crate) fn string(&mut self) -> Result<String, Error> {
        let b = self.bytes()?;
        String::from_utf8(b.to_vec()).map_err(|_| self.corrupt("text is not UTF-8"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn full() -> Stored {
        Stored {
            record: Record {
                id: TokenId([7; 16]),
                kind: Kind::ApiKey,
                tenant: "acme".into(),
                subject: Some("alice".into()),
                scopes: Scopes::from_checked(["read", "locations:12"]),
                label: Some("deploy".into()),
                metadata: vec![0, 1, 2, 255],
                created_at: Timestamp::from_unix_millis(1_700_000_000_000),
                expires_at: Some(Timestamp::from_unix_millis(1_800_000_000_000)),
                idle_timeout: Some(Duration::from_secs(60)),
                max_lifetime: Some(Duration::from_secs(86_400)),
                last_used_at: Some(Timestamp::from_unix_millis(-5)),
                uses: 3,
                max_uses: Some(10),
                parent: Some(TokenId([9; 16])),
                family: Some(TokenId([3; 16])),
                family_created_at: Some(Timestamp::from_unix_millis(1_690_000_000_000)),
                successor: Some(Successor {
                    id: TokenId([4; 16]),
                    at: Timestamp::from_unix_millis(1_760_000_000_000),
                    grace_until: Timestamp::from_unix_millis(1_760_000_030_000),
                    how: Replacement::Rotated,
                }),
                revoked: Some(Revocation {
                    at: Timestamp::from_unix_millis(1_750_000_000_000),
                    reason: RevokeReason::Tenant,
                }),
            },
            key_version: 1,
            hash: [42; 32],
        }
    }

    #[test]
    fn records_round_trip() {
        let s = full();
        let back = Stored::decode(s.record.id, &s.encode(None), no_sets).expect("decodes");
        assert_eq!(back.record, s.record);
        assert_eq!(back.hash, s.hash);
        let interned = s.encode(Some(*b"set id 1"));
        assert!(interned.len() < s.encode(None).len());
        let back = Stored::decode(s.record.id, &interned, |id| {
            assert_eq!(id, b"set id 1");
            Ok(s.record.scopes.clone())
        })
        .expect("decodes");
        assert_eq!(back.record, s.record);
        let mut minimal = full();
        let r = &mut minimal.record;
        (
            r.subject,
            r.label,
            r.expires_at,
            r.idle_timeout,
            r.max_lifetime,
        ) = (None, None, None, None, None);
        (r.last_used_at, r.max_uses, r.parent, r.revoked, r.uses) = (None, None, None, None, 0);
        (r.family, r.family_created_at, r.successor) = (None, None, None);
        r.metadata.clear();
        r.scopes = Scopes::new();
        let back = Stored::decode(r.id, &minimal.encode(None), no_sets).expect("decodes");
        assert_eq!(back.record, minimal.record);
    }

    #[test]
    fn every_truncation_is_an_error_not_a_panic() {
        let full = full();
        for bytes in [full.encode(None), full.encode(Some([7; 8]))] {
            for n in 0..bytes.len() {
                let found = Stored::decode(TokenId([0; 16]), &bytes[..n], |_| Ok(Scopes::new()));
                assert!(found.is_err());
            }
        }
        let mut unknown_flag = full.encode(None);
        unknown_flag[3] |= 0x80;
        assert!(Stored::decode(TokenId([0; 16]), &unknown_flag, no_sets).is_err());
    }

    fn no_sets(_: &ScopeSetId) -> Result<Scopes, Error> {
        panic!("the record has no scope set")
    }
}
