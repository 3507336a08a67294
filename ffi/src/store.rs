//! Opening and closing stores, and every operation on an open store.

use std::ffi::c_char;
use std::path::PathBuf;

use tessera::{Options, Outcome, Store, TokenId, TokenRef};

use crate::boundary::{
    bytes, duration, handle, optional_text, status, text, token_bytes, MaybeOut, Out,
};
use crate::handle::{self, tessera_store, with_store};
use crate::options::tessera_options;
use crate::output::{
    give_list, give_record, give_stats, tessera_kind, tessera_record, tessera_record_list,
    tessera_stats,
};
use crate::request::{tessera_request, tessera_requirements};
use crate::status::{tessera_status, Fault};
use crate::{TESSERA_ANY_KIND, TESSERA_TOKEN_BUF_LEN};

use tessera_status::*;

/// A file path from `(ptr, len)`: any bytes but NUL on Unix, UTF-8 elsewhere.
///
/// # Safety
/// `ptr` must be NULL or readable for `len` bytes.
pub(crate) unsafe fn path_arg(
    ptr: *const c_char,
    len: usize,
    name: &str,
) -> Result<PathBuf, Fault> {
    // SAFETY: forwarded contract.
    let b = unsafe { bytes(ptr.cast(), len, name) }?;
    if b.contains(&0) {
        return Err(Fault::invalid(format!("`{name}` contains a NUL byte")));
    }
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        Ok(PathBuf::from(std::ffi::OsStr::from_bytes(b)))
    }
    #[cfg(not(unix))]
    {
        std::str::from_utf8(b)
            .map(PathBuf::from)
            .map_err(|_| Fault::new(TESSERA_INVALID_UTF8, format!("`{name}` is not valid UTF-8")))
    }
}

/// The options to open with: a copy of the caller's, or the defaults for NULL.
///
/// # Safety
/// `options` must be NULL or a live options handle.
unsafe fn options_arg(options: *const tessera_options) -> Options {
    // SAFETY: by the caller's contract.
    match unsafe { options.as_ref() } {
        Some(o) => o.inner.clone(),
        None => Options::new(),
    }
}

/// A token id from its text (`TESSERA_ID_LEN` base62 characters).
///
/// # Safety
/// `ptr` must be NULL or readable for `len` bytes.
pub(crate) unsafe fn id_arg(ptr: *const c_char, len: usize, name: &str) -> Result<TokenId, Fault> {
    // SAFETY: forwarded contract.
    let t = unsafe { text(ptr, len, name) }?;
    t.parse::<TokenId>()
        .map_err(|e| Fault::invalid(format!("`{name}`: {e}")))
}

/// Opens the store in the file at `path` (`path_len` bytes, not NUL-terminated, any bytes but
/// NUL), creating it if missing, with `options` (copied; NULL: the defaults). Opening a file
/// that is already open in this process shares its store (a second handle; each must be freed).
///
/// Open stores after `fork()`, in the process that uses them: a handle opened before answers
/// `TESSERA_FORKED_CHILD` in the child.
///
/// Statuses: `TESSERA_NULL_ARGUMENT`, `TESSERA_INVALID_ARGUMENT` (bad options, a NUL in the
/// path, a path that names no file), `TESSERA_NOT_A_STORE`, `TESSERA_CORRUPT`,
/// `TESSERA_LOCKED` (open in another process), `TESSERA_NEWER_SCHEMA`, `TESSERA_PEPPER`,
/// `TESSERA_OPTIONS_CONFLICT`, `TESSERA_IO`, `TESSERA_DISK_FULL`, `TESSERA_STORAGE`.
///
/// # Safety
/// `path` must be NULL or readable for `path_len` bytes; `options` NULL or a live options
/// handle; `out_store` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn tessera_store_open(
    path: *const c_char,
    path_len: usize,
    options: *const tessera_options,
    out_store: *mut *mut tessera_store,
) -> tessera_status {
    status(|| {
        // SAFETY: by the caller's contract.
        let path = unsafe { path_arg(path, path_len, "path") }?;
        // SAFETY: by the caller's contract.
        let options = unsafe { options_arg(options) };
        let out = Out::new(out_store, "out_store")?;
        let store = Store::open(path, options)?;
        // SAFETY: checked output.
        unsafe { out.write(handle::insert(store)) };
        Ok(())
    })
}

/// Opens a store that lives in memory only (for tests and caches), with `options` (copied;
/// NULL: the defaults).
///
/// Statuses: `TESSERA_NULL_ARGUMENT`, `TESSERA_INVALID_ARGUMENT` (bad options, and the
/// multi-process mode: a store in memory is this process's alone),
/// `TESSERA_STORAGE`.
///
/// # Safety
/// `options` must be NULL or a live options handle; `out_store` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn tessera_store_open_in_memory(
    options: *const tessera_options,
    out_store: *mut *mut tessera_store,
) -> tessera_status {
    status(|| {
        // SAFETY: by the caller's contract.
        let options = unsafe { options_arg(options) };
        let out = Out::new(out_store, "out_store")?;
        let store = Store::in_memory(options)?;
        // SAFETY: checked output.
        unsafe { out.write(handle::insert(store)) };
        Ok(())
    })
}

/// Closes a store handle: waits for the calls in flight on it, then, if it is the last handle
/// on its file, writes pending uses and closes the file, reporting any error doing so. The
/// handle is closed whatever that status (every later call on it answers `TESSERA_CLOSED`) and
/// must still be released with `tessera_store_free`.
///
/// Statuses: `TESSERA_NULL_ARGUMENT`, `TESSERA_INVALID_HANDLE`, `TESSERA_CLOSED` (closed
/// already), `TESSERA_FORKED_CHILD` (the handle was inherited: the child leaves the parent's
/// file alone; free it), `TESSERA_IO`, `TESSERA_DISK_FULL`, `TESSERA_STORAGE`.
///
/// # Safety
/// None: the handle is looked up, never dereferenced.
#[no_mangle]
pub unsafe extern "C" fn tessera_store_close(store: *mut tessera_store) -> tessera_status {
    status(|| handle::close(store))
}

/// Releases a store handle, closing it first if needed (use `tessera_store_close` to see errors
/// of closing). In a forked child it releases an inherited handle without touching the
/// parent's file. NULL, and a handle freed already, are no-ops. Like close, it waits for the
/// calls in flight on the handle; every later call on it answers `TESSERA_INVALID_HANDLE`.
///
/// # Safety
/// None: the handle is looked up, never dereferenced.
#[no_mangle]
pub unsafe extern "C" fn tessera_store_free(store: *mut tessera_store) {
    crate::boundary::value((), || handle::free(store))
}

/// Checks the caller's buffer for a token text before anything is issued.
pub(crate) fn token_buffer(buf: *mut c_char, len: usize) -> Result<Out<c_char>, Fault> {
    let out = Out::new(buf, "token_buf")?;
    if len < TESSERA_TOKEN_BUF_LEN {
        return Err(Fault::new(
            TESSERA_BUFFER_TOO_SMALL,
            format!(
                "`token_buf` has {len} bytes; it needs TESSERA_TOKEN_BUF_LEN ({TESSERA_TOKEN_BUF_LEN})"
            ),
        ));
    }
    Ok(out)
}

/// Hands a newly issued token to the caller: its text into the checked buffer,
/// NUL-terminated, and optionally its length and its record.
///
/// # Safety
/// `buf` must come from [`token_buffer`] on a buffer of the length it checked; the optional
/// outputs must be NULL or writable.
pub(crate) unsafe fn deliver(
    issued: &tessera::Issued,
    buf: Out<c_char>,
    out_token_len: *mut usize,
    out_record: *mut *mut tessera_record,
) -> Result<(), Fault> {
    let out_rec = MaybeOut::new(out_record);
    let record = if out_rec.wanted() {
        Some(give_record(&issued.record)?)
    } else {
        None
    };
    let text = issued.token.as_str().as_bytes();
    // SAFETY: the buffer holds TESSERA_TOKEN_BUF_LEN bytes, more than any token text plus its
    // NUL; the outputs are the caller's.
    unsafe {
        let dst = buf.as_ptr().cast::<u8>();
        std::ptr::copy_nonoverlapping(text.as_ptr(), dst, text.len());
        dst.add(text.len()).write(0);
        MaybeOut::new(out_token_len).write(text.len());
        if let Some(r) = record {
            out_rec.write(r);
        }
    }
    Ok(())
}

/// Issues a token as `request` describes. The token text (the only copy of its secret: the
/// store keeps a hash) is written to `token_buf`, NUL-terminated; `token_buf_len` must be at
/// least `TESSERA_TOKEN_BUF_LEN`, checked before anything is issued. Hand the text to its
/// holder and never log it.
///
/// Outputs: `*out_token_len` (optional: may be NULL) the text's length without the NUL;
/// `*out_record` (optional) the token's record, to release with `tessera_free`.
///
/// Statuses: `TESSERA_NULL_ARGUMENT`, `TESSERA_INVALID_HANDLE`, `TESSERA_CLOSED`,
/// `TESSERA_FORKED_CHILD`, `TESSERA_BUFFER_TOO_SMALL`, `TESSERA_INVALID_ARGUMENT` (a field of
/// the request is out of bounds: the message says which), `TESSERA_LIMIT_REACHED` (the
/// subject's cap, with the refuse policy), `TESSERA_RANDOM`, `TESSERA_IO`,
/// `TESSERA_DISK_FULL`, `TESSERA_STORAGE`.
///
/// # Safety
/// `request` must be NULL or a live request handle; `token_buf` NULL or writable for
/// `token_buf_len` bytes; each output NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn tessera_issue(
    store: *const tessera_store,
    request: *const tessera_request,
    token_buf: *mut c_char,
    token_buf_len: usize,
    out_token_len: *mut usize,
    out_record: *mut *mut tessera_record,
) -> tessera_status {
    status(|| {
        with_store(store, |s| {
            // SAFETY: by the caller's contract.
            let request = unsafe { handle(request, "request") }?;
            let buf = token_buffer(token_buf, token_buf_len)?;
            let issued = s.issue(&request.inner)?;
            // SAFETY: checked buffer; outputs by the caller's contract.
            unsafe { deliver(&issued, buf, out_token_len, out_record) }
        })
    })
}

/// Answers a verify: `TESSERA_OK` with the record, or the rejection's status.
fn verified(outcome: Outcome, out_record: MaybeOut<*mut tessera_record>) -> Result<(), Fault> {
    match outcome {
        Outcome::Valid(record) => {
            if out_record.wanted() {
                let r = give_record(&record)?;
                // SAFETY: the caller's output, checked by `MaybeOut`.
                unsafe { out_record.write(r) };
            }
            Ok(())
        }
        Outcome::Invalid(why) => Err(why.into()),
    }
}

/// Verifies a token text (`token_len` bytes, as the client presented it; any bytes). Malformed
/// text is rejected without touching storage. Verifying most tokens writes nothing: uses
/// (`last_used_at`, idle extensions) are recorded in memory and written in batches. Two cases
/// write to the file, durably, before the answer: a use of a limited-use token (`max_uses`) is
/// counted, and a rotated token presented after its grace revokes its whole family
/// (`TESSERA_REUSE_DETECTED`).
///
/// Returns `TESSERA_OK` for a valid token, and then writes its record to `*out_record` if
/// `out_record` is not NULL (release it with `tessera_free`; pass NULL to skip the
/// allocation). Otherwise one status per reason: `TESSERA_MALFORMED`, `TESSERA_UNKNOWN_TOKEN`,
/// `TESSERA_BAD_SECRET`, `TESSERA_EXPIRED`, `TESSERA_IDLE`, `TESSERA_REVOKED`,
/// `TESSERA_EXHAUSTED`, `TESSERA_REUSE_DETECTED`. These details are for the host's logs: answer
/// every one of them with the same 401.
///
/// A token text longer than `TESSERA_MAX_INPUT_LEN` is `TESSERA_MALFORMED` too, refused before
/// it is read. Other statuses: `TESSERA_NULL_ARGUMENT`, `TESSERA_INVALID_HANDLE`,
/// `TESSERA_CLOSED`, `TESSERA_FORKED_CHILD`, `TESSERA_STORAGE`, `TESSERA_IO`, and
/// `TESSERA_DISK_FULL` (for the two verifies that write).
///
/// # Safety
/// `token` must be NULL or readable for `token_len` bytes; `out_record` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn tessera_verify(
    store: *const tessera_store,
    token: *const c_char,
    token_len: usize,
    out_record: *mut *mut tessera_record,
) -> tessera_status {
    status(|| {
        with_store(store, |s| {
            // SAFETY: by the caller's contract.
            let t = unsafe { token_bytes(token.cast(), token_len, "token") }?;
            verified(s.verify(t)?, MaybeOut::new(out_record))
        })
    })
}

/// Verifies a token text like `tessera_verify` and checks `requirements` (tenant, scopes):
/// `TESSERA_TENANT_MISMATCH` or `TESSERA_SCOPE_DENIED` when the valid token does not meet
/// them.
///
/// # Safety
/// As `tessera_verify`; `requirements` must be NULL or a live requirements handle.
#[no_mangle]
pub unsafe extern "C" fn tessera_verify_with(
    store: *const tessera_store,
    token: *const c_char,
    token_len: usize,
    requirements: *const tessera_requirements,
    out_record: *mut *mut tessera_record,
) -> tessera_status {
    status(|| {
        with_store(store, |s| {
            // SAFETY: by the caller's contract.
            let t = unsafe { token_bytes(token.cast(), token_len, "token") }?;
            // SAFETY: by the caller's contract.
            let req = unsafe { handle(requirements, "requirements") }?;
            verified(s.verify_with(t, &req.inner)?, MaybeOut::new(out_record))
        })
    })
}

/// Renews a token named by `target`.
///
/// # Safety
/// Outputs NULL or writable.
unsafe fn renew(
    s: &Store,
    target: TokenRef<'_>,
    extend_by_ms: i64,
    out_record: *mut *mut tessera_record,
    out_capped: *mut bool,
) -> Result<(), Fault> {
    let by = duration(extend_by_ms, "extend_by_ms")?;
    let out_rec = MaybeOut::new(out_record);
    let renewed = s.renew(target, by)?;
    let record = if out_rec.wanted() {
        Some(give_record(&renewed.record)?)
    } else {
        None
    };
    // SAFETY: the caller's outputs, checked by `MaybeOut`.
    unsafe {
        MaybeOut::new(out_capped).write(renewed.capped);
        if let Some(r) = record {
            out_rec.write(r);
        }
    }
    Ok(())
}

/// Renews a live token presented by its text: its expiry becomes now + `extend_by_ms`, never
/// past its creation plus its maximum lifetime and never shorter than it was. Counts as a use.
///
/// Outputs (optional): `*out_record` the token as it is now (release with `tessera_free`);
/// `*out_capped` whether the maximum lifetime cut the new expiry short.
///
/// Statuses: the rejection statuses of `tessera_verify` if the token is not valid
/// (`TESSERA_REUSE_DETECTED` for the text of a rotated token after its grace window: its family
/// is revoked); `TESSERA_INVALID_ARGUMENT` for a negative or zero `extend_by_ms`, a token that
/// never expires, or one that was rotated or rolled (renew its successor); `TESSERA_NULL_ARGUMENT`, `TESSERA_INVALID_HANDLE`, `TESSERA_CLOSED`,
/// `TESSERA_FORKED_CHILD`, `TESSERA_IO`, `TESSERA_DISK_FULL`, `TESSERA_STORAGE`.
///
/// # Safety
/// `token` must be NULL or readable for `token_len` bytes; outputs NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn tessera_renew(
    store: *const tessera_store,
    token: *const c_char,
    token_len: usize,
    extend_by_ms: i64,
    out_record: *mut *mut tessera_record,
    out_capped: *mut bool,
) -> tessera_status {
    status(|| {
        with_store(store, |s| {
            // SAFETY: by the caller's contract.
            let t = unsafe { token_bytes(token.cast(), token_len, "token") }?;
            // SAFETY: forwarded contract.
            unsafe { renew(s, TokenRef::Text(t), extend_by_ms, out_record, out_capped) }
        })
    })
}

/// Renews a live token named by its id (`TESSERA_ID_LEN` base62 characters), like
/// `tessera_renew`.
///
/// Statuses: as `tessera_renew`, plus `TESSERA_NOT_FOUND` for an id no stored token has and
/// `TESSERA_INVALID_ARGUMENT` for text that is not an id.
///
/// # Safety
/// `id` must be NULL or readable for `id_len` bytes; outputs NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn tessera_renew_by_id(
    store: *const tessera_store,
    id: *const c_char,
    id_len: usize,
    extend_by_ms: i64,
    out_record: *mut *mut tessera_record,
    out_capped: *mut bool,
) -> tessera_status {
    status(|| {
        with_store(store, |s| {
            // SAFETY: by the caller's contract.
            let id = unsafe { id_arg(id, id_len, "id") }?;
            // SAFETY: forwarded contract.
            unsafe { renew(s, TokenRef::Id(id), extend_by_ms, out_record, out_capped) }
        })
    })
}

/// Writes a count to an optional output.
///
/// # Safety
/// `out` NULL or writable.
unsafe fn count(out: *mut usize, n: usize) -> Result<(), Fault> {
    // SAFETY: forwarded contract.
    unsafe { MaybeOut::new(out).write(n) };
    Ok(())
}

/// Revokes one token presented by its text (a logout: the secret must match), with its
/// descendants and, for a rotated session, every generation linked to it by rotations. Durable
/// when it returns; every verify that starts afterwards answers `TESSERA_REVOKED`.
///
/// Output (optional): `*out_revoked` the number of tokens revoked (0 if it already was).
///
/// Statuses: `TESSERA_MALFORMED`, `TESSERA_UNKNOWN_TOKEN`, `TESSERA_BAD_SECRET` when the text
/// names no token of this store; `TESSERA_NULL_ARGUMENT`, `TESSERA_INVALID_HANDLE`,
/// `TESSERA_CLOSED`, `TESSERA_FORKED_CHILD`, `TESSERA_IO`, `TESSERA_DISK_FULL`,
/// `TESSERA_STORAGE`.
///
/// # Safety
/// `token` must be NULL or readable for `token_len` bytes; `out_revoked` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn tessera_revoke(
    store: *const tessera_store,
    token: *const c_char,
    token_len: usize,
    out_revoked: *mut usize,
) -> tessera_status {
    status(|| {
        with_store(store, |s| {
            // SAFETY: by the caller's contract.
            let t = unsafe { token_bytes(token.cast(), token_len, "token") }?;
            let n = s.revoke(TokenRef::Text(t))?;
            // SAFETY: by the caller's contract.
            unsafe { count(out_revoked, n) }
        })
    })
}

/// Revokes one token named by its id (an administrative action). Durable when it returns.
///
/// Output (optional): `*out_revoked` the number of tokens revoked (0 if it already was).
///
/// Statuses: `TESSERA_NOT_FOUND`, `TESSERA_INVALID_ARGUMENT` (not an id), and as
/// `tessera_revoke`.
///
/// # Safety
/// `id` must be NULL or readable for `id_len` bytes; `out_revoked` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn tessera_revoke_by_id(
    store: *const tessera_store,
    id: *const c_char,
    id_len: usize,
    out_revoked: *mut usize,
) -> tessera_status {
    status(|| {
        with_store(store, |s| {
            // SAFETY: by the caller's contract.
            let id = unsafe { id_arg(id, id_len, "id") }?;
            let n = s.revoke(TokenRef::Id(id))?;
            // SAFETY: by the caller's contract.
            unsafe { count(out_revoked, n) }
        })
    })
}

/// Revokes every token of `subject` not revoked yet (in every tenant, of both kinds), with their
/// descendants, except the token whose id is
/// `except_id` if it is not NULL ("log out my other devices"; NULL with length 0: no
/// exception; any other pointer with length 0 is the empty text, which is not an id:
/// `TESSERA_INVALID_ARGUMENT`, and nothing is revoked). The kept token's ancestors, the
/// generations rotated from it and those it was rotated from while inside their grace window
/// are kept with it. Durable when it returns.
///
/// Output (optional): `*out_revoked` how many were revoked, counting tokens past a deadline and
/// not purged yet.
///
/// Statuses: `TESSERA_NULL_ARGUMENT`, `TESSERA_INVALID_UTF8`, `TESSERA_INVALID_ARGUMENT`
/// (`except_id` is not an id), `TESSERA_INVALID_HANDLE`, `TESSERA_CLOSED`,
/// `TESSERA_FORKED_CHILD`, `TESSERA_IO`, `TESSERA_DISK_FULL`, `TESSERA_STORAGE`.
///
/// # Safety
/// Each text must be NULL or readable for its length; `out_revoked` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn tessera_revoke_subject(
    store: *const tessera_store,
    subject: *const c_char,
    subject_len: usize,
    except_id: *const c_char,
    except_id_len: usize,
    out_revoked: *mut usize,
) -> tessera_status {
    status(|| {
        with_store(store, |s| {
            // SAFETY: by the caller's contract.
            let subject = unsafe { text(subject, subject_len, "subject") }?;
            // SAFETY: by the caller's contract.
            let except = unsafe { optional_text(except_id, except_id_len, "except_id") }?
                .map(|t| {
                    t.parse::<TokenId>()
                        .map_err(|e| Fault::invalid(format!("`except_id`: {e}")))
                })
                .transpose()?;
            let n = s.revoke_subject(subject, except)?;
            // SAFETY: by the caller's contract.
            unsafe { count(out_revoked, n) }
        })
    })
}

/// Revokes every token of `tenant` not revoked yet, with their descendants. Durable when it
/// returns.
///
/// Output (optional): `*out_revoked` how many were revoked, counting tokens past a deadline and
/// not purged yet.
///
/// Statuses: `TESSERA_NULL_ARGUMENT`, `TESSERA_INVALID_UTF8`, `TESSERA_INVALID_ARGUMENT`,
/// `TESSERA_INVALID_HANDLE`, `TESSERA_CLOSED`, `TESSERA_FORKED_CHILD`, `TESSERA_IO`,
/// `TESSERA_DISK_FULL`, `TESSERA_STORAGE`.
///
/// # Safety
/// `tenant` must be NULL or readable for `tenant_len` bytes; `out_revoked` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn tessera_revoke_tenant(
    store: *const tessera_store,
    tenant: *const c_char,
    tenant_len: usize,
    out_revoked: *mut usize,
) -> tessera_status {
    status(|| {
        with_store(store, |s| {
            // SAFETY: by the caller's contract.
            let tenant = unsafe { text(tenant, tenant_len, "tenant") }?;
            let n = s.revoke_tenant(tenant)?;
            // SAFETY: by the caller's contract.
            unsafe { count(out_revoked, n) }
        })
    })
}

/// Reads the record of the token whose id is `id`, whatever its state (revoked, expired), as
/// long as it is stored. `*out_record` is released with `tessera_free`.
///
/// Statuses: `TESSERA_NOT_FOUND`, `TESSERA_INVALID_ARGUMENT` (not an id),
/// `TESSERA_NULL_ARGUMENT`, `TESSERA_INVALID_UTF8`, `TESSERA_INVALID_HANDLE`,
/// `TESSERA_CLOSED`, `TESSERA_FORKED_CHILD`, `TESSERA_STORAGE`, `TESSERA_IO`.
///
/// # Safety
/// `id` must be NULL or readable for `id_len` bytes; `out_record` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn tessera_get(
    store: *const tessera_store,
    id: *const c_char,
    id_len: usize,
    out_record: *mut *mut tessera_record,
) -> tessera_status {
    status(|| {
        with_store(store, |s| {
            // SAFETY: by the caller's contract.
            let id = unsafe { id_arg(id, id_len, "id") }?;
            let out = Out::new(out_record, "out_record")?;
            let record = s.get(id)?.ok_or(tessera::Error::NotFound)?;
            let r = give_record(&record)?;
            // SAFETY: checked output.
            unsafe { out.write(r) };
            Ok(())
        })
    })
}

/// Gives a list to a checked output.
fn list_out(
    out: Out<*mut tessera_record_list>,
    records: Result<Vec<tessera::Record>, tessera::Error>,
) -> Result<(), Fault> {
    let list = give_list(&records?)?;
    // SAFETY: checked output.
    unsafe { out.write(list) };
    Ok(())
}

/// Lists the live tokens of `subject` (every tenant), oldest first: a "your devices" page.
/// `*out_list` is released, records and all, with one `tessera_free`.
///
/// Statuses: `TESSERA_NULL_ARGUMENT`, `TESSERA_INVALID_UTF8`, `TESSERA_INVALID_ARGUMENT`,
/// `TESSERA_INVALID_HANDLE`, `TESSERA_CLOSED`, `TESSERA_FORKED_CHILD`, `TESSERA_STORAGE`,
/// `TESSERA_IO`.
///
/// # Safety
/// `subject` must be NULL or readable for `subject_len` bytes; `out_list` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn tessera_list_subject(
    store: *const tessera_store,
    subject: *const c_char,
    subject_len: usize,
    out_list: *mut *mut tessera_record_list,
) -> tessera_status {
    status(|| {
        with_store(store, |s| {
            // SAFETY: by the caller's contract.
            let subject = unsafe { text(subject, subject_len, "subject") }?;
            let out = Out::new(out_list, "out_list")?;
            list_out(out, s.list_subject(subject))
        })
    })
}

/// Lists the live tokens of `tenant` of one `tessera_kind`, or of every kind with
/// `TESSERA_ANY_KIND`, oldest first. `*out_list` is released with one `tessera_free`.
///
/// Statuses: as `tessera_list_subject`, plus `TESSERA_INVALID_ARGUMENT` for a `kind` that is
/// neither a `tessera_kind` nor `TESSERA_ANY_KIND`.
///
/// # Safety
/// `tenant` must be NULL or readable for `tenant_len` bytes; `out_list` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn tessera_list_tenant(
    store: *const tessera_store,
    tenant: *const c_char,
    tenant_len: usize,
    kind: u32,
    out_list: *mut *mut tessera_record_list,
) -> tessera_status {
    status(|| {
        with_store(store, |s| {
            // SAFETY: by the caller's contract.
            let tenant = unsafe { text(tenant, tenant_len, "tenant") }?;
            let kind = match (kind, tessera_kind::to_core(kind)) {
                (TESSERA_ANY_KIND, _) => None,
                (_, Some(k)) => Some(k),
                (n, None) => {
                    return Err(Fault::invalid(format!(
                        "{n} is neither a tessera_kind nor TESSERA_ANY_KIND"
                    )))
                }
            };
            let out = Out::new(out_list, "out_list")?;
            list_out(out, s.list_tenant(tenant, kind))
        })
    })
}

/// Lists the live API keys of `tenant`, oldest first. `*out_list` is released with one
/// `tessera_free`.
///
/// Statuses: as `tessera_list_subject`.
///
/// # Safety
/// `tenant` must be NULL or readable for `tenant_len` bytes; `out_list` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn tessera_list_api_keys(
    store: *const tessera_store,
    tenant: *const c_char,
    tenant_len: usize,
    out_list: *mut *mut tessera_record_list,
) -> tessera_status {
    status(|| {
        with_store(store, |s| {
            // SAFETY: by the caller's contract.
            let tenant = unsafe { text(tenant, tenant_len, "tenant") }?;
            let out = Out::new(out_list, "out_list")?;
            list_out(out, s.list_api_keys(tenant))
        })
    })
}

/// Removes one batch (at most the store's purge batch) of expired tokens and of revoked tokens
/// past their retention.
///
/// Outputs (optional): `*out_removed` how many were removed; `*out_more` whether more were due
/// when the batch ended.
///
/// Statuses: `TESSERA_NULL_ARGUMENT`, `TESSERA_INVALID_HANDLE`, `TESSERA_CLOSED`,
/// `TESSERA_FORKED_CHILD`, `TESSERA_IO`, `TESSERA_DISK_FULL`, `TESSERA_STORAGE`.
///
/// # Safety
/// Outputs NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn tessera_purge_batch(
    store: *const tessera_store,
    out_removed: *mut usize,
    out_more: *mut bool,
) -> tessera_status {
    status(|| {
        with_store(store, |s| {
            let b = s.purge_batch()?;
            // SAFETY: by the caller's contract.
            unsafe {
                MaybeOut::new(out_removed).write(b.removed);
                MaybeOut::new(out_more).write(b.more);
            }
            Ok(())
        })
    })
}

/// Removes every expired token (and revoked tokens past retention), batch by batch. A failure
/// keeps what the batches before it removed (the status says why it stopped; call again).
///
/// Output (optional): `*out_removed` how many were removed.
///
/// Statuses: as `tessera_purge_batch`.
///
/// # Safety
/// `out_removed` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn tessera_purge_expired(
    store: *const tessera_store,
    out_removed: *mut usize,
) -> tessera_status {
    status(|| {
        with_store(store, |s| {
            let n = s.purge_expired()?;
            // SAFETY: by the caller's contract.
            unsafe { count(out_removed, n) }
        })
    })
}

/// Writes every use recorded by verify (`last_used_at`, idle extensions) now.
///
/// Statuses: `TESSERA_NULL_ARGUMENT`, `TESSERA_INVALID_HANDLE`, `TESSERA_CLOSED`,
/// `TESSERA_FORKED_CHILD`, `TESSERA_IO`, `TESSERA_DISK_FULL`, `TESSERA_STORAGE`.
///
/// # Safety
/// None beyond the handle rules.
#[no_mangle]
pub unsafe extern "C" fn tessera_flush(store: *const tessera_store) -> tessera_status {
    status(|| with_store(store, |s| Ok(s.flush()?)))
}

/// Counts the stored tokens by kind, tenant and state. Reads every row: meant for operators,
/// not for a request path. `*out_stats` is released with one `tessera_free`.
///
/// Statuses: `TESSERA_NULL_ARGUMENT`, `TESSERA_INVALID_HANDLE`, `TESSERA_CLOSED`,
/// `TESSERA_FORKED_CHILD`, `TESSERA_STORAGE`, `TESSERA_IO`.
///
/// # Safety
/// `out_stats` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn tessera_store_stats(
    store: *const tessera_store,
    out_stats: *mut *mut tessera_stats,
) -> tessera_status {
    status(|| {
        with_store(store, |s| {
            let out = Out::new(out_stats, "out_stats")?;
            let stats = give_stats(&s.stats()?)?;
            // SAFETY: checked output.
            unsafe { out.write(stats) };
            Ok(())
        })
    })
}

/// Reads how many writes this process has made on this store: write batches journaled and redb
/// commits; a batch that changed nothing is not counted (to check that verifies of tokens
/// without a use limit or idle timeout do not write).
///
/// Statuses: `TESSERA_NULL_ARGUMENT`, `TESSERA_INVALID_HANDLE`, `TESSERA_CLOSED`,
/// `TESSERA_FORKED_CHILD`.
///
/// # Safety
/// `out_commits` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn tessera_commits(
    store: *const tessera_store,
    out_commits: *mut u64,
) -> tessera_status {
    status(|| {
        with_store(store, |s| {
            let out = Out::new(out_commits, "out_commits")?;
            // SAFETY: checked output.
            unsafe { out.write(s.commits()) };
            Ok(())
        })
    })
}

/// Reads the current time by the store's clock, in Unix milliseconds.
///
/// Statuses: `TESSERA_NULL_ARGUMENT`, `TESSERA_INVALID_HANDLE`, `TESSERA_CLOSED`,
/// `TESSERA_FORKED_CHILD`.
///
/// # Safety
/// `out_unix_ms` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn tessera_now(
    store: *const tessera_store,
    out_unix_ms: *mut i64,
) -> tessera_status {
    status(|| {
        with_store(store, |s| {
            let out = Out::new(out_unix_ms, "out_unix_ms")?;
            // SAFETY: checked output.
            unsafe { out.write(s.now().as_unix_millis()) };
            Ok(())
        })
    })
}

/// Takes the last error of the store's background thread (flushing uses, sweeping), if one
/// happened since the last call: `*out_status` is its status, or `TESSERA_OK` if there was
/// none. When it is not `TESSERA_OK`, `tessera_last_error_message()` explains it, although this
/// call itself returns `TESSERA_OK`.
///
/// Statuses: `TESSERA_NULL_ARGUMENT`, `TESSERA_INVALID_HANDLE`, `TESSERA_CLOSED`,
/// `TESSERA_FORKED_CHILD`.
///
/// # Safety
/// `out_status` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn tessera_background_error(
    store: *const tessera_store,
    out_status: *mut tessera_status,
) -> tessera_status {
    status(|| {
        with_store(store, |s| {
            let out = Out::new(out_status, "out_status")?;
            let found = match s.background_error() {
                None => TESSERA_OK,
                Some(e) => {
                    let fault = Fault::from(e);
                    crate::status::set_last_error(&fault.message);
                    fault.status
                }
            };
            // SAFETY: checked output.
            unsafe { out.write(found) };
            Ok(())
        })
    })
}

/// Writes a consistent copy of the store to a new file at `path` (`path_len` bytes; the file
/// must not exist), also while other processes use the store in the multi-process mode.
///
/// Output (optional): `*out_copied` the number of tokens copied.
///
/// Statuses: `TESSERA_INVALID_ARGUMENT` (the file exists, a NUL in the path),
/// `TESSERA_NULL_ARGUMENT`, `TESSERA_INVALID_HANDLE`, `TESSERA_CLOSED`,
/// `TESSERA_FORKED_CHILD`, `TESSERA_IO`, `TESSERA_DISK_FULL`, `TESSERA_STORAGE`.
///
/// # Safety
/// `path` must be NULL or readable for `path_len` bytes; `out_copied` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn tessera_backup(
    store: *const tessera_store,
    path: *const c_char,
    path_len: usize,
    out_copied: *mut u64,
) -> tessera_status {
    status(|| {
        with_store(store, |s| {
            // SAFETY: by the caller's contract.
            let path = unsafe { path_arg(path, path_len, "path") }?;
            let n = s.backup(path)?;
            // SAFETY: by the caller's contract.
            unsafe { MaybeOut::new(out_copied).write(n) };
            Ok(())
        })
    })
}

/// Compacts the file: rewrites tables whose pages are less than 90 % used into full pages, then
/// returns the free space to the file system. Waits for running transactions and holds writers
/// while it runs (about a second per million tokens); needs the file not to be in use by another
/// process.
///
/// Output (optional): `*out_compacted` whether anything was rewritten or given back.
///
/// Statuses: `TESSERA_NULL_ARGUMENT`, `TESSERA_INVALID_HANDLE`, `TESSERA_CLOSED`,
/// `TESSERA_FORKED_CHILD`, `TESSERA_IO`, `TESSERA_DISK_FULL` (it needs free space about the size
/// of the largest table), `TESSERA_STORAGE`.
///
/// # Safety
/// `out_compacted` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn tessera_compact(
    store: *const tessera_store,
    out_compacted: *mut bool,
) -> tessera_status {
    status(|| {
        with_store(store, |s| {
            let done = s.compact()?;
            // SAFETY: by the caller's contract.
            unsafe { MaybeOut::new(out_compacted).write(done) };
            Ok(())
        })
    })
}

/// Checks the checksums of every page of the file.
///
/// Output (optional): `*out_intact` true if no damage was found, false if damage was found and
/// repaired (the latest commits may be lost).
///
/// Statuses: `TESSERA_CORRUPT` (the file cannot be read), `TESSERA_NULL_ARGUMENT`,
/// `TESSERA_INVALID_HANDLE`, `TESSERA_CLOSED`, `TESSERA_FORKED_CHILD`, `TESSERA_IO`,
/// `TESSERA_STORAGE`.
///
/// # Safety
/// `out_intact` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn tessera_check_integrity(
    store: *const tessera_store,
    out_intact: *mut bool,
) -> tessera_status {
    status(|| {
        with_store(store, |s| {
            let intact = s.check_integrity()?;
            // SAFETY: by the caller's contract.
            unsafe { MaybeOut::new(out_intact).write(intact) };
            Ok(())
        })
    })
}
