//! The HTTP credential parser: `tessera_parse_header` and `tessera_parse_authorization`.

use std::ffi::c_char;

use tessera::{Credential, CredentialError, Scheme};

use crate::boundary::{bytes, status, MaybeOut, Out};
use crate::status::{tessera_status, Fault};

/// How a credential was presented.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum tessera_scheme {
    /// `Authorization: Token token=...` or `Authorization: token ...`.
    TESSERA_SCHEME_TOKEN = 1,
    /// `Authorization: Bearer ...`.
    TESSERA_SCHEME_BEARER = 2,
    /// `Authorization: ApiKey ...`.
    TESSERA_SCHEME_API_KEY = 3,
    /// A header whose whole value is the token (`Auth-Token`, `X-Access-Token`, ...).
    TESSERA_SCHEME_BARE = 4,
}

/// Writes a parsed credential: its scheme and the span of its token inside `value`.
///
/// # Safety
/// The outputs must be writable (checked for NULL by their wrappers).
unsafe fn found(
    value: &[u8],
    parsed: Result<Credential<'_>, CredentialError>,
    out_scheme: MaybeOut<tessera_scheme>,
    out_offset: Out<usize>,
    out_len: Out<usize>,
) -> Result<(), Fault> {
    let c = parsed?;
    let scheme = match c.scheme {
        Scheme::Token => tessera_scheme::TESSERA_SCHEME_TOKEN,
        Scheme::Bearer => tessera_scheme::TESSERA_SCHEME_BEARER,
        Scheme::ApiKey => tessera_scheme::TESSERA_SCHEME_API_KEY,
        Scheme::Bare => tessera_scheme::TESSERA_SCHEME_BARE,
        other => {
            return Err(Fault::new(
                tessera_status::TESSERA_INTERNAL,
                format!("the scheme {other:?} has no number in this version of the C ABI"),
            ))
        }
    };
    // The token borrows from `value`.
    let offset = (c.token.as_ptr() as usize).wrapping_sub(value.as_ptr() as usize);
    if offset > value.len() || c.token.len() > value.len() - offset {
        return Err(Fault::new(
            tessera_status::TESSERA_INTERNAL,
            "the parsed token does not lie inside the header value",
        ));
    }
    // SAFETY: forwarded contract.
    unsafe {
        out_scheme.write(scheme);
        out_offset.write(offset);
        out_len.write(c.token.len());
    }
    Ok(())
}

/// A header value as text: bytes that are not UTF-8 cannot hold a token.
fn value_text(value: &[u8]) -> Result<&str, Fault> {
    std::str::from_utf8(value).map_err(|_| {
        Fault::new(
            tessera_status::TESSERA_INVALID_CHARACTER,
            "the header value is not valid UTF-8",
        )
    })
}

/// Finds the token in one HTTP request header, named `name` (compared case-insensitively):
/// `Authorization` (`Token token=...`, `Token token="..."`, `token ...`, `Bearer ...`,
/// `ApiKey ...`) or a bare header (`Auth-Token`, `X-Access-Token`, `X-Auth-Token`,
/// `X-Api-Key`). Nothing is checked against a store: pass the token to `tessera_verify`.
///
/// Outputs: `*out_scheme` (optional) how it was presented; `*out_token_offset` and
/// `*out_token_len` where the token lies inside `value` (no copy is made).
///
/// Statuses: `TESSERA_CREDENTIAL_EMPTY`, `TESSERA_UNSUPPORTED_HEADER` (including a name that
/// is not UTF-8), `TESSERA_UNKNOWN_SCHEME`, `TESSERA_MISSING_TOKEN`,
/// `TESSERA_UNTERMINATED_QUOTE`, `TESSERA_INVALID_CHARACTER` (including a value that is not
/// UTF-8), `TESSERA_CREDENTIAL_TOO_LONG` (a value of more than 4096 bytes, however long):
/// answer each with a 401. `TESSERA_NULL_ARGUMENT`, `TESSERA_INVALID_ARGUMENT` (a name longer
/// than `TESSERA_MAX_INPUT_LEN`).
///
/// # Safety
/// `name` and `value` must be NULL or readable for their lengths; outputs NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn tessera_parse_header(
    name: *const c_char,
    name_len: usize,
    value: *const c_char,
    value_len: usize,
    out_scheme: *mut tessera_scheme,
    out_token_offset: *mut usize,
    out_token_len: *mut usize,
) -> tessera_status {
    status(|| {
        too_long(value, value_len)?;
        // SAFETY: by the caller's contract.
        let name = unsafe { bytes(name.cast(), name_len, "name") }?;
        // SAFETY: by the caller's contract.
        let value = unsafe { bytes(value.cast(), value_len, "value") }?;
        let out_scheme = MaybeOut::new(out_scheme);
        let out_offset = Out::new(out_token_offset, "out_token_offset")?;
        let out_len = Out::new(out_token_len, "out_token_len")?;
        let name = std::str::from_utf8(name)
            .map_err(|_| Fault::from(CredentialError::UnsupportedHeader))?;
        let text = value_text(value)?;
        // SAFETY: checked outputs.
        unsafe {
            found(
                value,
                tessera::parse_header(name, text),
                out_scheme,
                out_offset,
                out_len,
            )
        }
    })
}

/// A header value longer than any credential is a bad credential (a 401), whatever its length:
/// the limit on every input (`TESSERA_MAX_INPUT_LEN`) must not turn a client's oversized header
/// into a usage error of the host.
fn too_long(value: *const c_char, value_len: usize) -> Result<(), Fault> {
    if !value.is_null() && value_len > tessera::MAX_CREDENTIAL_LEN {
        return Err(Fault::from(CredentialError::TooLong));
    }
    Ok(())
}

/// Finds the token in the value of an `Authorization` header; as `tessera_parse_header` with
/// the name `Authorization`.
///
/// # Safety
/// `value` must be NULL or readable for `value_len` bytes; outputs NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn tessera_parse_authorization(
    value: *const c_char,
    value_len: usize,
    out_scheme: *mut tessera_scheme,
    out_token_offset: *mut usize,
    out_token_len: *mut usize,
) -> tessera_status {
    status(|| {
        too_long(value, value_len)?;
        // SAFETY: by the caller's contract.
        let value = unsafe { bytes(value.cast(), value_len, "value") }?;
        let out_scheme = MaybeOut::new(out_scheme);
        let out_offset = Out::new(out_token_offset, "out_token_offset")?;
        let out_len = Out::new(out_token_len, "out_token_len")?;
        let text = value_text(value)?;
        // SAFETY: checked outputs.
        unsafe {
            found(
                value,
                tessera::parse_authorization(text),
                out_scheme,
                out_offset,
                out_len,
            )
        }
    })
}
