//! Token lifecycles beyond issue and revoke: child tokens, rotation, rolling API keys,
//! revoking everything issued before an instant, and the audit feed.

use std::ffi::c_char;

use tessera::{RevokeScope, Store, Timestamp, TokenRef};

use crate::boundary::{duration, handle, optional_text, status, token_bytes, MaybeOut, Out};
use crate::handle::{tessera_store, with_store};
use crate::output::{
    give_events, give_list, tessera_event_list, tessera_record, tessera_record_list,
};
use crate::request::tessera_request;
use crate::status::{tessera_status, Fault};
use crate::store::{deliver, id_arg, token_buffer};

/// Whose tokens `tessera_revoke_issued_before` revokes.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum tessera_revoke_scope {
    /// Every token of the store (`name` must be NULL with length 0).
    TESSERA_SCOPE_STORE = 1,
    /// Every token of the tenant `name`.
    TESSERA_SCOPE_TENANT = 2,
    /// Every token of the subject `name`, in every tenant.
    TESSERA_SCOPE_SUBJECT = 3,
}

/// Issues a child of `parent` and hands it to the caller.
///
/// # Safety
/// As `tessera_issue_child`.
#[allow(clippy::too_many_arguments)]
unsafe fn issue_child(
    s: &Store,
    parent: TokenRef<'_>,
    request: *const tessera_request,
    token_buf: *mut c_char,
    token_buf_len: usize,
    out_token_len: *mut usize,
    out_record: *mut *mut tessera_record,
    out_clamped: *mut bool,
) -> Result<(), Fault> {
    // SAFETY: by the caller's contract.
    let request = unsafe { handle(request, "request") }?;
    let buf = token_buffer(token_buf, token_buf_len)?;
    let child = s.issue_child(parent, &request.inner)?;
    // SAFETY: checked buffer; outputs by the caller's contract.
    unsafe {
        deliver(&child.issued, buf, out_token_len, out_record)?;
        MaybeOut::new(out_clamped).write(child.clamped);
    }
    Ok(())
}

/// Issues a child token of the valid token `parent` (presented by its text), as `request`
/// describes (possibly for another tenant). The child never outlives its parent: its expiry is
/// cut to the parent's (`*out_clamped`, optional, says whether it was), and revoking the parent
/// revokes the child in the same transaction. A limited-use parent spends one use on each
/// child. Outputs as `tessera_issue`.
///
/// Statuses: the rejection statuses of `tessera_verify` if the parent is not valid
/// (`TESSERA_REUSE_DETECTED` for a rotated parent after its grace window: its family is
/// revoked); the statuses of `tessera_issue` (`TESSERA_LIMIT_REACHED` also when the subject's
/// cap would evict only this child's own ancestors).
///
/// # Safety
/// `parent` must be NULL or readable for `parent_len` bytes; the rest as `tessera_issue`.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn tessera_issue_child(
    store: *const tessera_store,
    parent: *const c_char,
    parent_len: usize,
    request: *const tessera_request,
    token_buf: *mut c_char,
    token_buf_len: usize,
    out_token_len: *mut usize,
    out_record: *mut *mut tessera_record,
    out_clamped: *mut bool,
) -> tessera_status {
    status(|| {
        with_store(store, |s| {
            // SAFETY: by the caller's contract.
            let p = unsafe { token_bytes(parent.cast(), parent_len, "parent") }?;
            // SAFETY: forwarded contract.
            unsafe {
                issue_child(
                    s,
                    TokenRef::Text(p),
                    request,
                    token_buf,
                    token_buf_len,
                    out_token_len,
                    out_record,
                    out_clamped,
                )
            }
        })
    })
}

/// Issues a child token of the valid token whose id is `parent_id`, like
/// `tessera_issue_child`.
///
/// Statuses: as `tessera_issue_child`, plus `TESSERA_NOT_FOUND` for an id no stored token has
/// and `TESSERA_INVALID_ARGUMENT` for text that is not an id.
///
/// # Safety
/// `parent_id` must be NULL or readable for `parent_id_len` bytes; the rest as `tessera_issue`.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn tessera_issue_child_by_id(
    store: *const tessera_store,
    parent_id: *const c_char,
    parent_id_len: usize,
    request: *const tessera_request,
    token_buf: *mut c_char,
    token_buf_len: usize,
    out_token_len: *mut usize,
    out_record: *mut *mut tessera_record,
    out_clamped: *mut bool,
) -> tessera_status {
    status(|| {
        with_store(store, |s| {
            // SAFETY: by the caller's contract.
            let id = unsafe { id_arg(parent_id, parent_id_len, "parent_id") }?;
            // SAFETY: forwarded contract.
            unsafe {
                issue_child(
                    s,
                    TokenRef::Id(id),
                    request,
                    token_buf,
                    token_buf_len,
                    out_token_len,
                    out_record,
                    out_clamped,
                )
            }
        })
    })
}

/// Lists the tokens derived from the token whose id is `parent_id`, whatever their state,
/// oldest first. `*out_list` is released with one `tessera_free`.
///
/// Statuses: `TESSERA_NULL_ARGUMENT`, `TESSERA_INVALID_UTF8`, `TESSERA_INVALID_ARGUMENT` (not
/// an id), `TESSERA_INVALID_HANDLE`, `TESSERA_CLOSED`, `TESSERA_FORKED_CHILD`,
/// `TESSERA_STORAGE`, `TESSERA_IO`.
///
/// # Safety
/// `parent_id` must be NULL or readable for `parent_id_len` bytes; `out_list` NULL or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn tessera_children(
    store: *const tessera_store,
    parent_id: *const c_char,
    parent_id_len: usize,
    out_list: *mut *mut tessera_record_list,
) -> tessera_status {
    status(|| {
        with_store(store, |s| {
            // SAFETY: by the caller's contract.
            let id = unsafe { id_arg(parent_id, parent_id_len, "parent_id") }?;
            let out = Out::new(out_list, "out_list")?;
            let list = give_list(&s.children(id)?)?;
            // SAFETY: checked output.
            unsafe { out.write(list) };
            Ok(())
        })
    })
}

/// Rotates a valid token (presented by its text): issues its successor in the same family and
/// hands it over as `tessera_issue` does. The old token keeps working for the store's rotation
/// grace; a retry inside that window returns the same successor. Presenting the old token after
/// the window is reuse: the whole family is revoked and the answer is
/// `TESSERA_REUSE_DETECTED`. A limited-use token is not rotated (`TESSERA_INVALID_ARGUMENT`).
///
/// Statuses: the rejection statuses of `tessera_verify`; `TESSERA_BUFFER_TOO_SMALL`,
/// `TESSERA_NULL_ARGUMENT`, `TESSERA_INVALID_ARGUMENT`, `TESSERA_INVALID_HANDLE`,
/// `TESSERA_CLOSED`, `TESSERA_FORKED_CHILD`, `TESSERA_RANDOM`, `TESSERA_IO`,
/// `TESSERA_DISK_FULL`, `TESSERA_STORAGE`.
///
/// # Safety
/// `token` must be NULL or readable for `token_len` bytes; `token_buf` NULL or writable for
/// `token_buf_len` bytes; outputs NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn tessera_rotate(
    store: *const tessera_store,
    token: *const c_char,
    token_len: usize,
    token_buf: *mut c_char,
    token_buf_len: usize,
    out_token_len: *mut usize,
    out_record: *mut *mut tessera_record,
) -> tessera_status {
    status(|| {
        with_store(store, |s| {
            // SAFETY: by the caller's contract.
            let t = unsafe { token_bytes(token.cast(), token_len, "token") }?;
            let buf = token_buffer(token_buf, token_buf_len)?;
            let successor = s.rotate(t)?;
            // SAFETY: checked buffer; outputs by the caller's contract.
            unsafe { deliver(&successor, buf, out_token_len, out_record) }
        })
    })
}

/// Rolls an API key.
///
/// # Safety
/// As `tessera_roll`.
#[allow(clippy::too_many_arguments)]
unsafe fn roll(
    s: &Store,
    key: TokenRef<'_>,
    grace_ms: i64,
    token_buf: *mut c_char,
    token_buf_len: usize,
    out_token_len: *mut usize,
    out_record: *mut *mut tessera_record,
) -> Result<(), Fault> {
    let grace = duration(grace_ms, "grace_ms")?;
    let buf = token_buffer(token_buf, token_buf_len)?;
    let new_key = s.roll(key, grace)?;
    // SAFETY: checked buffer; outputs by the caller's contract.
    unsafe { deliver(&new_key, buf, out_token_len, out_record) }
}

/// Rolls an API key (presented by its text): issues a new key with the same tenant, subject,
/// scopes and label, handed over as `tessera_issue` does, whose lifetime starts now (it expires
/// as long after the roll as the old key did after its issue, renewals included, within the old
/// key's maximum lifetime counted from the roll: that bounds each key, not a chain of rolls);
/// the old key keeps working for `grace_ms` milliseconds, then expires.
///
/// Statuses: the rejection statuses of `tessera_verify`; `TESSERA_INVALID_ARGUMENT` (a negative
/// grace, a token that is not an API key, a limited-use key); `TESSERA_BUFFER_TOO_SMALL`, `TESSERA_NULL_ARGUMENT`,
/// `TESSERA_INVALID_HANDLE`, `TESSERA_CLOSED`, `TESSERA_FORKED_CHILD`, `TESSERA_RANDOM`,
/// `TESSERA_IO`, `TESSERA_DISK_FULL`, `TESSERA_STORAGE`.
///
/// # Safety
/// `key` must be NULL or readable for `key_len` bytes; `token_buf` NULL or writable for
/// `token_buf_len` bytes; outputs NULL or writable.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn tessera_roll(
    store: *const tessera_store,
    key: *const c_char,
    key_len: usize,
    grace_ms: i64,
    token_buf: *mut c_char,
    token_buf_len: usize,
    out_token_len: *mut usize,
    out_record: *mut *mut tessera_record,
) -> tessera_status {
    status(|| {
        with_store(store, |s| {
            // SAFETY: by the caller's contract.
            let k = unsafe { token_bytes(key.cast(), key_len, "key") }?;
            // SAFETY: forwarded contract.
            unsafe {
                roll(
                    s,
                    TokenRef::Text(k),
                    grace_ms,
                    token_buf,
                    token_buf_len,
                    out_token_len,
                    out_record,
                )
            }
        })
    })
}

/// Rolls the API key whose id is `key_id`, like `tessera_roll`.
///
/// Statuses: as `tessera_roll`, plus `TESSERA_NOT_FOUND` for an id no stored token has.
///
/// # Safety
/// `key_id` must be NULL or readable for `key_id_len` bytes; the rest as `tessera_roll`.
#[no_mangle]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn tessera_roll_by_id(
    store: *const tessera_store,
    key_id: *const c_char,
    key_id_len: usize,
    grace_ms: i64,
    token_buf: *mut c_char,
    token_buf_len: usize,
    out_token_len: *mut usize,
    out_record: *mut *mut tessera_record,
) -> tessera_status {
    status(|| {
        with_store(store, |s| {
            // SAFETY: by the caller's contract.
            let id = unsafe { id_arg(key_id, key_id_len, "key_id") }?;
            // SAFETY: forwarded contract.
            unsafe {
                roll(
                    s,
                    TokenRef::Id(id),
                    grace_ms,
                    token_buf,
                    token_buf_len,
                    out_token_len,
                    out_record,
                )
            }
        })
    })
}

/// Revokes every token issued strictly before `before_unix_ms` in a scope, in a constant number
/// of writes ("sign out everywhere after a password change", "a key leaked yesterday"; a
/// rotated session counts as issued when its first generation was, a rolled key when it was
/// rolled): `scope`
/// is a `tessera_revoke_scope`, and `name` the tenant or the subject (NULL with length 0 for
/// `TESSERA_SCOPE_STORE`; the default tenant `""` is any other pointer with length 0). Durable
/// when it returns; the dead rows are removed later by the purge. A cutoff in the future also
/// revokes the tokens issued until then, as they are issued (cutoffs never go back); one more
/// than a day past the store's clock is refused (a time in microseconds would revoke every token
/// of the scope for ever), and so is one before 2000-01-01 while the store's clock is past it (a
/// time in seconds, `time(NULL)`, reads as January 1970 and would revoke nothing).
///
/// Statuses: `TESSERA_INVALID_ARGUMENT` (a number that is not a `tessera_revoke_scope`, a name
/// given for the store scope or missing for the others, a cutoff more than a day ahead, or
/// before 2000 while the store's clock is past it),
/// `TESSERA_NULL_ARGUMENT`,
/// `TESSERA_INVALID_UTF8`, `TESSERA_INVALID_HANDLE`, `TESSERA_CLOSED`, `TESSERA_FORKED_CHILD`,
/// `TESSERA_IO`, `TESSERA_DISK_FULL`, `TESSERA_STORAGE`.
///
/// # Safety
/// `name` must be NULL or readable for `name_len` bytes.
#[no_mangle]
pub unsafe extern "C" fn tessera_revoke_issued_before(
    store: *const tessera_store,
    scope: u32,
    name: *const c_char,
    name_len: usize,
    before_unix_ms: i64,
) -> tessera_status {
    status(|| {
        with_store(store, |s| {
            // The arguments in order: the scope before its name.
            if !(1..=3).contains(&scope) {
                return Err(Fault::invalid(format!(
                    "{scope} is not a tessera_revoke_scope"
                )));
            }
            // SAFETY: by the caller's contract.
            let name = unsafe { optional_text(name, name_len, "name") }?;
            // 1 to 3, checked above.
            let scope = match (scope, name) {
                (1, None) => RevokeScope::Store,
                (1, Some(_)) => {
                    return Err(Fault::invalid(
                        "TESSERA_SCOPE_STORE takes no name: pass NULL with length 0",
                    ))
                }
                (_, None) => {
                    return Err(Fault::invalid(
                        "a tenant or subject scope needs its name (NULL was given)",
                    ))
                }
                (2, Some(t)) => RevokeScope::Tenant(t.to_owned()),
                (_, Some(s)) => RevokeScope::Subject(s.to_owned()),
            };
            Ok(s.revoke_issued_before(scope, Timestamp::from_unix_millis(before_unix_ms))?)
        })
    })
}

/// Reads the audit feed: the events after the cursor `since` (0 for the oldest kept), at most
/// `limit`, oldest first. Pass the last event's `seq` as `since` to read on. `*out_list` is
/// released with one `tessera_free`.
///
/// Statuses: `TESSERA_NULL_ARGUMENT`, `TESSERA_INVALID_HANDLE`, `TESSERA_CLOSED`,
/// `TESSERA_FORKED_CHILD`, `TESSERA_CORRUPT`, `TESSERA_STORAGE`, `TESSERA_IO`.
///
/// # Safety
/// `out_list` must be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn tessera_events(
    store: *const tessera_store,
    since: u64,
    limit: usize,
    out_list: *mut *mut tessera_event_list,
) -> tessera_status {
    status(|| {
        with_store(store, |s| {
            let out = Out::new(out_list, "out_list")?;
            let list = give_events(&s.events(since, limit)?)?;
            // SAFETY: checked output.
            unsafe { out.write(list) };
            Ok(())
        })
    })
}
