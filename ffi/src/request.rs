//! What to issue (`tessera_request`) and what a request requires of a token
//! (`tessera_requirements`).

use std::ffi::c_char;

use tessera::{IssueRequest, Requirements};

use crate::boundary::{
    bytes, free_handle, give_handle, handle_mut, optional_duration, status, text, Out,
};
use crate::status::{tessera_status, Fault};

/// What to issue: made by `tessera_request_new_session` or `tessera_request_new_api_key`,
/// refined by the `tessera_request_*` setters, used by `tessera_issue` (as often as wanted) and
/// released by `tessera_request_free`. The constructors and setters check each argument's
/// pointer, encoding and size (`TESSERA_INVALID_ARGUMENT` there means a length over 1 MiB, or a
/// number out of range); what a field may hold (a subject not empty, names without control
/// characters, scopes without spaces...) is checked by `tessera_issue`. Not thread-safe
/// while it is being changed; once built it may be used by several threads' `tessera_issue`
/// calls at once.
pub struct tessera_request {
    pub(crate) inner: IssueRequest,
}

/// What a request requires of a token beyond being valid: a tenant and scopes. Made by
/// `tessera_requirements_new`, used by `tessera_verify_with`, released by
/// `tessera_requirements_free`. Build one per route once, then share it: once built it may be
/// read by any number of threads at once.
pub struct tessera_requirements {
    pub(crate) inner: Requirements,
}

/// Changes a request: checks the handle, converts the argument, then applies it to a copy that
/// replaces the request (so a bad argument, or a panic, leaves the request as it was).
fn update<A>(
    request: *mut tessera_request,
    arg: impl FnOnce() -> Result<A, Fault>,
    apply: impl FnOnce(IssueRequest, A) -> IssueRequest,
) -> tessera_status {
    status(|| {
        // SAFETY: the caller passes a live request handle used by this thread only.
        let r = unsafe { handle_mut(request, "request") }?;
        let a = arg()?;
        r.inner = apply(r.inner.clone(), a);
        Ok(())
    })
}

/// Creates a request for a login session of `subject` (the user id, not empty), in the default
/// tenant "".
///
/// Statuses: `TESSERA_NULL_ARGUMENT`, `TESSERA_INVALID_UTF8`, `TESSERA_INVALID_ARGUMENT`.
///
/// # Safety
/// `subject` must be NULL or readable for `subject_len` bytes; `out_request` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn tessera_request_new_session(
    subject: *const c_char,
    subject_len: usize,
    out_request: *mut *mut tessera_request,
) -> tessera_status {
    status(|| {
        // SAFETY: by the caller's contract.
        let s = unsafe { text(subject, subject_len, "subject") }?;
        let out = Out::new(out_request, "out_request")?;
        let inner = IssueRequest::session(s);
        // SAFETY: checked output.
        unsafe { give_handle(out, tessera_request { inner }) };
        Ok(())
    })
}

/// Creates a request for an API key owned by `tenant`. It never expires unless a TTL is given
/// (or the store's default API key TTL is set).
///
/// Statuses: `TESSERA_NULL_ARGUMENT`, `TESSERA_INVALID_UTF8`, `TESSERA_INVALID_ARGUMENT`.
///
/// # Safety
/// `tenant` must be NULL or readable for `tenant_len` bytes; `out_request` NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn tessera_request_new_api_key(
    tenant: *const c_char,
    tenant_len: usize,
    out_request: *mut *mut tessera_request,
) -> tessera_status {
    status(|| {
        // SAFETY: by the caller's contract.
        let t = unsafe { text(tenant, tenant_len, "tenant") }?;
        let out = Out::new(out_request, "out_request")?;
        let inner = IssueRequest::api_key(t);
        // SAFETY: checked output.
        unsafe { give_handle(out, tessera_request { inner }) };
        Ok(())
    })
}

/// Releases a request. NULL is a no-op.
///
/// # Safety
/// `request` must be NULL or a live request handle, not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn tessera_request_free(request: *mut tessera_request) {
    // SAFETY: forwarded contract.
    unsafe { free_handle(request) }
}

/// Sets the tenant (organization).
///
/// Statuses: `TESSERA_NULL_ARGUMENT`, `TESSERA_INVALID_UTF8`, `TESSERA_INVALID_ARGUMENT`.
///
/// # Safety
/// `request` must be NULL or a live request handle; `tenant` NULL or readable for `tenant_len`.
#[no_mangle]
pub unsafe extern "C" fn tessera_request_set_tenant(
    request: *mut tessera_request,
    tenant: *const c_char,
    tenant_len: usize,
) -> tessera_status {
    update(
        request,
        // SAFETY: by the caller's contract.
        || unsafe { text(tenant, tenant_len, "tenant") },
        IssueRequest::tenant,
    )
}

/// Sets the subject (user, not empty); for an API key, the user who owns it.
///
/// Statuses: `TESSERA_NULL_ARGUMENT`, `TESSERA_INVALID_UTF8`, `TESSERA_INVALID_ARGUMENT`.
///
/// # Safety
/// `request` must be NULL or a live request handle; `subject` NULL or readable for
/// `subject_len`.
#[no_mangle]
pub unsafe extern "C" fn tessera_request_set_subject(
    request: *mut tessera_request,
    subject: *const c_char,
    subject_len: usize,
) -> tessera_status {
    update(
        request,
        // SAFETY: by the caller's contract.
        || unsafe { text(subject, subject_len, "subject") },
        IssueRequest::subject,
    )
}

/// Adds a scope (at most `TESSERA_MAX_SCOPES` per token; no whitespace; duplicates count
/// once).
///
/// Statuses: `TESSERA_NULL_ARGUMENT`, `TESSERA_INVALID_UTF8`, `TESSERA_INVALID_ARGUMENT`.
///
/// # Safety
/// `request` must be NULL or a live request handle; `scope` NULL or readable for `scope_len`.
#[no_mangle]
pub unsafe extern "C" fn tessera_request_add_scope(
    request: *mut tessera_request,
    scope: *const c_char,
    scope_len: usize,
) -> tessera_status {
    update(
        request,
        // SAFETY: by the caller's contract.
        || unsafe { text(scope, scope_len, "scope") },
        IssueRequest::scope,
    )
}

/// Sets a human-readable name ("Firefox on Linux", "BI export").
///
/// Statuses: `TESSERA_NULL_ARGUMENT`, `TESSERA_INVALID_UTF8`, `TESSERA_INVALID_ARGUMENT`.
///
/// # Safety
/// `request` must be NULL or a live request handle; `label` NULL or readable for `label_len`.
#[no_mangle]
pub unsafe extern "C" fn tessera_request_set_label(
    request: *mut tessera_request,
    label: *const c_char,
    label_len: usize,
) -> tessera_status {
    update(
        request,
        // SAFETY: by the caller's contract.
        || unsafe { text(label, label_len, "label") },
        IssueRequest::label,
    )
}

/// Sets opaque bytes for the host (device information, for example), at most the store's
/// maximum metadata length. The bytes are copied.
///
/// Statuses: `TESSERA_NULL_ARGUMENT`, `TESSERA_INVALID_ARGUMENT`.
///
/// # Safety
/// `request` must be NULL or a live request handle; `metadata` NULL or readable for
/// `metadata_len`.
#[no_mangle]
pub unsafe extern "C" fn tessera_request_set_metadata(
    request: *mut tessera_request,
    metadata: *const u8,
    metadata_len: usize,
) -> tessera_status {
    update(
        request,
        // SAFETY: by the caller's contract.
        || unsafe { bytes(metadata, metadata_len, "metadata") },
        IssueRequest::metadata,
    )
}

/// Sets the lifetime, in milliseconds after issue (capped by the maximum lifetime), or
/// `TESSERA_DURATION_NONE`: the token never expires (unless a maximum lifetime applies). Not
/// calling it keeps the store's default.
///
/// Statuses: `TESSERA_NULL_ARGUMENT`; `TESSERA_INVALID_ARGUMENT` for a negative value other
/// than `TESSERA_DURATION_NONE` (zero is refused by `tessera_issue`).
///
/// # Safety
/// `request` must be NULL or a live request handle.
#[no_mangle]
pub unsafe extern "C" fn tessera_request_set_ttl(
    request: *mut tessera_request,
    ttl_ms: i64,
) -> tessera_status {
    update(
        request,
        || optional_duration(ttl_ms, "ttl_ms"),
        |r, d| match d {
            Some(d) => r.ttl(d),
            None => r.never_expires(),
        },
    )
}

/// Sets the idle timeout, in milliseconds (the token dies after this long without a successful
/// verify or renewal), or `TESSERA_DURATION_NONE` for none whatever the store's default.
///
/// Statuses: as `tessera_request_set_ttl`.
///
/// # Safety
/// `request` must be NULL or a live request handle.
#[no_mangle]
pub unsafe extern "C" fn tessera_request_set_idle_timeout(
    request: *mut tessera_request,
    idle_timeout_ms: i64,
) -> tessera_status {
    update(
        request,
        || optional_duration(idle_timeout_ms, "idle_timeout_ms"),
        |r, d| match d {
            Some(d) => r.idle_timeout(d),
            None => r.no_idle_timeout(),
        },
    )
}

/// Sets the maximum lifetime, in milliseconds (renewals never take the expiry past issue time
/// plus this), or `TESSERA_DURATION_NONE` for none whatever the store's default.
///
/// Statuses: as `tessera_request_set_ttl`.
///
/// # Safety
/// `request` must be NULL or a live request handle.
#[no_mangle]
pub unsafe extern "C" fn tessera_request_set_max_lifetime(
    request: *mut tessera_request,
    max_lifetime_ms: i64,
) -> tessera_status {
    update(
        request,
        || optional_duration(max_lifetime_ms, "max_lifetime_ms"),
        |r, d| match d {
            Some(d) => r.max_lifetime(d),
            None => r.no_max_lifetime(),
        },
    )
}

/// Makes the token valid for `max_uses` successful verifies (password reset, magic link,
/// invite); 0 is refused by `tessera_issue`.
///
/// Statuses: `TESSERA_NULL_ARGUMENT`.
///
/// # Safety
/// `request` must be NULL or a live request handle.
#[no_mangle]
pub unsafe extern "C" fn tessera_request_set_max_uses(
    request: *mut tessera_request,
    max_uses: u64,
) -> tessera_status {
    update(request, || Ok(max_uses), IssueRequest::max_uses)
}

/// Creates empty requirements: any valid token passes.
///
/// Statuses: `TESSERA_NULL_ARGUMENT` if `out_requirements` is NULL.
///
/// # Safety
/// `out_requirements` must be NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn tessera_requirements_new(
    out_requirements: *mut *mut tessera_requirements,
) -> tessera_status {
    status(|| {
        let out = Out::new(out_requirements, "out_requirements")?;
        let inner = Requirements::new();
        // SAFETY: checked output.
        unsafe { give_handle(out, tessera_requirements { inner }) };
        Ok(())
    })
}

/// Requires the token to belong to `tenant` (else `TESSERA_TENANT_MISMATCH`).
///
/// Statuses: `TESSERA_NULL_ARGUMENT`, `TESSERA_INVALID_UTF8`, `TESSERA_INVALID_ARGUMENT` (a
/// tenant no token can have: over 255 bytes, or with a control character; the requirements
/// are left as they were).
///
/// # Safety
/// `requirements` must be NULL or a live handle used by this thread only; `tenant` NULL or
/// readable for `tenant_len`.
#[no_mangle]
pub unsafe extern "C" fn tessera_requirements_set_tenant(
    requirements: *mut tessera_requirements,
    tenant: *const c_char,
    tenant_len: usize,
) -> tessera_status {
    status(|| {
        // SAFETY: by the caller's contract.
        let r = unsafe { handle_mut(requirements, "requirements") }?;
        // SAFETY: by the caller's contract.
        let t = unsafe { text(tenant, tenant_len, "tenant") }?;
        let new = r.inner.clone().tenant(t);
        new.check()?;
        r.inner = new;
        Ok(())
    })
}

/// Requires the token to grant `scope` (may be called several times: all are required; else
/// `TESSERA_SCOPE_DENIED`).
///
/// Statuses: `TESSERA_NULL_ARGUMENT`, `TESSERA_INVALID_UTF8`, `TESSERA_INVALID_ARGUMENT` (a
/// scope no token can have: empty, over 255 bytes, or with whitespace or a control character;
/// the requirements are left as they were).
///
/// # Safety
/// `requirements` must be NULL or a live handle used by this thread only; `scope` NULL or
/// readable for `scope_len`.
#[no_mangle]
pub unsafe extern "C" fn tessera_requirements_add_scope(
    requirements: *mut tessera_requirements,
    scope: *const c_char,
    scope_len: usize,
) -> tessera_status {
    status(|| {
        // SAFETY: by the caller's contract.
        let r = unsafe { handle_mut(requirements, "requirements") }?;
        // SAFETY: by the caller's contract.
        let s = unsafe { text(scope, scope_len, "scope") }?;
        let new = r.inner.clone().scope(s);
        new.check()?;
        r.inner = new;
        Ok(())
    })
}

/// Releases requirements. NULL is a no-op.
///
/// # Safety
/// `requirements` must be NULL or a live handle, not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn tessera_requirements_free(requirements: *mut tessera_requirements) {
    // SAFETY: forwarded contract.
    unsafe { free_handle(requirements) }
}
