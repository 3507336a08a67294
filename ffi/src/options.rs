//! How a store is opened (`tessera_options`) and the manual clock (`tessera_clock`).

use std::ffi::c_char;

use tessera::{CapPolicy, Concurrency, IssueDurability, ManualClock, Options, Pepper, Timestamp};

use crate::boundary::{
    bytes, duration, free_handle, give_handle, handle, handle_mut, optional_duration, status, text,
    Out,
};
use crate::output::tessera_kind;
use crate::status::{tessera_status, Fault};

/// Options for opening a store: a builder made by `tessera_options_new`, changed by the
/// `tessera_options_set_*` functions, read by `tessera_store_open` (which copies it, so one
/// options object may open several stores) and released by `tessera_options_free`. Every
/// setting has a default suitable for a web backend. Not thread-safe: use it from one thread at
/// a time.
pub struct tessera_options {
    pub(crate) inner: Options,
}

/// Whether issuing a token waits for the disk (`tessera_options_set_durability`).
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum tessera_durability {
    /// `tessera_issue` returns after the token is on disk (the default).
    TESSERA_DURABILITY_DURABLE = 1,
    /// `tessera_issue` returns before the token is on disk: a crash may lose the newest tokens,
    /// never a revocation. Not available with `TESSERA_CONCURRENCY_MULTI_PROCESS`.
    TESSERA_DURABILITY_EVENTUAL = 2,
}

/// Who may open the store file at the same time (`tessera_options_set_concurrency`).
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum tessera_concurrency {
    /// This process alone (the default); verifies are fastest.
    TESSERA_CONCURRENCY_EXCLUSIVE = 1,
    /// Any number of processes on this machine, each opening the store itself after `fork()`
    /// (pre-forking servers such as Puma, Unicorn or Gunicorn). Every commit is durable.
    TESSERA_CONCURRENCY_MULTI_PROCESS = 2,
}

/// What the per-subject cap does when a new token would exceed it
/// (`tessera_options_set_subject_cap`).
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum tessera_cap_policy {
    /// Refuse the new token: `tessera_issue` answers `TESSERA_LIMIT_REACHED`.
    TESSERA_CAP_REFUSE = 1,
    /// Revoke the oldest live token of the subject (same kind).
    TESSERA_CAP_EVICT_OLDEST = 2,
    /// Revoke the live token of the subject (same kind) used longest ago. In the multi-process
    /// mode every process then writes its recorded uses at least every flush interval (a commit
    /// then), since the others rank tokens by the uses in the file.
    TESSERA_CAP_EVICT_LEAST_RECENTLY_USED = 3,
}

/// A clock that moves only when told to, for tests: give it to a store with
/// `tessera_options_set_clock`, then move it with `tessera_clock_advance` or
/// `tessera_clock_set` instead of sleeping. Thread-safe: any thread may read or move it at any
/// time; a store keeps using the clock after `tessera_clock_free` released the handle.
pub struct tessera_clock {
    inner: ManualClock,
}

/// Changes options: `f` builds the new options from a copy, which replaces them only when it
/// succeeds. A bad argument (or a panic) leaves the options as they were, every setting made
/// before included, as the header promises for any status but `TESSERA_OK`.
fn set(
    options: *mut tessera_options,
    f: impl FnOnce(Options) -> Result<Options, Fault>,
) -> tessera_status {
    status(|| {
        // SAFETY: the caller passes a live options handle used by this thread only.
        let o = unsafe { handle_mut(options, "options") }?;
        o.inner = f(o.inner.clone())?;
        Ok(())
    })
}

/// Creates options with every default: 32 MiB cache, durable issue, exclusive use, prefixes
/// `tss` (sessions) and `tsk` (API keys), no pepper, the system clock, sessions that live 24
/// hours (30 days at most through renewals) with no idle timeout, API keys that never expire,
/// uses flushed every 5 seconds, no background sweeper, revoked tokens remembered for 7 days,
/// metadata up to 4096 bytes.
///
/// Statuses: `TESSERA_NULL_ARGUMENT` if `out_options` is NULL.
///
/// # Safety
/// `out_options` must be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn tessera_options_new(
    out_options: *mut *mut tessera_options,
) -> tessera_status {
    status(|| {
        let out = Out::new(out_options, "out_options")?;
        // SAFETY: checked output.
        unsafe {
            give_handle(
                out,
                tessera_options {
                    inner: Options::new(),
                },
            )
        };
        Ok(())
    })
}

/// Releases options. NULL is a no-op.
///
/// # Safety
/// `options` must be NULL or a live handle from `tessera_options_new`, not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn tessera_options_free(options: *mut tessera_options) {
    // SAFETY: forwarded contract.
    unsafe { free_handle(options) }
}

/// Sets the storage engine's page cache, in bytes (at least 1 MiB; checked when the store is
/// opened).
///
/// Statuses: `TESSERA_NULL_ARGUMENT`.
///
/// # Safety
/// `options` must be NULL or a live options handle.
#[no_mangle]
pub unsafe extern "C" fn tessera_options_set_cache_size(
    options: *mut tessera_options,
    bytes: usize,
) -> tessera_status {
    set(options, |o| Ok(o.cache_size(bytes)))
}

/// Sets whether issuing waits for the disk: a `tessera_durability` value. Revocations always
/// do.
///
/// Statuses: `TESSERA_NULL_ARGUMENT`; `TESSERA_INVALID_ARGUMENT` for a number that is not a
/// `tessera_durability`.
///
/// # Safety
/// `options` must be NULL or a live options handle.
#[no_mangle]
pub unsafe extern "C" fn tessera_options_set_durability(
    options: *mut tessera_options,
    durability: u32,
) -> tessera_status {
    set(options, |o| {
        let d = match durability {
            1 => IssueDurability::Durable,
            2 => IssueDurability::Eventual,
            n => return Err(Fault::invalid(format!("{n} is not a tessera_durability"))),
        };
        Ok(o.durability(d))
    })
}

/// Sets who may open the file at the same time: a `tessera_concurrency` value.
///
/// Statuses: `TESSERA_NULL_ARGUMENT`; `TESSERA_INVALID_ARGUMENT` for a number that is not a
/// `tessera_concurrency`.
///
/// # Safety
/// `options` must be NULL or a live options handle.
#[no_mangle]
pub unsafe extern "C" fn tessera_options_set_concurrency(
    options: *mut tessera_options,
    concurrency: u32,
) -> tessera_status {
    set(options, |o| {
        let c = match concurrency {
            1 => Concurrency::Exclusive,
            2 => Concurrency::MultiProcess,
            n => return Err(Fault::invalid(format!("{n} is not a tessera_concurrency"))),
        };
        Ok(o.concurrency(c))
    })
}

/// Sets the token prefixes of sessions and of API keys: 1 to `TESSERA_MAX_PREFIX_LEN` ASCII
/// letters, digits or `_` each, different from each other (checked when the store is opened).
///
/// Statuses: `TESSERA_NULL_ARGUMENT`, `TESSERA_INVALID_UTF8`, `TESSERA_INVALID_ARGUMENT`
/// (length above `TESSERA_MAX_INPUT_LEN`).
///
/// # Safety
/// `options` must be NULL or a live options handle; each text must be NULL or readable for its
/// length.
#[no_mangle]
pub unsafe extern "C" fn tessera_options_set_prefixes(
    options: *mut tessera_options,
    session_prefix: *const c_char,
    session_prefix_len: usize,
    api_key_prefix: *const c_char,
    api_key_prefix_len: usize,
) -> tessera_status {
    set(options, |o| {
        // SAFETY: by the caller's contract.
        let s = unsafe { text(session_prefix, session_prefix_len, "session_prefix") }?;
        // SAFETY: by the caller's contract.
        let k = unsafe { text(api_key_prefix, api_key_prefix_len, "api_key_prefix") }?;
        Ok(o.prefixes(s, k))
    })
}

/// Sets a pepper: 16 to 1024 secret bytes that never touch the disk; secrets are hashed with a
/// key derived from it, so a copy of the file alone verifies nothing. A store created with a
/// pepper must always be opened with the same one. The bytes are copied (and wiped when the
/// options are freed): the caller may wipe its copy after the call.
///
/// Statuses: `TESSERA_NULL_ARGUMENT`; `TESSERA_INVALID_ARGUMENT` for a length outside 16..1024.
///
/// # Safety
/// `options` must be NULL or a live options handle; `pepper` must be NULL or readable for
/// `pepper_len` bytes.
#[no_mangle]
pub unsafe extern "C" fn tessera_options_set_pepper(
    options: *mut tessera_options,
    pepper: *const u8,
    pepper_len: usize,
) -> tessera_status {
    set(options, |o| {
        // SAFETY: by the caller's contract.
        let p = unsafe { bytes(pepper, pepper_len, "pepper") }?;
        Ok(o.pepper(Pepper::new(p)?))
    })
}

/// Makes the store use a manual clock for every time-based decision (instead of the system
/// clock). The store shares the clock: moving it moves the store's time.
///
/// Statuses: `TESSERA_NULL_ARGUMENT` if `options` or `clock` is NULL.
///
/// # Safety
/// `options` must be NULL or a live options handle; `clock` NULL or a live clock handle.
#[no_mangle]
pub unsafe extern "C" fn tessera_options_set_clock(
    options: *mut tessera_options,
    clock: *const tessera_clock,
) -> tessera_status {
    set(options, |o| {
        // SAFETY: by the caller's contract.
        let c = unsafe { handle(clock, "clock") }?;
        Ok(o.manual_clock(&c.inner))
    })
}

/// Sets the default lifetime of a session, in milliseconds, or `TESSERA_DURATION_NONE`: no
/// default (a session still ends at its maximum lifetime,
/// `tessera_options_set_session_max_lifetime`, 30 days unless that is none too). Zero is
/// refused when the store opens.
///
/// Statuses: `TESSERA_NULL_ARGUMENT`; `TESSERA_INVALID_ARGUMENT` for a negative value other
/// than `TESSERA_DURATION_NONE`.
///
/// # Safety
/// `options` must be NULL or a live options handle.
#[no_mangle]
pub unsafe extern "C" fn tessera_options_set_session_ttl(
    options: *mut tessera_options,
    ttl_ms: i64,
) -> tessera_status {
    set(options, |o| {
        Ok(o.session_ttl(optional_duration(ttl_ms, "ttl_ms")?))
    })
}

/// Sets the default idle timeout of a session, in milliseconds, or `TESSERA_DURATION_NONE`
/// (the default: none).
///
/// Statuses: as `tessera_options_set_session_ttl`.
///
/// # Safety
/// `options` must be NULL or a live options handle.
#[no_mangle]
pub unsafe extern "C" fn tessera_options_set_session_idle_timeout(
    options: *mut tessera_options,
    idle_timeout_ms: i64,
) -> tessera_status {
    set(options, |o| {
        Ok(o.session_idle_timeout(optional_duration(idle_timeout_ms, "idle_timeout_ms")?))
    })
}

/// Sets the default cap on a session's lifetime through renewals, in milliseconds, or
/// `TESSERA_DURATION_NONE` for no cap.
///
/// Statuses: as `tessera_options_set_session_ttl`.
///
/// # Safety
/// `options` must be NULL or a live options handle.
#[no_mangle]
pub unsafe extern "C" fn tessera_options_set_session_max_lifetime(
    options: *mut tessera_options,
    max_lifetime_ms: i64,
) -> tessera_status {
    set(options, |o| {
        Ok(o.session_max_lifetime(optional_duration(max_lifetime_ms, "max_lifetime_ms")?))
    })
}

/// Sets the default lifetime of an API key, in milliseconds, or `TESSERA_DURATION_NONE` (the
/// default: API keys never expire).
///
/// Statuses: as `tessera_options_set_session_ttl`.
///
/// # Safety
/// `options` must be NULL or a live options handle.
#[no_mangle]
pub unsafe extern "C" fn tessera_options_set_api_key_ttl(
    options: *mut tessera_options,
    ttl_ms: i64,
) -> tessera_status {
    set(options, |o| {
        Ok(o.api_key_ttl(optional_duration(ttl_ms, "ttl_ms")?))
    })
}

/// Sets the bound on the staleness of idle extensions, in milliseconds (100 ms to 1 hour,
/// checked when the store opens): verify records uses in memory and a background thread writes
/// those of tokens with an idle timeout at least this often. Uses of other tokens (their
/// `last_used_at`) ride along with those writes, `tessera_flush` and close, and never cause a
/// commit of their own: without idle-timeout tokens they wait for a flush or the close (at most
/// 65,536 wait; later ones are dropped). The purge waits twice this interval past a token's
/// idle deadline before it removes the token, so that a use on its way to the file (this
/// process's, or another's with the same interval) still keeps it.
///
/// Statuses: `TESSERA_NULL_ARGUMENT`; `TESSERA_INVALID_ARGUMENT` for a negative value.
///
/// # Safety
/// `options` must be NULL or a live options handle.
#[no_mangle]
pub unsafe extern "C" fn tessera_options_set_flush_interval(
    options: *mut tessera_options,
    interval_ms: i64,
) -> tessera_status {
    set(options, |o| {
        Ok(o.flush_interval(duration(interval_ms, "interval_ms")?))
    })
}

/// Runs a background sweeper that purges expired tokens this often, in milliseconds (at least
/// 100), or `TESSERA_DURATION_NONE` (the default: no sweeper; call `tessera_purge_expired`
/// yourself, or never: verify does not depend on it).
///
/// Statuses: as `tessera_options_set_session_ttl`.
///
/// # Safety
/// `options` must be NULL or a live options handle.
#[no_mangle]
pub unsafe extern "C" fn tessera_options_set_sweep_interval(
    options: *mut tessera_options,
    interval_ms: i64,
) -> tessera_status {
    set(options, |o| {
        Ok(o.sweep_interval(optional_duration(interval_ms, "interval_ms")?))
    })
}

/// Sets how many expired tokens one purge transaction removes at most (1 to 100,000, checked
/// when the store opens).
///
/// Statuses: `TESSERA_NULL_ARGUMENT`.
///
/// # Safety
/// `options` must be NULL or a live options handle.
#[no_mangle]
pub unsafe extern "C" fn tessera_options_set_purge_batch(
    options: *mut tessera_options,
    batch: usize,
) -> tessera_status {
    set(options, |o| Ok(o.purge_batch(batch)))
}

/// Sets how long a revoked token keeps answering `TESSERA_REVOKED` (rather than
/// `TESSERA_UNKNOWN_TOKEN`) before the purge removes it, in milliseconds. A rotated-out
/// generation is kept as long past its expiry or its grace window, whichever ends later (past
/// its grace window if it never expires): presented again, it is reuse
/// (`TESSERA_REUSE_DETECTED`).
///
/// Statuses: `TESSERA_NULL_ARGUMENT`; `TESSERA_INVALID_ARGUMENT` for a negative value.
///
/// # Safety
/// `options` must be NULL or a live options handle.
#[no_mangle]
pub unsafe extern "C" fn tessera_options_set_revoked_retention(
    options: *mut tessera_options,
    retention_ms: i64,
) -> tessera_status {
    set(options, |o| {
        Ok(o.revoked_retention(duration(retention_ms, "retention_ms")?))
    })
}

/// Sets the largest metadata accepted at issue, in bytes (at most 65,536, checked when the
/// store opens).
///
/// Statuses: `TESSERA_NULL_ARGUMENT`.
///
/// # Safety
/// `options` must be NULL or a live options handle.
#[no_mangle]
pub unsafe extern "C" fn tessera_options_set_max_metadata_len(
    options: *mut tessera_options,
    max_len: usize,
) -> tessera_status {
    set(options, |o| Ok(o.max_metadata_len(max_len)))
}

/// Sets how long the previous token keeps working after `tessera_rotate`, in milliseconds
/// (parallel requests of one client must not log it out). Presenting it later is reuse, which
/// revokes its whole family.
///
/// Statuses: `TESSERA_NULL_ARGUMENT`; `TESSERA_INVALID_ARGUMENT` for a negative value.
///
/// # Safety
/// `options` must be NULL or a live options handle.
#[no_mangle]
pub unsafe extern "C" fn tessera_options_set_rotation_grace(
    options: *mut tessera_options,
    grace_ms: i64,
) -> tessera_status {
    set(options, |o| {
        Ok(o.rotation_grace(duration(grace_ms, "grace_ms")?))
    })
}

/// Allows at most `max` live tokens of `kind` (a `tessera_kind`) per subject; `policy` (a
/// `tessera_cap_policy`) says what issuing one more does. Enforced inside the issuing
/// transaction. One cap per kind: a second call for the same kind replaces the first.
///
/// Statuses: `TESSERA_NULL_ARGUMENT`; `TESSERA_INVALID_ARGUMENT` for a number that is not a
/// `tessera_kind` or a `tessera_cap_policy`.
///
/// # Safety
/// `options` must be NULL or a live options handle.
#[no_mangle]
pub unsafe extern "C" fn tessera_options_set_subject_cap(
    options: *mut tessera_options,
    kind: u32,
    max: usize,
    policy: u32,
) -> tessera_status {
    set(options, |o| {
        let kind = tessera_kind::to_core(kind)
            .ok_or_else(|| Fault::invalid(format!("{kind} is not a tessera_kind")))?;
        let policy = match policy {
            1 => CapPolicy::Refuse,
            2 => CapPolicy::EvictOldest,
            3 => CapPolicy::EvictLeastRecentlyUsed,
            n => return Err(Fault::invalid(format!("{n} is not a tessera_cap_policy"))),
        };
        Ok(o.subject_cap(kind, max, policy))
    })
}

/// Sets how many audit events the store keeps for `tessera_events` (the oldest are dropped
/// first; 0 turns the feed off).
///
/// Statuses: `TESSERA_NULL_ARGUMENT`.
///
/// # Safety
/// `options` must be NULL or a live options handle.
#[no_mangle]
pub unsafe extern "C" fn tessera_options_set_event_retention(
    options: *mut tessera_options,
    events: usize,
) -> tessera_status {
    set(options, |o| Ok(o.event_retention(events)))
}

/// The first instant a clock may read, 0001-01-01T00:00:00Z; the last is the end of the year
/// 9999. A store's times print as RFC 3339, and a clock past the last would issue tokens
/// already expired (their deadlines stop there).
const FIRST_INSTANT_MS: i64 = -62_135_596_800_000;

/// An instant a clock may read, or the refusal of `name`.
fn clock_instant(ms: i64, name: &str) -> Result<Timestamp, Fault> {
    if (FIRST_INSTANT_MS..=Timestamp::MAX.as_unix_millis()).contains(&ms) {
        Ok(Timestamp::from_unix_millis(ms))
    } else {
        Err(Fault::invalid(format!(
            "`{name}` is {ms} ms: a clock reads instants of the years 1 to 9999 \
             ({FIRST_INSTANT_MS} to {} ms)",
            Timestamp::MAX.as_unix_millis()
        )))
    }
}

/// Creates a manual clock that reads `start_unix_ms` (milliseconds since the Unix epoch, UTC)
/// until moved.
///
/// Statuses: `TESSERA_NULL_ARGUMENT` if `out_clock` is NULL; `TESSERA_INVALID_ARGUMENT` for an
/// instant outside the years 1 to 9999 (-62135596800000 to 253402300799999 ms).
///
/// # Safety
/// `out_clock` must be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn tessera_clock_new(
    start_unix_ms: i64,
    out_clock: *mut *mut tessera_clock,
) -> tessera_status {
    status(|| {
        let out = Out::new(out_clock, "out_clock")?;
        let inner = ManualClock::new(clock_instant(start_unix_ms, "start_unix_ms")?);
        // SAFETY: checked output.
        unsafe { give_handle(out, tessera_clock { inner }) };
        Ok(())
    })
}

/// Moves the clock forward by `ms` milliseconds.
///
/// Statuses: `TESSERA_NULL_ARGUMENT`; `TESSERA_INVALID_ARGUMENT` for a negative `ms` (use
/// `tessera_clock_set` to go back), or one that would take the clock past the year 9999 (the
/// clock is not moved; of advances racing past it on several threads, one may stop the clock
/// at its end).
///
/// # Safety
/// `clock` must be NULL or a live clock handle.
#[no_mangle]
pub unsafe extern "C" fn tessera_clock_advance(
    clock: *const tessera_clock,
    ms: i64,
) -> tessera_status {
    status(|| {
        // SAFETY: by the caller's contract.
        let c = unsafe { handle(clock, "clock") }?;
        let by = duration(ms, "ms")?;
        let now = tessera::Clock::now(&c.inner).as_unix_millis();
        if now.saturating_add(ms) > Timestamp::MAX.as_unix_millis() {
            return Err(Fault::invalid(format!(
                "advancing the clock by {ms} ms would take it past the year 9999"
            )));
        }
        c.inner.advance(by);
        Ok(())
    })
}

/// Sets the clock to `unix_ms` (milliseconds since the Unix epoch), which may be earlier than
/// its current time.
///
/// Statuses: `TESSERA_NULL_ARGUMENT`; `TESSERA_INVALID_ARGUMENT` for an instant outside the
/// years 1 to 9999 (the clock is not moved).
///
/// # Safety
/// `clock` must be NULL or a live clock handle.
#[no_mangle]
pub unsafe extern "C" fn tessera_clock_set(
    clock: *const tessera_clock,
    unix_ms: i64,
) -> tessera_status {
    status(|| {
        // SAFETY: by the caller's contract.
        let c = unsafe { handle(clock, "clock") }?;
        c.inner.set(clock_instant(unix_ms, "unix_ms")?);
        Ok(())
    })
}

/// Reads the clock: milliseconds since the Unix epoch.
///
/// Statuses: `TESSERA_NULL_ARGUMENT` if `clock` or `out_unix_ms` is NULL.
///
/// # Safety
/// `clock` must be NULL or a live clock handle; `out_unix_ms` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn tessera_clock_now(
    clock: *const tessera_clock,
    out_unix_ms: *mut i64,
) -> tessera_status {
    status(|| {
        // SAFETY: by the caller's contract.
        let c = unsafe { handle(clock, "clock") }?;
        let out = Out::new(out_unix_ms, "out_unix_ms")?;
        use tessera::Clock;
        // SAFETY: checked output.
        unsafe { out.write(c.inner.now().as_unix_millis()) };
        Ok(())
    })
}

/// Releases a clock handle. Stores opened with the clock keep using it. NULL is a no-op.
///
/// # Safety
/// `clock` must be NULL or a live clock handle, not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn tessera_clock_free(clock: *mut tessera_clock) {
    // SAFETY: forwarded contract.
    unsafe { free_handle(clock) }
}
