//! What the library allocates for the caller: records, lists of records and statistics, all
//! released by the one function [`tessera_free`].
//!
//! Every allocation is a block with a small header in front of the value that the caller sees;
//! the header knows how to release the block, so one free function serves every type. The
//! strings a value points to live in buffers owned by the same block.

use std::ffi::{c_char, c_void};
use std::mem::size_of;

use tessera::{Counts, Event, EventKind, Kind, Record, Replacement, RevokeReason, Stats, TokenId};

use crate::boundary::{millis, value};
use crate::status::Fault;
use crate::TESSERA_ID_BUF_LEN;

/// A string owned by the library: `len` bytes of UTF-8 at `ptr`, followed by a NUL that `len`
/// does not count. For an optional field, `ptr` is NULL (and `len` 0) when the value is absent;
/// an empty string has a non-NULL `ptr`.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct tessera_str {
    /// The bytes, NUL-terminated; NULL if absent.
    pub ptr: *const c_char,
    /// The number of bytes before the NUL.
    pub len: usize,
}

/// What a token is for.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum tessera_kind {
    /// A login: many per subject, one per device.
    TESSERA_KIND_SESSION = 1,
    /// An API key: owned by a tenant, optionally by a subject, scoped, long-lived.
    TESSERA_KIND_API_KEY = 2,
}

impl tessera_kind {
    /// The kind a caller's number names, if it names one.
    pub(crate) fn to_core(n: u32) -> Option<Kind> {
        match n {
            1 => Some(Kind::Session),
            2 => Some(Kind::ApiKey),
            _ => None,
        }
    }

    pub(crate) fn from_core(k: Kind) -> Result<tessera_kind, Fault> {
        match k {
            Kind::Session => Ok(tessera_kind::TESSERA_KIND_SESSION),
            Kind::ApiKey => Ok(tessera_kind::TESSERA_KIND_API_KEY),
            other => Err(Fault::new(
                crate::tessera_status::TESSERA_INTERNAL,
                format!("the token kind {other} has no number in this version of the C ABI"),
            )),
        }
    }
}

/// Why a token was revoked.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum tessera_revoke_reason {
    /// Not revoked.
    TESSERA_REVOKE_NONE = 0,
    /// Revoked by its own text (a logout).
    TESSERA_REVOKE_LOGOUT = 1,
    /// Revoked by id (an administrator or an operator).
    TESSERA_REVOKE_BY_ID = 2,
    /// Revoked with all of its subject's tokens.
    TESSERA_REVOKE_SUBJECT = 3,
    /// Revoked with all of its tenant's tokens.
    TESSERA_REVOKE_TENANT = 4,
    /// Revoked because its parent (or an ancestor) was revoked.
    TESSERA_REVOKE_CASCADE = 5,
    /// Revoked because an old token of its rotation family was reused after its grace window.
    TESSERA_REVOKE_REUSE = 6,
    /// Evicted to keep its subject under the per-subject cap.
    TESSERA_REVOKE_CAP_EVICTION = 7,
}

impl tessera_revoke_reason {
    pub(crate) fn from_core(r: RevokeReason) -> Result<tessera_revoke_reason, Fault> {
        use tessera_revoke_reason::*;
        match r {
            RevokeReason::Logout => Ok(TESSERA_REVOKE_LOGOUT),
            RevokeReason::ById => Ok(TESSERA_REVOKE_BY_ID),
            RevokeReason::Subject => Ok(TESSERA_REVOKE_SUBJECT),
            RevokeReason::Tenant => Ok(TESSERA_REVOKE_TENANT),
            RevokeReason::Cascade => Ok(TESSERA_REVOKE_CASCADE),
            RevokeReason::Reuse => Ok(TESSERA_REVOKE_REUSE),
            RevokeReason::CapEviction => Ok(TESSERA_REVOKE_CAP_EVICTION),
            other => Err(Fault::new(
                crate::tessera_status::TESSERA_INTERNAL,
                format!("the revocation reason {other} has no number in this version of the C ABI"),
            )),
        }
    }
}

/// How a token was replaced by a successor.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum tessera_replacement {
    /// Not replaced.
    TESSERA_REPLACEMENT_NONE = 0,
    /// `tessera_rotate`: the old secret works until the grace window ends; presenting it later
    /// is reuse, which revokes the family.
    TESSERA_REPLACEMENT_ROTATED = 1,
    /// `tessera_roll` (API keys): the old key works until the grace period ends, then expires.
    TESSERA_REPLACEMENT_ROLLED = 2,
}

impl tessera_replacement {
    fn from_core(r: Replacement) -> Result<tessera_replacement, Fault> {
        match r {
            Replacement::Rotated => Ok(tessera_replacement::TESSERA_REPLACEMENT_ROTATED),
            Replacement::Rolled => Ok(tessera_replacement::TESSERA_REPLACEMENT_ROLLED),
            other => Err(Fault::new(
                crate::tessera_status::TESSERA_INTERNAL,
                format!("the replacement {other:?} has no number in this version of the C ABI"),
            )),
        }
    }
}

/// Everything the store knows about a token, except its secret. Allocated by the library
/// (`tessera_verify`, `tessera_get`, ...) and released with `tessera_free`; the strings it
/// points to live as long as the record. Times are Unix milliseconds (UTC), durations
/// milliseconds; a value with a `has_` flag is meaningful only when its flag is true (there is
/// no sentinel value). Read-only: may be read by several threads at once.
#[repr(C)]
#[derive(Debug)]
pub struct tessera_record {
    /// The public id: `TESSERA_ID_LEN` base62 characters and a NUL. Safe to log and show.
    pub id: [c_char; TESSERA_ID_BUF_LEN],
    /// Session or API key.
    pub kind: tessera_kind,
    /// The organization the token belongs to ("" when the host has no tenants).
    pub tenant: tessera_str,
    /// The user the token was issued to; always present for sessions (`ptr` NULL if none).
    pub subject: tessera_str,
    /// The scopes, an array of `scopes_len` strings (NULL when there are none).
    pub scopes: *const tessera_str,
    /// The number of scopes.
    pub scopes_len: usize,
    /// A human-readable name (`ptr` NULL if none).
    pub label: tessera_str,
    /// The host's opaque bytes (NULL when there are none).
    pub metadata: *const u8,
    /// The number of metadata bytes.
    pub metadata_len: usize,
    /// When the token was issued.
    pub created_at: i64,
    /// Whether the token has an absolute expiry.
    pub has_expires_at: bool,
    /// When it expires (already capped by its maximum lifetime).
    pub expires_at: i64,
    /// Whether the token has an idle timeout.
    pub has_idle_timeout: bool,
    /// It dies after this long without use.
    pub idle_timeout_ms: i64,
    /// Whether the token has a maximum lifetime.
    pub has_max_lifetime: bool,
    /// Renewal never takes the expiry past `created_at + max_lifetime_ms`.
    pub max_lifetime_ms: i64,
    /// Whether the token was ever used.
    pub has_last_used_at: bool,
    /// Its last successful verify or renewal: for a token with an idle timeout it may lag by up
    /// to the store's flush interval; for others it is advisory and written only along with
    /// other writes of uses, `tessera_flush` or close.
    pub last_used_at: i64,
    /// Whether the token has a deadline (an expiry or an idle timeout).
    pub has_deadline: bool,
    /// When it stops being valid without any further use: the earlier of its expiry and its
    /// idle deadline.
    pub deadline: i64,
    /// Successful verifies counted against `max_uses`.
    pub uses: u64,
    /// Whether the token is limited-use.
    pub has_max_uses: bool,
    /// The number of successful verifies allowed.
    pub max_uses: u64,
    /// Whether the token was derived from a parent token.
    pub has_parent: bool,
    /// The parent's id, NUL-terminated (all NULs when there is none).
    pub parent: [c_char; TESSERA_ID_BUF_LEN],
    /// Whether the token is a successor, rotated or rolled (then `family` names the first
    /// generation).
    pub has_family: bool,
    /// The id of the first token of its family, NUL-terminated; a token that is not a successor
    /// (rotated or rolled) has none (all NULs), the first generation included.
    pub family: [c_char; TESSERA_ID_BUF_LEN],
    /// Whether the token was rotated or rolled: then the fields below describe its successor.
    pub has_successor: bool,
    /// The successor's id, NUL-terminated (all NULs when there is none).
    pub successor: [c_char; TESSERA_ID_BUF_LEN],
    /// When the token was replaced.
    pub replaced_at: i64,
    /// Until when the old token keeps working.
    pub grace_until: i64,
    /// Rotation or roll (`TESSERA_REPLACEMENT_NONE` if not replaced).
    pub replacement: tessera_replacement,
    /// Whether the token is revoked.
    pub revoked: bool,
    /// When it was revoked.
    pub revoked_at: i64,
    /// Why it was revoked (`TESSERA_REVOKE_NONE` if it is not).
    pub revoke_reason: tessera_revoke_reason,
}

/// A list of records, oldest first. Allocated by the library and released, records and all,
/// with one `tessera_free` of the list.
#[repr(C)]
#[derive(Debug)]
pub struct tessera_record_list {
    /// An array of `len` records (NULL when `len` is 0).
    pub records: *const tessera_record,
    /// The number of records.
    pub len: usize,
}

/// Counts of one group of tokens.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct tessera_counts {
    /// Valid now.
    pub live: u64,
    /// Past a deadline (or a generation rotated past its grace window), waiting for the purge.
    pub expired: u64,
    /// Revoked, kept until their retention ends.
    pub revoked: u64,
}

/// The counts of one kind of token.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct tessera_kind_counts {
    /// The kind.
    pub kind: tessera_kind,
    /// Its tokens.
    pub counts: tessera_counts,
}

/// The counts of one tenant.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct tessera_tenant_counts {
    /// The tenant.
    pub tenant: tessera_str,
    /// Its tokens.
    pub counts: tessera_counts,
}

/// What a store holds (`tessera_store_stats`). Allocated by the library, released with one
/// `tessera_free`.
#[repr(C)]
#[derive(Debug)]
pub struct tessera_stats {
    /// The schema version of the file.
    pub schema_version: u32,
    /// The size of the file in bytes (0 in memory).
    pub file_bytes: u64,
    /// Every stored token.
    pub all: tessera_counts,
    /// By kind: an array of `kinds_len` entries (NULL when empty).
    pub kinds: *const tessera_kind_counts,
    /// The number of kinds.
    pub kinds_len: usize,
    /// By tenant, in byte order of the tenant: an array of `tenants_len` entries (NULL when
    /// empty).
    pub tenants: *const tessera_tenant_counts,
    /// The number of tenants.
    pub tenants_len: usize,
    /// Rows the purge would remove now.
    pub due_for_purge: u64,
}

/// What an audit event says happened.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum tessera_event_kind {
    /// A token was issued (including a child, a rotation's successor or a roll's new key).
    TESSERA_EVENT_ISSUED = 1,
    /// A token's expiry was extended.
    TESSERA_EVENT_RENEWED = 2,
    /// A token was rotated (`token` is the old one; its successor has an issued event).
    TESSERA_EVENT_ROTATED = 3,
    /// An API key was rolled (`token` is the old one).
    TESSERA_EVENT_ROLLED = 4,
    /// A token was revoked, with a `reason`.
    TESSERA_EVENT_REVOKED = 5,
    /// Everything issued before an instant was revoked, in `scope`.
    TESSERA_EVENT_REVOKED_BEFORE = 6,
    /// A use of a limited-use token was counted.
    TESSERA_EVENT_USED = 7,
    /// The purge removed `count` tokens.
    TESSERA_EVENT_PURGED = 8,
}

impl tessera_event_kind {
    fn from_core(k: EventKind) -> Result<tessera_event_kind, Fault> {
        use tessera_event_kind::*;
        match k {
            EventKind::Issued => Ok(TESSERA_EVENT_ISSUED),
            EventKind::Renewed => Ok(TESSERA_EVENT_RENEWED),
            EventKind::Rotated => Ok(TESSERA_EVENT_ROTATED),
            EventKind::Rolled => Ok(TESSERA_EVENT_ROLLED),
            EventKind::Revoked => Ok(TESSERA_EVENT_REVOKED),
            EventKind::RevokedBefore => Ok(TESSERA_EVENT_REVOKED_BEFORE),
            EventKind::Used => Ok(TESSERA_EVENT_USED),
            EventKind::Purged => Ok(TESSERA_EVENT_PURGED),
            other => Err(Fault::new(
                crate::tessera_status::TESSERA_INTERNAL,
                format!("the event kind {other} has no number in this version of the C ABI"),
            )),
        }
    }
}

/// One audit event: what happened to which token, never a secret. Part of a
/// `tessera_event_list`.
#[repr(C)]
#[derive(Debug)]
pub struct tessera_event {
    /// Its position in the feed: pass the last one seen to `tessera_events` to read on.
    pub seq: u64,
    /// When, in Unix milliseconds.
    pub at: i64,
    /// What.
    pub kind: tessera_event_kind,
    /// Whether the event concerns one token.
    pub has_token: bool,
    /// That token's id, NUL-terminated (all NULs when there is none).
    pub token: [c_char; TESSERA_ID_BUF_LEN],
    /// Why, for a revocation (`TESSERA_REVOKE_NONE` otherwise).
    pub reason: tessera_revoke_reason,
    /// The scope of a `TESSERA_EVENT_REVOKED_BEFORE`: `store`, `tenant:<t>` or `subject:<s>`
    /// (`ptr` NULL otherwise).
    pub scope: tessera_str,
    /// How many tokens, for `TESSERA_EVENT_PURGED`.
    pub count: u64,
}

/// A list of audit events, oldest first. Allocated by the library and released with one
/// `tessera_free`.
#[repr(C)]
#[derive(Debug)]
pub struct tessera_event_list {
    /// An array of `len` events (NULL when `len` is 0).
    pub events: *const tessera_event,
    /// The number of events.
    pub len: usize,
}

/// Releases anything the library allocated for the caller: a `tessera_record*`, a
/// `tessera_record_list*`, a `tessera_event_list*` or a `tessera_stats*` (with everything they
/// point to). NULL is a no-op. Passing any other pointer, or the same pointer twice, is undefined behaviour, as with
/// `free()`. Handles are not released here: they have their own `_free` functions.
///
/// # Safety
/// `ptr` is NULL or a pointer returned by this library and not freed yet.
#[no_mangle]
pub unsafe extern "C" fn tessera_free(ptr: *mut c_void) {
    value((), || {
        if ptr.is_null() {
            return;
        }
        // SAFETY: by the caller's contract `ptr` is the value of a block made by `give`, which
        // starts `size_of::<Header>()` bytes earlier with a header naming its release function.
        unsafe {
            let header = ptr.cast::<u8>().sub(size_of::<Header>()).cast::<Header>();
            ((*header).release)(header);
        }
    })
}

#[repr(C, align(16))]
struct Header {
    release: unsafe fn(*mut Header),
}

#[repr(C)]
struct Block<T> {
    header: Header,
    value: T,
}

unsafe fn release<T>(header: *mut Header) {
    // SAFETY: `header` starts a `Block<T>` made by `give::<T>` (see `tessera_free`).
    drop(unsafe { Box::from_raw(header.cast::<Block<T>>()) });
}

/// Moves `value` into a block that `tessera_free` releases, and returns a pointer to it.
pub(crate) fn give<T>(value: T) -> *mut T {
    const {
        assert!(std::mem::align_of::<T>() <= std::mem::align_of::<Header>());
    }
    debug_assert_eq!(std::mem::offset_of!(Block<T>, value), size_of::<Header>());
    let block = Box::into_raw(Box::new(Block {
        header: Header {
            release: release::<T>,
        },
        value,
    }));
    // SAFETY: `block` is a valid, uniquely owned allocation.
    unsafe { std::ptr::addr_of_mut!((*block).value) }
}

/// The pointer C sees for an array: NULL when it is empty.
fn array_ptr<T>(items: &[T]) -> *const T {
    if items.is_empty() {
        std::ptr::null()
    } else {
        items.as_ptr()
    }
}

/// Texts of records or statistics, packed into one buffer that the records point into.
#[derive(Default)]
struct Pool {
    bytes: Vec<u8>,
}

/// A place in the pool.
#[derive(Clone, Copy)]
struct Span {
    start: usize,
    len: usize,
}

impl Pool {
    /// Adds a string and its NUL.
    fn text(&mut self, s: &str) -> Span {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(s.as_bytes());
        self.bytes.push(0);
        Span {
            start,
            len: s.len(),
        }
    }

    fn bytes(&mut self, b: &[u8]) -> Span {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(b);
        Span {
            start,
            len: b.len(),
        }
    }
}

/// Turns spans into pointers once the pool is complete (it never moves afterwards: the buffer
/// of a `Vec` stays put when the `Vec` is moved).
struct Base(*const u8);

impl Base {
    fn str(&self, span: Option<Span>) -> tessera_str {
        match span {
            // SAFETY: every span lies inside the pool.
            Some(s) => tessera_str {
                ptr: unsafe { self.0.add(s.start) }.cast(),
                len: s.len,
            },
            None => tessera_str {
                ptr: std::ptr::null(),
                len: 0,
            },
        }
    }
}

/// The spans of one record's texts.
struct RecordTexts {
    tenant: Span,
    subject: Option<Span>,
    label: Option<Span>,
    metadata: Option<Span>,
    /// Indexes into the list's scope spans.
    scopes: std::ops::Range<usize>,
}

/// Records converted for C, with the buffers they point into.
struct Converted {
    records: Vec<tessera_record>,
    scopes: Vec<tessera_str>,
    pool: Vec<u8>,
}

fn id_text(id: &TokenId) -> [c_char; TESSERA_ID_BUF_LEN] {
    let mut out = [0 as c_char; TESSERA_ID_BUF_LEN];
    for (o, b) in out.iter_mut().zip(id.to_string().bytes()) {
        *o = b as c_char;
    }
    out
}

fn convert(records: &[Record]) -> Result<Converted, Fault> {
    let mut pool = Pool::default();
    let mut scope_spans = Vec::new();
    let texts: Vec<RecordTexts> = records
        .iter()
        .map(|r| {
            let first = scope_spans.len();
            scope_spans.extend(r.scopes.iter().map(|s| pool.text(s)));
            RecordTexts {
                tenant: pool.text(&r.tenant),
                subject: r.subject.as_deref().map(|s| pool.text(s)),
                label: r.label.as_deref().map(|s| pool.text(s)),
                metadata: (!r.metadata.is_empty()).then(|| pool.bytes(&r.metadata)),
                scopes: first..scope_spans.len(),
            }
        })
        .collect();
    let pool = pool.bytes;
    let base = Base(pool.as_ptr());
    let scopes: Vec<tessera_str> = scope_spans.iter().map(|s| base.str(Some(*s))).collect();
    let mut out = Vec::with_capacity(records.len());
    for (r, t) in records.iter().zip(texts) {
        let scopes_ptr = array_ptr(&scopes[t.scopes.clone()]);
        out.push(tessera_record {
            id: id_text(&r.id),
            kind: tessera_kind::from_core(r.kind)?,
            tenant: base.str(Some(t.tenant)),
            subject: base.str(t.subject),
            scopes: scopes_ptr,
            scopes_len: t.scopes.len(),
            label: base.str(t.label),
            metadata: base.str(t.metadata).ptr.cast(),
            metadata_len: r.metadata.len(),
            created_at: r.created_at.as_unix_millis(),
            has_expires_at: r.expires_at.is_some(),
            expires_at: r.expires_at.map_or(0, |t| t.as_unix_millis()),
            has_idle_timeout: r.idle_timeout.is_some(),
            idle_timeout_ms: r.idle_timeout.map_or(0, millis),
            has_max_lifetime: r.max_lifetime.is_some(),
            max_lifetime_ms: r.max_lifetime.map_or(0, millis),
            has_last_used_at: r.last_used_at.is_some(),
            last_used_at: r.last_used_at.map_or(0, |t| t.as_unix_millis()),
            has_deadline: r.deadline().is_some(),
            deadline: r.deadline().map_or(0, |t| t.as_unix_millis()),
            uses: r.uses,
            has_max_uses: r.max_uses.is_some(),
            max_uses: r.max_uses.unwrap_or(0),
            has_parent: r.parent.is_some(),
            parent: r.parent.as_ref().map_or([0; TESSERA_ID_BUF_LEN], id_text),
            has_family: r.family.is_some(),
            family: r.family.as_ref().map_or([0; TESSERA_ID_BUF_LEN], id_text),
            has_successor: r.successor.is_some(),
            successor: r
                .successor
                .map_or([0; TESSERA_ID_BUF_LEN], |s| id_text(&s.id)),
            replaced_at: r.successor.map_or(0, |s| s.at.as_unix_millis()),
            grace_until: r.successor.map_or(0, |s| s.grace_until.as_unix_millis()),
            replacement: match r.successor {
                Some(s) => tessera_replacement::from_core(s.how)?,
                None => tessera_replacement::TESSERA_REPLACEMENT_NONE,
            },
            revoked: r.revoked.is_some(),
            revoked_at: r.revoked.map_or(0, |v| v.at.as_unix_millis()),
            revoke_reason: match r.revoked {
                Some(v) => tessera_revoke_reason::from_core(v.reason)?,
                None => tessera_revoke_reason::TESSERA_REVOKE_NONE,
            },
        });
    }
    Ok(Converted {
        records: out,
        scopes,
        pool,
    })
}

/// A record and the buffers it points into. The record comes first: C sees a pointer to it.
#[repr(C)]
struct OwnedRecord {
    record: tessera_record,
    _scopes: Vec<tessera_str>,
    _pool: Vec<u8>,
}

/// A list and the buffers it points into.
#[repr(C)]
struct OwnedList {
    list: tessera_record_list,
    _records: Vec<tessera_record>,
    _scopes: Vec<tessera_str>,
    _pool: Vec<u8>,
}

/// A record for the caller, released by `tessera_free`.
pub(crate) fn give_record(r: &Record) -> Result<*mut tessera_record, Fault> {
    let Converted {
        mut records,
        scopes,
        pool,
    } = convert(std::slice::from_ref(r))?;
    let record = records.pop().ok_or_else(|| {
        Fault::new(
            crate::tessera_status::TESSERA_INTERNAL,
            "a converted record went missing",
        )
    })?;
    let owned = give(OwnedRecord {
        record,
        _scopes: scopes,
        _pool: pool,
    });
    Ok(owned.cast())
}

/// A list of records for the caller, released by one `tessera_free`.
pub(crate) fn give_list(rs: &[Record]) -> Result<*mut tessera_record_list, Fault> {
    let c = convert(rs)?;
    let list = tessera_record_list {
        records: array_ptr(&c.records),
        len: c.records.len(),
    };
    let owned = give(OwnedList {
        list,
        _records: c.records,
        _scopes: c.scopes,
        _pool: c.pool,
    });
    Ok(owned.cast())
}

/// Statistics and the buffers they point into.
#[repr(C)]
struct OwnedStats {
    stats: tessera_stats,
    _kinds: Vec<tessera_kind_counts>,
    _tenants: Vec<tessera_tenant_counts>,
    _pool: Vec<u8>,
}

fn counts(c: &Counts) -> tessera_counts {
    tessera_counts {
        live: c.live,
        expired: c.expired,
        revoked: c.revoked,
    }
}

/// Statistics for the caller, released by one `tessera_free`.
pub(crate) fn give_stats(s: &Stats) -> Result<*mut tessera_stats, Fault> {
    let kinds = s
        .by_kind
        .iter()
        .map(|(k, c)| {
            Ok(tessera_kind_counts {
                kind: tessera_kind::from_core(*k)?,
                counts: counts(c),
            })
        })
        .collect::<Result<Vec<_>, Fault>>()?;
    let mut pool = Pool::default();
    let spans: Vec<(Span, tessera_counts)> = s
        .by_tenant
        .iter()
        .map(|(t, c)| (pool.text(t), counts(c)))
        .collect();
    let pool = pool.bytes;
    let base = Base(pool.as_ptr());
    let tenants: Vec<tessera_tenant_counts> = spans
        .into_iter()
        .map(|(span, counts)| tessera_tenant_counts {
            tenant: base.str(Some(span)),
            counts,
        })
        .collect();
    let stats = tessera_stats {
        schema_version: s.schema_version,
        file_bytes: s.file_bytes,
        all: counts(&s.all),
        kinds: array_ptr(&kinds),
        kinds_len: kinds.len(),
        tenants: array_ptr(&tenants),
        tenants_len: tenants.len(),
        due_for_purge: s.due_for_purge,
    };
    let owned = give(OwnedStats {
        stats,
        _kinds: kinds,
        _tenants: tenants,
        _pool: pool,
    });
    Ok(owned.cast())
}

/// Events and the buffers they point into.
#[repr(C)]
struct OwnedEvents {
    list: tessera_event_list,
    _events: Vec<tessera_event>,
    _pool: Vec<u8>,
}

/// A list of events for the caller, released by one `tessera_free`.
pub(crate) fn give_events(events: &[Event]) -> Result<*mut tessera_event_list, Fault> {
    let mut pool = Pool::default();
    let scopes: Vec<Option<Span>> = events
        .iter()
        .map(|e| e.scope.as_deref().map(|s| pool.text(s)))
        .collect();
    let pool = pool.bytes;
    let base = Base(pool.as_ptr());
    let converted = events
        .iter()
        .zip(scopes)
        .map(|(e, scope)| {
            Ok(tessera_event {
                seq: e.seq,
                at: e.at.as_unix_millis(),
                kind: tessera_event_kind::from_core(e.kind)?,
                has_token: e.token.is_some(),
                token: e.token.as_ref().map_or([0; TESSERA_ID_BUF_LEN], id_text),
                reason: match e.reason {
                    Some(r) => tessera_revoke_reason::from_core(r)?,
                    None => tessera_revoke_reason::TESSERA_REVOKE_NONE,
                },
                scope: base.str(scope),
                count: e.count,
            })
        })
        .collect::<Result<Vec<_>, Fault>>()?;
    let list = tessera_event_list {
        events: array_ptr(&converted),
        len: converted.len(),
    };
    let owned = give(OwnedEvents {
        list,
        _events: converted,
        _pool: pool,
    });
    Ok(owned.cast())
}
