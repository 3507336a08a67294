//! The panic boundary and the argument checks that every export goes through.

use std::any::Any;
use std::ffi::c_char;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr::NonNull;
use std::time::Duration;

use crate::status::{set_last_error, tessera_status, Fault};
use crate::{TESSERA_DURATION_NONE, TESSERA_MAX_INPUT_LEN};

use tessera_status::*;

/// Runs the body of an export that returns a status: catches a panic (`TESSERA_PANIC`) and
/// records the message of any status other than `TESSERA_OK` as the thread's last error.
pub(crate) fn status(body: impl FnOnce() -> Result<(), Fault>) -> tessera_status {
    let fault = match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => return TESSERA_OK,
        Ok(Err(fault)) => fault,
        Err(payload) => panic_fault(payload.as_ref()),
    };
    set_last_error(&fault.message);
    fault.status
}

/// Runs the body of an export that returns a value rather than a status (a name, a version, or
/// nothing): a panic yields `fallback`.
pub(crate) fn value<T>(fallback: T, body: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(v) => v,
        Err(payload) => {
            set_last_error(&panic_fault(payload.as_ref()).message);
            fallback
        }
    }
}

/// The fault that reports a caught panic.
pub(crate) fn panic_fault(payload: &(dyn Any + Send)) -> Fault {
    let what = payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("no message");
    Fault::new(
        TESSERA_PANIC,
        format!("internal error: tessera panicked ({what}); please report it"),
    )
}

/// Borrows `(ptr, len)` as bytes for the call. `NULL` with length 0 is the empty input.
///
/// # Safety
/// Unless NULL, `ptr` must point to `len` readable bytes that stay unchanged during the call.
pub(crate) unsafe fn bytes<'a>(ptr: *const u8, len: usize, name: &str) -> Result<&'a [u8], Fault> {
    if len > TESSERA_MAX_INPUT_LEN {
        return Err(Fault::invalid(format!(
            "`{name}` is {len} bytes long; no input may be longer than {TESSERA_MAX_INPUT_LEN} bytes"
        )));
    }
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(Fault::new(
            TESSERA_NULL_ARGUMENT,
            format!("`{name}` is NULL but its length is {len}"),
        ));
    }
    // SAFETY: non-NULL, at most TESSERA_MAX_INPUT_LEN (< isize::MAX) bytes, readable by the
    // caller's contract.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// Borrows a token text a client presented, like [`bytes`], except that one longer than any
/// input may be is a malformed token (`TESSERA_MALFORMED`, what verify answers for any bad
/// token), not a usage error: its length comes from the client, not from the host.
///
/// # Safety
/// As for [`bytes`].
pub(crate) unsafe fn token_bytes<'a>(
    ptr: *const u8,
    len: usize,
    name: &str,
) -> Result<&'a [u8], Fault> {
    if len > TESSERA_MAX_INPUT_LEN && !ptr.is_null() {
        return Err(Fault::from(tessera::Rejection::Malformed(
            tessera::MalformedReason::Length,
        )));
    }
    // SAFETY: forwarded contract.
    unsafe { bytes(ptr, len, name) }
}

/// Borrows `(ptr, len)` as UTF-8 text for the call.
///
/// # Safety
/// As for [`bytes`].
pub(crate) unsafe fn text<'a>(
    ptr: *const c_char,
    len: usize,
    name: &str,
) -> Result<&'a str, Fault> {
    // SAFETY: forwarded contract.
    let b = unsafe { bytes(ptr.cast(), len, name) }?;
    std::str::from_utf8(b)
        .map_err(|_| Fault::new(TESSERA_INVALID_UTF8, format!("`{name}` is not valid UTF-8")))
}

/// Borrows an optional text: `NULL` with length 0 is "none", any other pointer with length 0
/// is the empty text (which bindings pass for `""`, distinct from their `None` / `nil`).
///
/// # Safety
/// As for [`bytes`].
pub(crate) unsafe fn optional_text<'a>(
    ptr: *const c_char,
    len: usize,
    name: &str,
) -> Result<Option<&'a str>, Fault> {
    if ptr.is_null() && len == 0 {
        return Ok(None);
    }
    // SAFETY: forwarded contract.
    unsafe { text(ptr, len, name) }.map(Some)
}

/// A required output: checked for NULL before the work, written after it.
pub(crate) struct Out<T>(NonNull<T>);

impl<T> Out<T> {
    /// Fails with `TESSERA_NULL_ARGUMENT` if `ptr` is NULL.
    pub(crate) fn new(ptr: *mut T, name: &str) -> Result<Out<T>, Fault> {
        NonNull::new(ptr).map(Out).ok_or_else(|| {
            Fault::new(
                TESSERA_NULL_ARGUMENT,
                format!("the output `{name}` is NULL"),
            )
        })
    }

    /// The checked pointer.
    pub(crate) fn as_ptr(&self) -> *mut T {
        self.0.as_ptr()
    }

    /// Writes the output.
    ///
    /// # Safety
    /// The pointer given to [`Out::new`] must be valid for a write of a `T`.
    pub(crate) unsafe fn write(self, v: T) {
        // SAFETY: non-NULL, writable by the caller's contract; `write_unaligned` does not drop
        // the old (possibly uninitialised) value, and takes a pointer that is not aligned for
        // `T` (a C caller's packed struct, say) where `write` would be undefined behaviour and,
        // in a debug build, abort the host.
        unsafe { self.0.as_ptr().write_unaligned(v) }
    }
}

/// An optional output: NULL means "not wanted".
pub(crate) struct MaybeOut<T>(Option<NonNull<T>>);

impl<T> MaybeOut<T> {
    pub(crate) fn new(ptr: *mut T) -> MaybeOut<T> {
        MaybeOut(NonNull::new(ptr))
    }

    /// Whether the caller asked for this output.
    pub(crate) fn wanted(&self) -> bool {
        self.0.is_some()
    }

    /// Writes the output if it was asked for.
    ///
    /// # Safety
    /// Unless NULL, the pointer given to [`MaybeOut::new`] must be valid for a write of a `T`.
    pub(crate) unsafe fn write(self, v: T) {
        if let Some(p) = self.0 {
            // SAFETY: as in `Out::write`.
            unsafe { p.as_ptr().write_unaligned(v) }
        }
    }
}

/// Borrows a caller-owned handle (options, request, requirements, clock) for the call.
///
/// # Safety
/// Unless NULL, `ptr` must come from this library's constructor for `T` and not be freed.
pub(crate) unsafe fn handle<'a, T>(ptr: *const T, name: &str) -> Result<&'a T, Fault> {
    // SAFETY: by the caller's contract.
    unsafe { ptr.as_ref() }.ok_or_else(|| {
        Fault::new(
            TESSERA_NULL_ARGUMENT,
            format!("the handle `{name}` is NULL"),
        )
    })
}

/// Borrows a caller-owned handle mutably for the call.
///
/// # Safety
/// As for [`handle`], and no other thread may use the handle during the call.
pub(crate) unsafe fn handle_mut<'a, T>(ptr: *mut T, name: &str) -> Result<&'a mut T, Fault> {
    // SAFETY: by the caller's contract.
    unsafe { ptr.as_mut() }.ok_or_else(|| {
        Fault::new(
            TESSERA_NULL_ARGUMENT,
            format!("the handle `{name}` is NULL"),
        )
    })
}

/// Gives a new handle to the caller.
///
/// # Safety
/// `out` must have been checked with [`Out::new`]; see [`Out::write`].
pub(crate) unsafe fn give_handle<T>(out: Out<*mut T>, value: T) {
    // SAFETY: forwarded contract.
    unsafe { out.write(Box::into_raw(Box::new(value))) }
}

/// Releases a handle made by [`give_handle`]; NULL is a no-op.
///
/// # Safety
/// Unless NULL, `ptr` must come from [`give_handle`] for the same `T` and not be freed yet.
pub(crate) unsafe fn free_handle<T>(ptr: *mut T) {
    value((), || {
        if !ptr.is_null() {
            // SAFETY: by the caller's contract, the box is ours and still alive.
            drop(unsafe { Box::from_raw(ptr) });
        }
    })
}

/// A duration argument in milliseconds: positive or zero (the core judges zero where it is
/// meaningless), never negative.
pub(crate) fn duration(ms: i64, name: &str) -> Result<Duration, Fault> {
    u64::try_from(ms).map(Duration::from_millis).map_err(|_| {
        Fault::invalid(format!(
            "`{name}` is {ms} ms; a duration is 0 or more milliseconds here"
        ))
    })
}

/// A duration argument where `TESSERA_DURATION_NONE` (-1) means "none".
pub(crate) fn optional_duration(ms: i64, name: &str) -> Result<Option<Duration>, Fault> {
    if ms == TESSERA_DURATION_NONE {
        return Ok(None);
    }
    u64::try_from(ms)
        .map(|ms| Some(Duration::from_millis(ms)))
        .map_err(|_| {
            Fault::invalid(format!(
                "`{name}` is {ms} ms; a duration is 0 or more milliseconds, or TESSERA_DURATION_NONE (-1)"
            ))
        })
}

/// Milliseconds of a duration, saturating.
pub(crate) fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}
