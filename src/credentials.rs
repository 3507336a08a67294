//! The one parser of HTTP credentials, shared by every language binding.
//!
//! It accepts every form the seed APIs use:
//!
//! | header | value |
//! |---|---|
//! | `Authorization` | `Token token=abc`, `Token token="abc"` (more `key=value` parameters may follow) |
//! | `Authorization` | `token abc` (scheme names are case-insensitive) |
//! | `Authorization` | `Bearer abc` |
//! | `Authorization` | `ApiKey abc` |
//! | `Auth-Token`, `X-Access-Token`, `X-Auth-Token`, `X-Api-Key` | `abc` (bare, optionally quoted) |
//!
//! ```
//! use tessera::{parse_header, Scheme};
//!
//! let c = parse_header("Authorization", "Token token=\"abc123\"").unwrap();
//! assert_eq!((c.scheme, c.token), (Scheme::Token, "abc123"));
//! let c = parse_header("auth-token", " abc123 ").unwrap();
//! assert_eq!((c.scheme, c.token), (Scheme::Bare, "abc123"));
//! ```

use std::fmt;

/// The longest credential value accepted.
pub const MAX_CREDENTIAL_LEN: usize = 4096;

/// How the credential was presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Scheme {
    /// `Authorization: Token token=...` or `Authorization: token ...`.
    Token,
    /// `Authorization: Bearer ...`.
    Bearer,
    /// `Authorization: ApiKey ...`.
    ApiKey,
    /// A header whose whole value is the token (`Auth-Token`, `X-Access-Token`, ...).
    Bare,
}

/// A credential found in a request header. `token` borrows from the header value.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Credential<'a> {
    /// How it was presented.
    pub scheme: Scheme,
    /// The token text (not yet checked against any store).
    pub token: &'a str,
}

impl fmt::Debug for Credential<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential")
            .field("scheme", &self.scheme)
            .field("token", &"<redacted>")
            .finish()
    }
}

/// Why a header holds no usable credential.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CredentialError {
    /// The header value is empty or only whitespace.
    Empty,
    /// The header is not one that carries a token.
    UnsupportedHeader,
    /// The `Authorization` scheme is not `Token`, `Bearer` or `ApiKey`.
    UnknownScheme,
    /// The scheme is there but the token is missing (`Bearer`, `Token foo=bar`).
    MissingToken,
    /// A quoted value has no closing quote.
    UnterminatedQuote,
    /// The token contains whitespace, a control character, a quote, a comma or a backslash.
    InvalidCharacter,
    /// The value is longer than [`MAX_CREDENTIAL_LEN`].
    TooLong,
}

impl fmt::Display for CredentialError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CredentialError::Empty => "the header is empty",
            CredentialError::UnsupportedHeader => {
                "this header does not carry a token (use Authorization, Auth-Token, X-Access-Token, X-Auth-Token or X-Api-Key)"
            }
            CredentialError::UnknownScheme => {
                "unknown Authorization scheme (expected Token, Bearer or ApiKey)"
            }
            CredentialError::MissingToken => "the Authorization header names a scheme but no token",
            CredentialError::UnterminatedQuote => "a quoted token has no closing quote",
            CredentialError::InvalidCharacter => {
                "the token contains whitespace, a control character, a quote, a comma or a backslash"
            }
            CredentialError::TooLong => "the credential is longer than 4096 bytes",
        })
    }
}

impl std::error::Error for CredentialError {}

/// Parses one request header. `name` is compared case-insensitively.
pub fn parse_header<'a>(name: &str, value: &'a str) -> Result<Credential<'a>, CredentialError> {
    let name = name.trim();
    if name.eq_ignore_ascii_case("authorization") {
        return parse_authorization(value);
    }
    const BARE: [&str; 4] = ["auth-token", "x-access-token", "x-auth-token", "x-api-key"];
    if !BARE.iter().any(|h| name.eq_ignore_ascii_case(h)) {
        return Err(CredentialError::UnsupportedHeader);
    }
    let value = trim(check_len(value)?);
    if value.is_empty() {
        return Err(CredentialError::Empty);
    }
    Ok(Credential {
        scheme: Scheme::Bare,
        token: token_value(value)?,
    })
}

/// Parses the value of an `Authorization` header.
pub fn parse_authorization(value: &str) -> Result<Credential<'_>, CredentialError> {
    let value = trim(check_len(value)?);
    if value.is_empty() {
        return Err(CredentialError::Empty);
    }
    let (scheme, rest) = match value.find([' ', '\t']) {
        Some(i) => (&value[..i], trim(&value[i..])),
        None => (value, ""),
    };
    let scheme = if scheme.eq_ignore_ascii_case("token") {
        Scheme::Token
    } else if scheme.eq_ignore_ascii_case("bearer") {
        Scheme::Bearer
    } else if scheme.eq_ignore_ascii_case("apikey") || scheme.eq_ignore_ascii_case("api-key") {
        Scheme::ApiKey
    } else {
        return Err(CredentialError::UnknownScheme);
    };
    if rest.is_empty() {
        return Err(CredentialError::MissingToken);
    }
    let token = if scheme == Scheme::Token && looks_like_params(rest) {
        token_param(rest)?
    } else {
        token_value(rest)?
    };
    Ok(Credential { scheme, token })
}

fn check_len(value: &str) -> Result<&str, CredentialError> {
    if value.len() > MAX_CREDENTIAL_LEN {
        Err(CredentialError::TooLong)
    } else {
        Ok(value)
    }
}

fn trim(s: &str) -> &str {
    s.trim_matches([' ', '\t'])
}

/// `token=...` or `foo="x", token=...`: a `key=value` list rather than a bare token. A value
/// that is an RFC 7235 token68 (`dGVzdA==`: `=` only as trailing padding) is a bare token.
fn looks_like_params(rest: &str) -> bool {
    let body = rest.trim_end_matches('=');
    let token68 = !body.is_empty()
        && body
            .bytes()
            .all(|c| c.is_ascii_alphanumeric() || b"-._~+/".contains(&c));
    if token68 {
        return false;
    }
    match rest.find('=') {
        Some(i) => {
            let key = trim(&rest[..i]);
            !key.is_empty() && key.bytes().all(is_tchar)
        }
        None => false,
    }
}

/// Finds the `token` parameter in `k=v, k="v"` (RFC 7235 auth-params). The whole list must be
/// well formed and name one token: `Token token=a, Token token=b` (two headers a server joined)
/// or text after the token is ambiguous, and refused rather than read as its first token.
fn token_param(mut rest: &str) -> Result<&str, CredentialError> {
    let mut found = None;
    loop {
        let Some(eq) = rest.find('=') else {
            return Err(match found {
                Some(_) => CredentialError::InvalidCharacter,
                None => CredentialError::MissingToken,
            });
        };
        let key = trim(&rest[..eq]);
        if key.is_empty() || !key.bytes().all(is_tchar) {
            return Err(CredentialError::InvalidCharacter);
        }
        let after = trim(&rest[eq + 1..]);
        let (val, tail) = if let Some(quoted) = after.strip_prefix('"') {
            let end = quoted.find('"').ok_or(CredentialError::UnterminatedQuote)?;
            (&quoted[..end], &quoted[end + 1..])
        } else {
            match after.find(',') {
                Some(i) => (trim(&after[..i]), &after[i..]),
                None => (after, ""),
            }
        };
        if key.eq_ignore_ascii_case("token") {
            if found.is_some() {
                return Err(CredentialError::InvalidCharacter);
            }
            found = Some(token_value(val)?);
        }
        let tail = trim(tail);
        rest = match tail.strip_prefix(',') {
            Some(t) if trim(t).is_empty() => return found.ok_or(CredentialError::MissingToken),
            Some(t) => trim(t),
            None if tail.is_empty() => return found.ok_or(CredentialError::MissingToken),
            None => return Err(CredentialError::InvalidCharacter),
        };
    }
}

/// A character of an HTTP token (RFC 9110 `tchar`): what a parameter name is made of.
fn is_tchar(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

/// A bare token, optionally in double quotes.
fn token_value(v: &str) -> Result<&str, CredentialError> {
    let v = match v.strip_prefix('"') {
        Some(q) => q
            .strip_suffix('"')
            .ok_or(CredentialError::UnterminatedQuote)?,
        None => v,
    };
    if v.is_empty() {
        return Err(CredentialError::MissingToken);
    }
    // Visible ASCII only (RFC 7235 token68 and the usual API key alphabets): no whitespace of
    // any script, no control character, nothing outside ASCII.
    if !v
        .bytes()
        .all(|c| c.is_ascii_graphic() && !matches!(c, b'"' | b',' | b'\\'))
    {
        return Err(CredentialError::InvalidCharacter);
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(v: &str) -> Result<(Scheme, &str), CredentialError> {
        parse_authorization(v).map(|c| (c.scheme, c.token))
    }

    #[test]
    fn every_seed_form_is_understood() {
        assert_eq!(
            auth("Token token=nugyUyuzq6nqvm_uiesD"),
            Ok((Scheme::Token, "nugyUyuzq6nqvm_uiesD"))
        );
        assert_eq!(
            auth("Token token=\"123456abcdef\""),
            Ok((Scheme::Token, "123456abcdef"))
        );
        assert_eq!(
            auth("ApiKey c42aaacd-45b2-4f76-8574-ce36981cf488"),
            Ok((Scheme::ApiKey, "c42aaacd-45b2-4f76-8574-ce36981cf488"))
        );
        assert_eq!(
            auth("token cdf2923f-c89f"),
            Ok((Scheme::Token, "cdf2923f-c89f"))
        );
        assert_eq!(auth("Bearer abc.def"), Ok((Scheme::Bearer, "abc.def")));
        assert_eq!(auth("  bearer   abc  "), Ok((Scheme::Bearer, "abc")));
        assert_eq!(
            auth("Token realm=\"x\", token=\"abc\""),
            Ok((Scheme::Token, "abc"))
        );
    }

    #[test]
    fn broken_headers_say_what_is_wrong() {
        assert_eq!(auth(""), Err(CredentialError::Empty));
        assert_eq!(
            auth("Basic dXNlcjpwYXNz"),
            Err(CredentialError::UnknownScheme)
        );
        assert_eq!(auth("Bearer"), Err(CredentialError::MissingToken));
        assert_eq!(
            auth("Token token=\"abc"),
            Err(CredentialError::UnterminatedQuote)
        );
        assert_eq!(auth("Token realm=x"), Err(CredentialError::MissingToken));
        assert_eq!(auth("Bearer a b"), Err(CredentialError::InvalidCharacter));
        assert_eq!(
            auth("Bearer a\u{a0}b"),
            Err(CredentialError::InvalidCharacter)
        );
        assert_eq!(
            auth("Bearer a\u{7f}b"),
            Err(CredentialError::InvalidCharacter)
        );
        assert_eq!(
            auth("Bearer \u{e9}t\u{e9}"),
            Err(CredentialError::InvalidCharacter)
        );

        assert_eq!(auth(&"x".repeat(5000)), Err(CredentialError::TooLong));
        assert_eq!(
            parse_header("Cookie", "abc").map(|c| c.token),
            Err(CredentialError::UnsupportedHeader)
        );
    }
}
