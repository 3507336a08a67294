//! The verify path: parse and check (no storage), read the record from a snapshot, compare the
//! hash in constant time, then judge: revoked? expired? idle? used up? tenant and scopes?
//!
//! Verify never writes, with two exceptions that must: a limited-use token counts its use, and
//! the reuse of a rotated token after its grace window revokes its family.
//!
//! Otherwise verify never writes. It reads from a read snapshot that is reused until redb next
//! commits (in [`crate::Concurrency::Exclusive`] mode, where every write goes through this
//! process). Writes that redb has not committed yet (journaled batches in the open write
//! transaction) are found first in the overlay, which a batch fills before its callers return;
//! a commit drops the snapshots before it empties the overlay. So a verify that starts after a
//! revocation returned always sees it. In [`crate::Concurrency::MultiProcess`] mode, other
//! processes commit too, so every verify opens a fresh read transaction.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::sync::{Mutex, RwLock};
use redb::{Database, ReadableDatabase};

use crate::clock::Timestamp;
use crate::error::Result;
use crate::options::Concurrency;
use crate::record::{Kind, Record, Stored};
use crate::schema::HashKey;
use crate::storage::{ScopeSets, Snapshot};
use crate::store::Inner;
use crate::token_text::{MalformedReason, Parsed, Secret, TokenId};
use crate::touch::Use;

/// The answer to "may this request go on with this token?".
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
// The valid case is the common one and is returned once: boxing it would cost an allocation per
// verify for nothing.
#[allow(clippy::large_enum_variant)]
pub enum Outcome {
    /// The token is valid; here is what it says (never its secret).
    Valid(Record),
    /// The token is not valid, and why (for the host's logs: answer every one with the same
    /// `401`).
    Invalid(Rejection),
}

impl Outcome {
    /// Whether the token is valid.
    pub fn is_valid(&self) -> bool {
        matches!(self, Outcome::Valid(_))
    }

    /// The record of a valid token.
    pub fn record(&self) -> Option<&Record> {
        match self {
            Outcome::Valid(r) => Some(r),
            Outcome::Invalid(_) => None,
        }
    }

    /// Why the token is not valid, if it is not.
    pub fn rejection(&self) -> Option<Rejection> {
        match self {
            Outcome::Valid(_) => None,
            Outcome::Invalid(r) => Some(*r),
        }
    }
}

/// Why a token is not valid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Rejection {
    /// Not a token of this store's format: rejected without touching storage (except a
    /// prefix of the other kind, [`MalformedReason::Prefix`], found once the token is read).
    Malformed(MalformedReason),
    /// Well-formed, but no token has this id (never issued, or purged).
    Unknown,
    /// The id exists but the secret is wrong.
    BadSecret,
    /// Past its absolute expiry (or its maximum lifetime).
    Expired,
    /// Unused for longer than its idle timeout.
    Idle,
    /// Revoked.
    Revoked,
    /// A limited-use token whose uses are all spent.
    Exhausted,
    /// Valid, but without every scope the request requires.
    ScopeDenied,
    /// Valid, but for another tenant than the request requires.
    TenantMismatch,
    /// A rotated token presented after its grace window: its whole family is revoked.
    ReuseDetected,
}

impl Rejection {
    /// A stable snake_case name, e.g. `bad_secret`.
    pub fn as_str(self) -> &'static str {
        match self {
            Rejection::Malformed(_) => "malformed",
            Rejection::Unknown => "unknown",
            Rejection::BadSecret => "bad_secret",
            Rejection::Expired => "expired",
            Rejection::Idle => "idle",
            Rejection::Revoked => "revoked",
            Rejection::Exhausted => "exhausted",
            Rejection::ScopeDenied => "scope_denied",
            Rejection::TenantMismatch => "tenant_mismatch",
            Rejection::ReuseDetected => "reuse_detected",
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Rejection::Malformed(why) => write!(f, "malformed token: {why}"),
            Rejection::Unknown => f.write_str("unknown token"),
            Rejection::BadSecret => f.write_str("wrong secret for this token id"),
            Rejection::Expired => f.write_str("the token has expired"),
            Rejection::Idle => f.write_str("the token was idle for longer than its idle timeout"),
            Rejection::Revoked => f.write_str("the token was revoked"),
            Rejection::Exhausted => f.write_str("the token has no uses left"),
            Rejection::ScopeDenied => f.write_str("the token lacks a required scope"),
            Rejection::TenantMismatch => f.write_str("the token belongs to another tenant"),
            Rejection::ReuseDetected => {
                f.write_str("an old token of a rotated family was reused; the family is revoked")
            }
        }
    }
}

/// What a request requires of a token beyond being valid.
///
/// ```
/// use tessera::Requirements;
/// let req = Requirements::new().tenant("acme").scope("reports:read");
/// # drop(req);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Requirements {
    pub(crate) tenant: Option<String>,
    pub(crate) scopes: Vec<String>,
}

impl Requirements {
    /// No requirement: any valid token passes.
    pub fn new() -> Self {
        Requirements::default()
    }

    /// The token must belong to `tenant`.
    pub fn tenant(mut self, tenant: impl Into<String>) -> Self {
        self.tenant = Some(tenant.into());
        self
    }

    /// The token must grant `scope` (may be called several times: all are required).
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        self.scopes.push(scope.into());
        self
    }

    /// Checks the tenant and the scopes as an issue checks a token's: a requirement that no
    /// token can meet (an empty scope, one with whitespace or a control character, a name over
    /// the length limit) is an [`crate::Error::InvalidArgument`], rather than a refusal of
    /// every token that hides the mistake. [`crate::Store::verify_with`] checks them first.
    pub fn check(&self) -> Result<()> {
        if let Some(t) = &self.tenant {
            crate::issue::check_name("required tenant", t, true)?;
        }
        for s in &self.scopes {
            crate::issue::check_scope(s)?;
        }
        Ok(())
    }
}

/// Read snapshots, one slot per group of threads, so that concurrent verifies do not share a
/// lock or a reference count.
pub(crate) struct Snapshots {
    slots: Box<[Slot]>,
    reuse: bool,
}

#[repr(align(128))]
struct Slot(Mutex<Option<Snapshot>>);

static NEXT_SLOT: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static SLOT: usize = NEXT_SLOT.fetch_add(1, Ordering::Relaxed);
}

impl Snapshots {
    pub(crate) fn new(concurrency: Concurrency) -> Self {
        let n = std::thread::available_parallelism().map_or(4, |n| n.get() * 2);
        Snapshots {
            slots: (0..n.clamp(4, 64))
                .map(|_| Slot(Mutex::new(None)))
                .collect(),
            reuse: concurrency == Concurrency::Exclusive,
        }
    }

    /// Runs `f` on a snapshot that sees every commit that returned before this call.
    ///
    /// `f` runs with the slot locked, so that `clear` (and the overlay emptied after it) waits
    /// for it. A new read transaction is begun with the database lock taken before the slot's,
    /// the order compaction takes them in (it holds the database lock while it clears the slots).
    fn with<R>(
        &self,
        db: &RwLock<Database>,
        sets: &Arc<ScopeSets>,
        f: impl FnOnce(&Snapshot) -> Result<R>,
    ) -> Result<R> {
        if !self.reuse {
            // The database lock is held while the transaction lives: compaction and the
            // integrity check take it exclusively and need no read transaction open.
            let db = db.read();
            let tx = db.begin_read()?;
            return f(&Snapshot::new(tx, true, sets)?);
        }
        let i = SLOT.with(|i| *i) % self.slots.len();
        {
            let slot = self.slots[i].0.lock();
            if let Some(s) = &*slot {
                return f(s);
            }
        }
        let db = db.read();
        let mut slot = self.slots[i].0.lock();
        let snapshot = match &mut *slot {
            Some(s) => s,
            empty => empty.insert(Snapshot::new(db.begin_read()?, false, sets)?),
        };
        f(snapshot)
    }

    /// Drops every snapshot. Called after each commit, before the committing call returns.
    pub(crate) fn clear(&self) {
        for slot in self.slots.iter() {
            *slot.0.lock() = None;
        }
    }
}

/// A use within this long of the stored `last_used_at` is not recorded again (of a token
/// without an idle timeout: `last_used_at` is then only shown).
const USE_RESOLUTION: std::time::Duration = std::time::Duration::from_secs(1);

/// The keyed hash of a token's secret, bound to its id.
pub(crate) fn secret_hash(key: &HashKey, id: &TokenId, secret: &Secret) -> [u8; 32] {
    let mut h = blake3::Hasher::new_keyed(&key.key);
    h.update(&id.0);
    h.update(&secret.0);
    *h.finalize().as_bytes()
}

impl Inner {
    /// Parses `text` and checks its prefix; no storage access.
    pub(crate) fn parse<'t>(&self, text: &'t [u8]) -> Result<Parsed<'t>, Rejection> {
        let parsed = crate::token_text::parse(text).map_err(Rejection::Malformed)?;
        if parsed.prefix != self.opts.session_prefix && parsed.prefix != self.opts.api_key_prefix {
            return Err(Rejection::Malformed(MalformedReason::Prefix));
        }
        Ok(parsed)
    }

    /// The kind of token a text's prefix names, when the two kinds' prefixes differ.
    pub(crate) fn kind_of_prefix(&self, prefix: &str) -> Option<Kind> {
        let (session, api_key) = (&self.opts.session_prefix, &self.opts.api_key_prefix);
        if session == api_key {
            None
        } else if prefix == session {
            Some(Kind::Session)
        } else if prefix == api_key {
            Some(Kind::ApiKey)
        } else {
            None
        }
    }

    /// Verifies a token text that [`Self::parse`] read.
    pub(crate) fn verify(&self, parsed: &Parsed<'_>, req: &Requirements) -> Result<Outcome> {
        match self.verify_once(parsed, req)? {
            // Its row may have been read just before a flush made the use that keeps it alive
            // visible there, and that use looked for in memory just after: once more, with both
            // read again. (Nothing was written for an idle token.)
            Outcome::Invalid(Rejection::Idle) => self.verify_once(parsed, req),
            outcome => Ok(outcome),
        }
    }

    fn verify_once(&self, parsed: &Parsed<'_>, req: &Requirements) -> Result<Outcome> {
        let hash = secret_hash(&self.key, &parsed.id, &parsed.secret);
        let now = self.opts.clock.now();
        let shared = self.opts.concurrency == Concurrency::MultiProcess;
        let found = self.snapshots.with(&self.db, &self.sets, |snap| {
            // Rows of journaled batches that redb has not committed yet come first.
            let get = |id: &TokenId| match self.overlay.get(id) {
                Some(Some(bytes)) => {
                    Stored::decode(*id, &bytes, |set| snap.scope_set(set)).map(Some)
                }
                Some(None) => Ok(None),
                None => snap.get(id),
            };
            let Some(stored) = get(&parsed.id)? else {
                return Ok(None);
            };
            // Other processes write epochs too: read them from the same snapshot.
            let kills = |r: &Record| {
                if shared {
                    crate::lifecycle::killed(r, |k| snap.epoch(k))
                } else {
                    Ok(self.epochs.kills(r))
                }
            };
            let record = |id: &TokenId| Ok(get(id)?.map(|s| s.record));
            let ended = crate::lifecycle::line_of(&stored.record, now, record, kills)?.rejection();
            Ok(Some((stored, ended)))
        })?;
        let Some((stored, ended)) = found else {
            return Ok(Outcome::Invalid(Rejection::Unknown));
        };
        if let Err(r) = self.judge_secret(&stored, &hash) {
            return Ok(Outcome::Invalid(r));
        }
        // A session's id and secret under the API key prefix (or the reverse) is not a token
        // this store issued.
        if self
            .kind_of_prefix(parsed.prefix)
            .is_some_and(|k| k != stored.record.kind)
        {
            return Ok(Outcome::Invalid(Rejection::Malformed(
                MalformedReason::Prefix,
            )));
        }
        if crate::lifecycle::rotated_out(&stored.record, now) && ended != Some(Rejection::Revoked) {
            // Reuse of a rotated token: the family is compromised. The one case (with
            // limited-use tokens) where verify writes. Judged before the token's expiry and
            // idle timeout: a generation an attacker rotated is still reused when the client
            // presents it after it expired.
            self.on_reuse(stored)?;
            return Ok(Outcome::Invalid(Rejection::ReuseDetected));
        }
        if let Some(why) = ended {
            // A tombstone says revoked itself, below.
            if stored.record.revoked.is_none() {
                return Ok(Outcome::Invalid(why));
            }
        }
        if let Err(r) = self.judge_state(&stored.record, now) {
            return Ok(Outcome::Invalid(r));
        }
        let mut record = stored.record;
        if let Some(t) = &req.tenant {
            if &record.tenant != t {
                return Ok(Outcome::Invalid(Rejection::TenantMismatch));
            }
        }
        if !record.has_scopes(&req.scopes) {
            return Ok(Outcome::Invalid(Rejection::ScopeDenied));
        }
        if record.max_uses.is_some() {
            // Limited-use tokens count each success in a durable write transaction, which
            // serialises them across threads and processes: exactly `max_uses` succeed.
            return Ok(match self.consume(record.id)? {
                Ok(r) => Outcome::Valid(r),
                Err(why) => Outcome::Invalid(why),
            });
        }
        // A token with an idle timeout records every use: a skipped one would leave its idle
        // deadline where the stored use put it (a timeout of a second or two would end early).
        let recent = record.idle_timeout.is_none()
            && record
                .last_used_at
                .is_some_and(|t| now.saturating_duration_since(t) < USE_RESOLUTION);
        if !recent {
            self.touches.record(
                record.id,
                Use {
                    at: now,
                    idle: record.idle_timeout.is_some(),
                },
            );
        }
        record.last_used_at = Some(now);
        Ok(Outcome::Valid(record))
    }

    /// Whether `hash` is the hash of the token's secret, in constant time.
    pub(crate) fn judge_secret(&self, s: &Stored, hash: &[u8; 32]) -> Result<(), Rejection> {
        let same = s.key_version == self.key.version
            && blake3::Hash::from_bytes(s.hash) == blake3::Hash::from_bytes(*hash);
        if same {
            Ok(())
        } else {
            Err(Rejection::BadSecret)
        }
    }

    /// Whether the token is alive at `now`, counting uses recorded in memory.
    pub(crate) fn judge_state(&self, r: &Record, now: Timestamp) -> Result<(), Rejection> {
        if r.revoked.is_some() {
            return Err(Rejection::Revoked);
        }
        if r.expires_at.is_some_and(|t| t <= now) {
            return Err(Rejection::Expired);
        }
        if let Some(idle) = r.idle_timeout {
            let stored = r.last_used_at.unwrap_or(r.created_at).max(r.created_at);
            let last = match self.touches.latest(&r.id) {
                Some(t) => t.max(stored),
                None => stored,
            };
            if last.saturating_add(idle) <= now {
                return Err(Rejection::Idle);
            }
        }
        if r.max_uses.is_some_and(|m| r.uses >= m) {
            return Err(Rejection::Exhausted);
        }
        Ok(())
    }
}
