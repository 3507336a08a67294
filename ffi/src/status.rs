//! Status codes, the mapping of the core's errors and outcomes to them, and the thread-local
//! last-error message.

use std::cell::RefCell;
use std::ffi::{c_char, CStr, CString};

use tessera::{CredentialError, Error, Rejection};

use crate::boundary::value;

/// What a call did. `TESSERA_OK` is 0; every other value says why the call did nothing (no
/// output was written) and `tessera_last_error_message()` says more. The numbers are stable:
/// they never change meaning and retired numbers are never reused.
///
/// Ranges: 1-19 the answer of a verify (one per outcome), 20-29 other answers of the store
/// that are not faults (no such token, a limit reached), 30-39 an HTTP header without a usable
/// credential, 100-199 a mistake of the caller, 200-299 a problem with the store file or the
/// system, 300-399 a fault of the library.
#[repr(i32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum tessera_status {
    /// Success.
    TESSERA_OK = 0,
    /// Not a token of this store's format (wrong length, character, prefix or check digits);
    /// rejected without touching storage. The last-error message says which.
    TESSERA_MALFORMED = 1,
    /// Well-formed, but no token has this id (never issued, or purged).
    TESSERA_UNKNOWN_TOKEN = 2,
    /// The id exists but the secret is wrong.
    TESSERA_BAD_SECRET = 3,
    /// Past its absolute expiry or its maximum lifetime.
    TESSERA_EXPIRED = 4,
    /// Unused for longer than its idle timeout.
    TESSERA_IDLE = 5,
    /// Revoked.
    TESSERA_REVOKED = 6,
    /// A limited-use token whose uses are all spent.
    TESSERA_EXHAUSTED = 7,
    /// Valid, but without every scope the requirements name.
    TESSERA_SCOPE_DENIED = 8,
    /// Valid, but for another tenant than the requirements name.
    TESSERA_TENANT_MISMATCH = 9,
    /// An old token of a rotated family was presented after its grace window; the family is
    /// revoked.
    TESSERA_REUSE_DETECTED = 10,
    /// No stored token has this id (`tessera_get`, and renew or revoke by id).
    TESSERA_NOT_FOUND = 20,
    /// A limit would be exceeded: the subject already has as many live tokens as the store's
    /// per-subject cap allows, with the refuse policy (`tessera_options_set_subject_cap`), or,
    /// with an evict policy, the only tokens to evict are the new child's own ancestors.
    TESSERA_LIMIT_REACHED = 21,
    /// `tessera_parse_header`: the header value is empty or only whitespace.
    TESSERA_CREDENTIAL_EMPTY = 30,
    /// `tessera_parse_header`: this header does not carry a token (or its name is not UTF-8).
    TESSERA_UNSUPPORTED_HEADER = 31,
    /// `tessera_parse_header`: the Authorization scheme is not Token, Bearer or ApiKey.
    TESSERA_UNKNOWN_SCHEME = 32,
    /// `tessera_parse_header`: a scheme but no token (`Bearer`, `Token realm=x`).
    TESSERA_MISSING_TOKEN = 33,
    /// `tessera_parse_header`: a quoted token has no closing quote.
    TESSERA_UNTERMINATED_QUOTE = 34,
    /// `tessera_parse_header`: the token contains whitespace, a control character, a quote, a
    /// comma, a backslash, or bytes that are not UTF-8.
    TESSERA_INVALID_CHARACTER = 35,
    /// `tessera_parse_header`: the value is longer than `TESSERA_MAX_CREDENTIAL_LEN`.
    TESSERA_CREDENTIAL_TOO_LONG = 36,
    /// A required pointer is NULL: a handle, an output, or an input whose length is not 0.
    TESSERA_NULL_ARGUMENT = 100,
    /// An argument is out of range or ill-formed (a bad option, an empty subject, a token id
    /// that is not 22 base62 characters, a negative duration, a length above
    /// `TESSERA_MAX_INPUT_LEN` but for a token text, a NUL byte in a path...). The message says
    /// which.
    TESSERA_INVALID_ARGUMENT = 101,
    /// A text argument is not valid UTF-8.
    TESSERA_INVALID_UTF8 = 102,
    /// A caller buffer is smaller than the header's constant for it.
    TESSERA_BUFFER_TOO_SMALL = 103,
    /// The `tessera_store*` is not a handle this library returned, or it was freed.
    TESSERA_INVALID_HANDLE = 104,
    /// The store handle was closed by `tessera_store_close`.
    TESSERA_CLOSED = 105,
    /// The store handle was opened before `fork()` and used in the child. Open the store again
    /// in the child; `tessera_store_free` releases the inherited handle without touching the
    /// parent's file.
    TESSERA_FORKED_CHILD = 106,
    /// The file exists but is not a tessera store.
    TESSERA_NOT_A_STORE = 200,
    /// The store file is damaged.
    TESSERA_CORRUPT = 201,
    /// Another process has the store open and the concurrency mode does not allow sharing it.
    TESSERA_LOCKED = 202,
    /// The file was written by a newer version of tessera.
    TESSERA_NEWER_SCHEMA = 203,
    /// The store was created with a pepper and none, or another one, was given (or the
    /// reverse).
    TESSERA_PEPPER = 204,
    /// The same file is already open in this process with other options.
    TESSERA_OPTIONS_CONFLICT = 205,
    /// The disk is full.
    TESSERA_DISK_FULL = 206,
    /// An input/output error from the operating system.
    TESSERA_IO = 207,
    /// An error inside the storage engine.
    TESSERA_STORAGE = 208,
    /// The operating system's random source failed.
    TESSERA_RANDOM = 209,
    /// A bug in tessera; please report it with the message.
    TESSERA_INTERNAL = 300,
    /// The library panicked (a bug); the call did nothing. The store handle it was called on
    /// answers `TESSERA_POISONED` from then on.
    TESSERA_PANIC = 301,
    /// An earlier call on this store handle panicked; only `tessera_store_close` and
    /// `tessera_store_free` work on it.
    TESSERA_POISONED = 302,
}

use tessera_status::*;

/// Every status, for name lookups.
const ALL: [tessera_status; 40] = [
    TESSERA_OK,
    TESSERA_MALFORMED,
    TESSERA_UNKNOWN_TOKEN,
    TESSERA_BAD_SECRET,
    TESSERA_EXPIRED,
    TESSERA_IDLE,
    TESSERA_REVOKED,
    TESSERA_EXHAUSTED,
    TESSERA_SCOPE_DENIED,
    TESSERA_TENANT_MISMATCH,
    TESSERA_REUSE_DETECTED,
    TESSERA_NOT_FOUND,
    TESSERA_LIMIT_REACHED,
    TESSERA_CREDENTIAL_EMPTY,
    TESSERA_UNSUPPORTED_HEADER,
    TESSERA_UNKNOWN_SCHEME,
    TESSERA_MISSING_TOKEN,
    TESSERA_UNTERMINATED_QUOTE,
    TESSERA_INVALID_CHARACTER,
    TESSERA_CREDENTIAL_TOO_LONG,
    TESSERA_NULL_ARGUMENT,
    TESSERA_INVALID_ARGUMENT,
    TESSERA_INVALID_UTF8,
    TESSERA_BUFFER_TOO_SMALL,
    TESSERA_INVALID_HANDLE,
    TESSERA_CLOSED,
    TESSERA_FORKED_CHILD,
    TESSERA_NOT_A_STORE,
    TESSERA_CORRUPT,
    TESSERA_LOCKED,
    TESSERA_NEWER_SCHEMA,
    TESSERA_PEPPER,
    TESSERA_OPTIONS_CONFLICT,
    TESSERA_DISK_FULL,
    TESSERA_IO,
    TESSERA_STORAGE,
    TESSERA_RANDOM,
    TESSERA_INTERNAL,
    TESSERA_PANIC,
    TESSERA_POISONED,
];

impl tessera_status {
    /// The stable lower-case name, e.g. `"revoked"`.
    pub(crate) fn name(self) -> &'static CStr {
        match self {
            TESSERA_OK => c"ok",
            TESSERA_MALFORMED => c"malformed",
            TESSERA_UNKNOWN_TOKEN => c"unknown_token",
            TESSERA_BAD_SECRET => c"bad_secret",
            TESSERA_EXPIRED => c"expired",
            TESSERA_IDLE => c"idle",
            TESSERA_REVOKED => c"revoked",
            TESSERA_EXHAUSTED => c"exhausted",
            TESSERA_SCOPE_DENIED => c"scope_denied",
            TESSERA_TENANT_MISMATCH => c"tenant_mismatch",
            TESSERA_REUSE_DETECTED => c"reuse_detected",
            TESSERA_NOT_FOUND => c"not_found",
            TESSERA_LIMIT_REACHED => c"limit_reached",
            TESSERA_CREDENTIAL_EMPTY => c"credential_empty",
            TESSERA_UNSUPPORTED_HEADER => c"unsupported_header",
            TESSERA_UNKNOWN_SCHEME => c"unknown_scheme",
            TESSERA_MISSING_TOKEN => c"missing_token",
            TESSERA_UNTERMINATED_QUOTE => c"unterminated_quote",
            TESSERA_INVALID_CHARACTER => c"invalid_character",
            TESSERA_CREDENTIAL_TOO_LONG => c"credential_too_long",
            TESSERA_NULL_ARGUMENT => c"null_argument",
            TESSERA_INVALID_ARGUMENT => c"invalid_argument",
            TESSERA_INVALID_UTF8 => c"invalid_utf8",
            TESSERA_BUFFER_TOO_SMALL => c"buffer_too_small",
            TESSERA_INVALID_HANDLE => c"invalid_handle",
            TESSERA_CLOSED => c"closed",
            TESSERA_FORKED_CHILD => c"forked_child",
            TESSERA_NOT_A_STORE => c"not_a_store",
            TESSERA_CORRUPT => c"corrupt",
            TESSERA_LOCKED => c"locked",
            TESSERA_NEWER_SCHEMA => c"newer_schema",
            TESSERA_PEPPER => c"pepper",
            TESSERA_OPTIONS_CONFLICT => c"options_conflict",
            TESSERA_DISK_FULL => c"disk_full",
            TESSERA_IO => c"io",
            TESSERA_STORAGE => c"storage",
            TESSERA_RANDOM => c"random",
            TESSERA_INTERNAL => c"internal",
            TESSERA_PANIC => c"panic",
            TESSERA_POISONED => c"poisoned",
        }
    }
}

/// Why a call did not succeed: a status and a message for the thread-local last error. The
/// message never contains a secret (the core's messages never do, and this crate never quotes
/// an input's bytes).
#[derive(Debug)]
pub(crate) struct Fault {
    pub(crate) status: tessera_status,
    pub(crate) message: String,
}

impl Fault {
    pub(crate) fn new(status: tessera_status, message: impl Into<String>) -> Fault {
        Fault {
            status,
            message: message.into(),
        }
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Fault {
        Fault::new(TESSERA_INVALID_ARGUMENT, message)
    }
}

/// The status of a verify outcome.
pub(crate) fn rejection_status(r: Rejection) -> tessera_status {
    match r {
        Rejection::Malformed(_) => TESSERA_MALFORMED,
        Rejection::Unknown => TESSERA_UNKNOWN_TOKEN,
        Rejection::BadSecret => TESSERA_BAD_SECRET,
        Rejection::Expired => TESSERA_EXPIRED,
        Rejection::Idle => TESSERA_IDLE,
        Rejection::Revoked => TESSERA_REVOKED,
        Rejection::Exhausted => TESSERA_EXHAUSTED,
        Rejection::ScopeDenied => TESSERA_SCOPE_DENIED,
        Rejection::TenantMismatch => TESSERA_TENANT_MISMATCH,
        Rejection::ReuseDetected => TESSERA_REUSE_DETECTED,
        // A rejection this version of the ABI has no number for yet.
        _ => TESSERA_INTERNAL,
    }
}

impl From<Rejection> for Fault {
    fn from(r: Rejection) -> Fault {
        Fault::new(rejection_status(r), r.to_string())
    }
}

impl From<Error> for Fault {
    fn from(e: Error) -> Fault {
        let status = match &e {
            Error::InvalidArgument(_) => TESSERA_INVALID_ARGUMENT,
            Error::Rejected(r) => rejection_status(*r),
            Error::NotFound => TESSERA_NOT_FOUND,
            Error::LimitReached(_) => TESSERA_LIMIT_REACHED,
            Error::NotAStore(_) => TESSERA_NOT_A_STORE,
            Error::Corrupt(_) => TESSERA_CORRUPT,
            Error::Locked(_) => TESSERA_LOCKED,
            Error::NewerSchema { .. } => TESSERA_NEWER_SCHEMA,
            Error::Pepper(_) => TESSERA_PEPPER,
            Error::OptionsConflict(_) => TESSERA_OPTIONS_CONFLICT,
            Error::DiskFull(_) => TESSERA_DISK_FULL,
            Error::Io(_) => TESSERA_IO,
            Error::Storage(_) => TESSERA_STORAGE,
            Error::Closed => TESSERA_CLOSED,
            Error::ForkedChild => TESSERA_FORKED_CHILD,
            Error::Random(_) => TESSERA_RANDOM,
            Error::Internal(_) => TESSERA_INTERNAL,
            // An error this version of the ABI has no number for yet.
            _ => TESSERA_INTERNAL,
        };
        Fault::new(status, e.to_string())
    }
}

impl From<CredentialError> for Fault {
    fn from(e: CredentialError) -> Fault {
        let status = match e {
            CredentialError::Empty => TESSERA_CREDENTIAL_EMPTY,
            CredentialError::UnsupportedHeader => TESSERA_UNSUPPORTED_HEADER,
            CredentialError::UnknownScheme => TESSERA_UNKNOWN_SCHEME,
            CredentialError::MissingToken => TESSERA_MISSING_TOKEN,
            CredentialError::UnterminatedQuote => TESSERA_UNTERMINATED_QUOTE,
            CredentialError::InvalidCharacter => TESSERA_INVALID_CHARACTER,
            CredentialError::TooLong => TESSERA_CREDENTIAL_TOO_LONG,
            _ => TESSERA_INTERNAL,
        };
        Fault::new(status, e.to_string())
    }
}

thread_local! {
    static LAST_ERROR: RefCell<Option<CString>> = const { RefCell::new(None) };
}

/// Records `message` as this thread's last error.
pub(crate) fn set_last_error(message: &str) {
    // A NUL inside would cut the C string short; no message of tessera contains one, but paths
    // and such come from callers.
    let text = CString::new(message.replace('\0', "\u{FFFD}")).unwrap_or_default();
    // `try_with`: during thread teardown the slot may be gone; the message is then dropped.
    let _ = LAST_ERROR.try_with(|slot| *slot.borrow_mut() = Some(text));
}

/// The stable name of a status, e.g. `"revoked"` for `TESSERA_REVOKED`, or
/// `"unrecognized_status"` for a number that is not a status. The string is static: never free
/// it.
#[no_mangle]
pub extern "C" fn tessera_status_name(status: i32) -> *const c_char {
    value(c"unrecognized_status".as_ptr(), || {
        ALL.iter()
            .find(|s| **s as i32 == status)
            .map_or(c"unrecognized_status", |s| s.name())
            .as_ptr()
    })
}

/// The message that explains the last status other than `TESSERA_OK` returned on the calling
/// thread, as a NUL-terminated UTF-8 string ("" if there was none). It never contains a token's
/// secret. The pointer stays valid until the next tessera call on the same thread; copy the
/// text if you need it longer, and never free it. Calls that return `TESSERA_OK` leave the
/// message as it was.
#[no_mangle]
pub extern "C" fn tessera_last_error_message() -> *const c_char {
    value(c"".as_ptr(), || {
        LAST_ERROR
            .try_with(|slot| slot.borrow().as_ref().map(|m| m.as_ptr()))
            .ok()
            .flatten()
            .unwrap_or(c"".as_ptr())
    })
}
