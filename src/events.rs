//! The audit feed: an append-only log of what happened to tokens, read from a cursor.
//!
//! Every write that changes a token appends its events in the same transaction, so the feed
//! never shows a change that did not happen, nor misses one that did, with one exception: the
//! purge's own bookkeeping (the children of a purged idle parent taking its place, or its
//! session's, and its expiry as theirs, a family's next generation becoming its first) appends
//! only the `purged`
//! event of the batch. Events carry ids, never secrets. The oldest events beyond
//! [`crate::Options::event_retention`] are dropped.

use std::fmt;

use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::record::{put_bytes, put_time, put_varint, Reader, RevokeReason};
use crate::token_text::TokenId;
use crate::write::Tx;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EventKind {
    /// A token was issued (including a child, a rotation's successor or a roll's new key).
    Issued,
    /// A token's expiry was extended.
    Renewed,
    /// A token was rotated (`token` is the old one; its successor has an `Issued` event).
    Rotated,
    /// An API key was rolled (`token` is the old one).
    Rolled,
    /// A token was revoked, with `reason`.
    Revoked,
    /// Everything issued before an instant was revoked, in `scope`.
    RevokedBefore,
    /// A use of a limited-use token was counted.
    Used,
    /// The purge removed `count` tokens.
    Purged,
}

impl EventKind {
    /// The stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Issued => "issued",
            EventKind::Renewed => "renewed",
            EventKind::Rotated => "rotated",
            EventKind::Rolled => "rolled",
            EventKind::Revoked => "revoked",
            EventKind::RevokedBefore => "revoked_before",
            EventKind::Used => "used",
            EventKind::Purged => "purged",
        }
    }

    fn code(self) -> u8 {
        self as u8 + 1
    }

    fn from_code(c: u8) -> Option<Self> {
        [
            EventKind::Issued,
            EventKind::Renewed,
            EventKind::Rotated,
            EventKind::Rolled,
            EventKind::Revoked,
            EventKind::RevokedBefore,
            EventKind::Used,
            EventKind::Purged,
        ]
        .into_iter()
        .find(|k| k.code() == c)
    }
}

impl fmt::Display for EventKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One audit event.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Event {
    /// Position in the feed: pass the last one seen to [`crate::Store::events`] to read on.
    pub seq: u64,
    /// When.
    pub at: Timestamp,
    /// What.
    pub kind: EventKind,
    /// The token concerned, if one.
    pub token: Option<TokenId>,
    /// Why, for revocations.
    pub reason: Option<RevokeReason>,
    /// The scope of a `RevokedBefore` (`store`, `subject:<s>` or `tenant:<t>`).
    pub scope: Option<String>,
    /// How many tokens, for `Purged`.
    pub count: u64,
    /// The instant before which tokens were revoked, for `RevokedBefore`.
    pub cutoff: Option<Timestamp>,
}

/// An event to append (the sequence number is assigned on append).
pub(crate) struct NewEvent<'a> {
    pub(crate) kind: EventKind,
    pub(crate) token: Option<TokenId>,
    pub(crate) reason: Option<RevokeReason>,
    pub(crate) scope: Option<&'a str>,
    pub(crate) count: u64,
    pub(crate) cutoff: Option<Timestamp>,
}

impl<'a> NewEvent<'a> {
    pub(crate) fn token(kind: EventKind, id: TokenId) -> Self {
        NewEvent {
            kind,
            token: Some(id),
            reason: None,
            scope: None,
            count: 0,
            cutoff: None,
        }
    }
}

const HAS_TOKEN: u8 = 1;
const HAS_REASON: u8 = 2;
const HAS_SCOPE: u8 = 4;
const HAS_CUTOFF: u8 = 8;

fn encode(at: Timestamp, e: &NewEvent<'_>) -> Vec<u8> {
    let mut out = Vec::with_capacity(32);
    out.push(e.kind.code());
    let mut flags = 0;
    for (present, bit) in [
        (e.token.is_some(), HAS_TOKEN),
        (e.reason.is_some(), HAS_REASON),
        (e.scope.is_some(), HAS_SCOPE),
        (e.cutoff.is_some(), HAS_CUTOFF),
    ] {
        if present {
            flags |= bit;
        }
    }
    out.push(flags);
    put_time(&mut out, at);
    if let Some(t) = e.token {
        out.extend_from_slice(t.as_bytes());
    }
    if let Some(r) = e.reason {
        put_bytes(&mut out, r.as_str().as_bytes());
    }
    if let Some(s) = e.scope {
        put_bytes(&mut out, s.as_bytes());
    }
    put_varint(&mut out, e.count);
    if let Some(c) = e.cutoff {
        put_time(&mut out, c);
    }
    out
}

pub(crate) fn decode(seq: u64, bytes: &[u8]) -> Result<Event> {
    let mut rd = Reader {
        b: bytes,
        id: TokenId::from_bytes([0; 16]),
    };
    let bad = |m: &str| Error::Corrupt(format!("audit event {seq}: {m}"));
    let kind = EventKind::from_code(rd.u8()?).ok_or_else(|| bad("unknown kind"))?;
    let flags = rd.u8()?;
    let at = rd.time()?;
    let token = if flags & HAS_TOKEN != 0 {
        Some(rd.id()?)
    } else {
        None
    };
    let reason = if flags & HAS_REASON != 0 {
        let name = rd.string()?;
        Some(RevokeReason::from_name(&name).ok_or_else(|| bad("unknown reason"))?)
    } else {
        None
    };
    let scope = if flags & HAS_SCOPE != 0 {
        Some(rd.string()?)
    } else {
        None
    };
    let count = rd.varint()?;
    let cutoff = if flags & HAS_CUTOFF != 0 {
        Some(rd.time()?)
    } else {
        None
    };
    Ok(Event {
        seq,
        at,
        kind,
        token,
        reason,
        scope,
        count,
        cutoff,
    })
}

/// Trim the feed every this many events.
const TRIM_EVERY: u64 = 256;

impl Tx<'_, '_> {
    /// Appends an event in this transaction, dropping the oldest beyond the retention.
    pub(crate) fn event(&mut self, e: NewEvent<'_>) -> Result<()> {
        let keep = self.inner.opts.event_retention as u64;
        if keep == 0 {
            return Ok(());
        }
        let seq = self.tables.append_event(&encode(self.now, &e))?;
        if seq % TRIM_EVERY == 0 && seq > keep {
            self.tables
                .trim_events(seq - keep, 2 * TRIM_EVERY as usize)?;
        }
        Ok(())
    }
}
