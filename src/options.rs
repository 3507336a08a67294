//! How a store is opened: [`Options`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::{Clock, ManualClock, SystemClock};
use crate::error::{Error, Result};
use crate::storage::Keep;
use crate::token_text;

/// Whether issuing a token waits for the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum IssueDurability {
    /// `issue` returns after the token is on disk (one `fsync`, shared by concurrent issuers).
    #[default]
    Durable,
    /// `issue` returns before the token is on disk; a crash may lose the newest tokens (never a
    /// revocation: revocations are always durable). Not available with
    /// [`Concurrency::MultiProcess`].
    Eventual,
}

/// Who may open the store file at the same time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Concurrency {
    /// This process alone (redb's `ExclusiveWriter`). Verifies reuse read snapshots, which makes
    /// them fastest.
    #[default]
    Exclusive,
    /// Any number of processes on this machine, each opening the store itself after `fork`
    /// (redb's `MultiWriter`), for pre-forking servers such as Puma, Unicorn or Gunicorn. Every
    /// commit is durable, and every verify starts a fresh read transaction so that it sees the
    /// other processes' revocations.
    MultiProcess,
}

/// A secret that the host passes at open time and that never touches the disk. Secrets are
/// hashed with a key derived from it, so a copy of the file alone verifies nothing.
#[derive(Clone)]
pub struct Pepper(Vec<u8>);

impl Pepper {
    /// A pepper of 16 to 1024 bytes.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Result<Pepper> {
        // A `Pepper` at once: one that is refused is wiped as it is dropped, like any other.
        let pepper = Pepper(bytes.into());
        if pepper.0.len() < 16 || pepper.0.len() > 1024 {
            return Err(Error::InvalidArgument(
                "a pepper must be 16 to 1024 bytes long".into(),
            ));
        }
        Ok(pepper)
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Pepper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pepper(redacted)")
    }
}

impl Drop for Pepper {
    fn drop(&mut self) {
        token_text::wipe(&mut self.0);
    }
}

/// Options for [`crate::Store::open`]. Every setting has a default suitable for a web backend.
///
/// ```
/// use std::time::Duration;
/// use tessera::{Options, Store};
///
/// let store = Store::in_memory(
///     Options::new()
///         .session_ttl(Some(Duration::from_secs(8 * 3600)))
///         .session_idle_timeout(Some(Duration::from_secs(30 * 60)))
///         .prefixes("myapp", "myapp_key"),
/// )
/// .unwrap();
/// # drop(store);
/// ```
#[derive(Clone)]
pub struct Options {
    pub(crate) cache_size: usize,
    pub(crate) durability: IssueDurability,
    pub(crate) concurrency: Concurrency,
    pub(crate) session_prefix: String,
    pub(crate) api_key_prefix: String,
    pub(crate) pepper: Option<Pepper>,
    pub(crate) clock: Arc<dyn Clock>,
    /// Identifies the clock for `same_as`: 0 for the system clock.
    clock_id: usize,
    pub(crate) session_ttl: Option<Duration>,
    pub(crate) session_idle_timeout: Option<Duration>,
    pub(crate) session_max_lifetime: Option<Duration>,
    pub(crate) api_key_ttl: Option<Duration>,
    pub(crate) flush_interval: Duration,
    pub(crate) sweep_interval: Option<Duration>,
    pub(crate) purge_batch: usize,
    pub(crate) revoked_retention: Duration,
    pub(crate) max_metadata_len: usize,
    pub(crate) rotation_grace: Duration,
    pub(crate) caps: std::collections::HashMap<crate::Kind, (usize, crate::CapPolicy)>,
    pub(crate) event_retention: usize,
    /// Opened by an import that is filling the store (a store whose import did not finish
    /// opens only so).
    pub(crate) importing: bool,
}

impl fmt::Debug for Options {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Options")
            .field("cache_size", &self.cache_size)
            .field("durability", &self.durability)
            .field("concurrency", &self.concurrency)
            .field("session_prefix", &self.session_prefix)
            .field("api_key_prefix", &self.api_key_prefix)
            .field("pepper", &self.pepper.as_ref().map(|_| "<redacted>"))
            .field("session_ttl", &self.session_ttl)
            .field("session_idle_timeout", &self.session_idle_timeout)
            .field("session_max_lifetime", &self.session_max_lifetime)
            .field("api_key_ttl", &self.api_key_ttl)
            .field("flush_interval", &self.flush_interval)
            .field("sweep_interval", &self.sweep_interval)
            .field("purge_batch", &self.purge_batch)
            .field("revoked_retention", &self.revoked_retention)
            .field("max_metadata_len", &self.max_metadata_len)
            .field("rotation_grace", &self.rotation_grace)
            .field("caps", &self.caps)
            .field("event_retention", &self.event_retention)
            .finish_non_exhaustive()
    }
}

impl Default for Options {
    fn default() -> Self {
        Options::new()
    }
}

/// Default page cache: enough for the hot part of a million-token store, small enough to embed.
pub const DEFAULT_CACHE_SIZE: usize = 32 * 1024 * 1024;

impl Options {
    /// The defaults: 32 MiB cache, durable issue, exclusive use, prefixes `tss` (sessions) and
    /// `tsk` (API keys), no pepper, the system clock, sessions live 24 hours (capped at 30 days
    /// by renewal) with no idle timeout, API keys never expire, `last_used_at` flushed every 5
    /// seconds, no background sweeper, revoked tokens remembered for 7 days.
    pub fn new() -> Self {
        Options {
            cache_size: DEFAULT_CACHE_SIZE,
            durability: IssueDurability::Durable,
            concurrency: Concurrency::Exclusive,
            session_prefix: "tss".into(),
            api_key_prefix: "tsk".into(),
            pepper: None,
            clock: Arc::new(SystemClock),
            clock_id: 0,
            session_ttl: Some(Duration::from_secs(24 * 3600)),
            session_idle_timeout: None,
            session_max_lifetime: Some(Duration::from_secs(30 * 24 * 3600)),
            api_key_ttl: None,
            flush_interval: Duration::from_secs(5),
            sweep_interval: None,
            purge_batch: 5000,
            revoked_retention: Duration::from_secs(7 * 24 * 3600),
            max_metadata_len: 4096,
            rotation_grace: Duration::from_secs(30),
            caps: std::collections::HashMap::new(),
            event_retention: 100_000,
            importing: false,
        }
    }

    /// The storage engine's page cache, in bytes (at least 1 MiB).
    pub fn cache_size(mut self, bytes: usize) -> Self {
        self.cache_size = bytes;
        self
    }

    /// Whether `issue` waits for the disk. Revocations always do.
    pub fn durability(mut self, d: IssueDurability) -> Self {
        self.durability = d;
        self
    }

    /// Who may open the file at the same time.
    pub fn concurrency(mut self, c: Concurrency) -> Self {
        self.concurrency = c;
        self
    }

    /// The token prefixes for sessions and API keys: 1 to 32 ASCII letters, digits or `_`, and
    /// different from each other.
    pub fn prefixes(mut self, session: &str, api_key: &str) -> Self {
        self.session_prefix = session.into();
        self.api_key_prefix = api_key.into();
        self
    }

    /// A pepper (see [`Pepper`]). A store created with a pepper must always be opened with it.
    pub fn pepper(mut self, pepper: Pepper) -> Self {
        self.pepper = Some(pepper);
        self
    }

    /// The clock every time-based decision uses. Opening a path already open in this process
    /// needs the same clock: pass the same `Options` (or a clone of it), since each call of
    /// this method makes a clock of its own.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self.clock_id = Arc::as_ptr(&self.clock) as *const () as usize;
        self
    }

    /// A manual clock, for tests (shorthand for `clock(clock.clone())`).
    pub fn manual_clock(self, clock: &ManualClock) -> Self {
        let mut o = self.clock(clock.clone());
        o.clock_id = clock.id();
        o
    }

    /// Default lifetime of a session; `None`: no default ttl (a session still ends at its
    /// maximum lifetime, [`Options::session_max_lifetime`], 30 days unless that is `None` too).
    pub fn session_ttl(mut self, ttl: Option<Duration>) -> Self {
        self.session_ttl = ttl;
        self
    }

    /// Default idle timeout of a session.
    pub fn session_idle_timeout(mut self, t: Option<Duration>) -> Self {
        self.session_idle_timeout = t;
        self
    }

    /// Default cap on a session's lifetime through renewals.
    pub fn session_max_lifetime(mut self, t: Option<Duration>) -> Self {
        self.session_max_lifetime = t;
        self
    }

    /// Default lifetime of an API key (`None`: never expires, the default).
    pub fn api_key_ttl(mut self, ttl: Option<Duration>) -> Self {
        self.api_key_ttl = ttl;
        self
    }

    /// The bound on staleness of `last_used_at` and idle extensions: verify records uses in
    /// memory, and a background thread writes those of idle-timeout tokens at least this often
    /// (0.1 s to 1 hour). Uses of other tokens ride along with that write, and with
    /// [`crate::Store::flush`] and close, so they never cause a commit of their own (and never
    /// slow down an issue or a revocation). In the multi-process mode another process sees a
    /// use once it is written (its verify judges idle timeouts by the file): keep idle timeouts
    /// well above this interval. The purge waits twice this interval past a token's idle
    /// deadline before it removes the token, so that a use on its way to the file (this
    /// process's or another's with the same interval: its flusher writes a use within one
    /// interval plus the time of its round) still keeps it.
    pub fn flush_interval(mut self, d: Duration) -> Self {
        self.flush_interval = d;
        self
    }

    /// Runs a background sweeper that purges expired tokens this often (`None`: no sweeper; call
    /// [`crate::Store::purge_expired`] yourself, or never: verify does not depend on it).
    pub fn sweep_interval(mut self, d: Option<Duration>) -> Self {
        self.sweep_interval = d;
        self
    }

    /// How many expired tokens one purge transaction removes at most (1 to 100,000).
    pub fn purge_batch(mut self, n: usize) -> Self {
        self.purge_batch = n;
        self
    }

    /// How long a revoked token keeps answering "revoked" (rather than "unknown") before the
    /// purge removes it. A rotated-out generation is kept as long past its expiry or its grace
    /// window, whichever ends later (past its grace window if it never expires): presented
    /// again, it is reuse, which revokes the family.
    pub fn revoked_retention(mut self, d: Duration) -> Self {
        self.revoked_retention = d;
        self
    }

    /// The largest metadata accepted at issue, in bytes (at most 65,536).
    pub fn max_metadata_len(mut self, n: usize) -> Self {
        self.max_metadata_len = n;
        self
    }

    /// How long the previous token keeps working after a rotation (parallel requests of one
    /// client must not log it out). Presenting it later is reuse and revokes the family. Zero
    /// (none) or at least 1 ms: a grace under a millisecond is refused at open, as it would be
    /// none (times are kept in milliseconds).
    pub fn rotation_grace(mut self, d: Duration) -> Self {
        self.rotation_grace = d;
        self
    }

    /// At most `max` live tokens of `kind` per subject; `policy` says what a new one does to an
    /// over-full subject. Enforced inside the issuing transaction. A rotated session counts
    /// once (as its newest generation), and an evicted session goes with every generation; a
    /// child never evicts its own ancestors. With [`crate::CapPolicy::EvictLeastRecentlyUsed`]
    /// in the multi-process mode, every process writes its recorded uses at least every
    /// [`Self::flush_interval`] (a commit then, as for the uses of idle-timeout tokens), since
    /// the others rank tokens by the uses in the file; a use younger than that interval may
    /// still be unseen there. Subjects are store-wide, as for
    /// [`crate::Store::revoke_subject`]: with per-tenant user ids, make the subject unique
    /// across tenants (`"tenant/user"`).
    pub fn subject_cap(mut self, kind: crate::Kind, max: usize, policy: crate::CapPolicy) -> Self {
        self.caps.insert(kind, (max, policy));
        self
    }

    /// How many audit events are kept: the oldest are dropped first, 256 at a time, so up to 255
    /// more may be read. 0 turns the feed off (events recorded before stay).
    pub fn event_retention(mut self, n: usize) -> Self {
        self.event_retention = n;
        self
    }

    /// Whether every recorded use is written each flush interval, not only those of tokens with
    /// an idle timeout: in the multi-process mode with a cap that evicts the least recently
    /// used token, which another process ranks by the uses in the file.
    pub(crate) fn writes_every_use(&self) -> bool {
        self.concurrency == Concurrency::MultiProcess
            && self
                .caps
                .values()
                .any(|&(_, p)| p == crate::CapPolicy::EvictLeastRecentlyUsed)
    }

    /// What the purge keeps past a record's own deadlines (see [`crate::storage::Keep`]).
    pub(crate) fn keep(&self) -> Keep {
        Keep {
            retention: self.revoked_retention,
            idle_grace: self.flush_interval.saturating_mul(2),
        }
    }

    pub(crate) fn validate(&self) -> Result<()> {
        let bad = |m: &str| Err(Error::InvalidArgument(m.to_string()));
        if self.cache_size < 1024 * 1024 {
            return bad("cache_size must be at least 1 MiB");
        }
        if self.concurrency == Concurrency::MultiProcess
            && self.durability == IssueDurability::Eventual
        {
            return bad("the multi-process mode makes every commit durable: eventual issue durability is not available with it");
        }
        for p in [&self.session_prefix, &self.api_key_prefix] {
            if !token_text::valid_prefix(p) {
                return bad("a prefix is 1 to 32 ASCII letters, digits or '_'");
            }
        }
        if self.session_prefix == self.api_key_prefix {
            return bad("the session and API key prefixes must differ");
        }
        if self.flush_interval < Duration::from_millis(100)
            || self.flush_interval > Duration::from_secs(3600)
        {
            return bad("flush_interval must be between 100 ms and 1 hour");
        }
        if let Some(s) = self.sweep_interval {
            if s < Duration::from_millis(100) {
                return bad("sweep_interval must be at least 100 ms");
            }
        }
        if self.purge_batch == 0 || self.purge_batch > 100_000 {
            return bad("purge_batch must be between 1 and 100,000");
        }
        if self.caps.values().any(|&(max, _)| max == 0) {
            return bad("a subject cap must be at least 1");
        }
        if self.max_metadata_len > 65_536 {
            return bad("max_metadata_len must be at most 65,536 bytes");
        }
        for d in [
            self.session_ttl,
            self.session_idle_timeout,
            self.session_max_lifetime,
            self.api_key_ttl,
        ]
        .into_iter()
        .flatten()
        {
            if d < Duration::from_millis(1) {
                return bad("lifetimes and timeouts must be at least 1 ms (use None for none)");
            }
        }
        if !whole_grace(self.rotation_grace) {
            return bad(GRACE_UNDER_A_MILLISECOND);
        }
        Ok(())
    }

    /// What must be equal for a second open of the same file to share the first one's store.
    pub(crate) fn same_as(&self, other: &Options) -> std::result::Result<(), &'static str> {
        let pepper = |o: &Options| o.pepper.as_ref().map(|p| blake3::hash(p.bytes()));
        if self.importing != other.importing {
            return Err("an import into this file is not finished");
        }
        if self.durability != other.durability {
            return Err("issue durability differs");
        }
        if self.concurrency != other.concurrency {
            return Err("concurrency mode differs");
        }
        if (&self.session_prefix, &self.api_key_prefix)
            != (&other.session_prefix, &other.api_key_prefix)
        {
            return Err("token prefixes differ");
        }
        if pepper(self) != pepper(other) {
            return Err("pepper differs");
        }
        if self.clock_id != other.clock_id {
            return Err("clock differs");
        }
        if (
            self.session_ttl,
            self.session_idle_timeout,
            self.session_max_lifetime,
            self.api_key_ttl,
            self.revoked_retention,
            self.max_metadata_len,
            self.rotation_grace,
            &self.caps,
            self.event_retention,
        ) != (
            other.session_ttl,
            other.session_idle_timeout,
            other.session_max_lifetime,
            other.api_key_ttl,
            other.revoked_retention,
            other.max_metadata_len,
            other.rotation_grace,
            &other.caps,
            other.event_retention,
        ) {
            return Err("default lifetimes or limits differ");
        }
        // The second open would silently run without the sweeper or the cache it asked for.
        if (
            self.sweep_interval,
            self.flush_interval,
            self.purge_batch,
            self.cache_size,
        ) != (
            other.sweep_interval,
            other.flush_interval,
            other.purge_batch,
            other.cache_size,
        ) {
            return Err("sweeper, flush interval, purge batch or cache size differ");
        }
        Ok(())
    }
}

/// Whether `grace` (of a rotation or a roll) means what it says in whole milliseconds: zero
/// (none) or at least 1 ms.
pub(crate) fn whole_grace(grace: Duration) -> bool {
    grace.is_zero() || grace >= Duration::from_millis(1)
}

/// The refusal of a grace window under a millisecond.
pub(crate) const GRACE_UNDER_A_MILLISECOND: &str =
    "a grace window must be zero or at least 1 ms: times are kept in milliseconds, and a shorter \
     one would be none";
