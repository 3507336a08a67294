//! tessera: an embeddable token store.
//!
//! A web backend checks a password or an API key's owner itself; tessera does the rest. It
//! issues tokens, looks them up on every request, expires them and revokes them: many sessions
//! per user (one per device), organization API keys with scopes, limited-use tokens. Storage is
//! one embedded [redb](https://docs.rs/redb) file.
//!
//! ```
//! use std::time::Duration;
//! use tessera::{IssueRequest, Options, Outcome, Requirements, Store};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let store = Store::open(dir.path().join("tokens.redb"), Options::new())?;
//! let login = store.issue(&IssueRequest::session("alice").ttl(Duration::from_secs(3600)))?;
//! let key = store.issue(&IssueRequest::api_key("acme").scope("reports:read"))?;
//! assert!(store.verify(login.token.as_str())?.is_valid());
//! let need = Requirements::new().tenant("acme").scope("reports:read");
//! assert!(matches!(store.verify_with(key.token.as_str(), &need)?, Outcome::Valid(_)));
//! store.revoke(&login.token)?; // logout: durable when it returns
//! assert!(!store.verify(login.token.as_str())?.is_valid());
//! # Ok::<(), tessera::Error>(())
//! ```
//!
//! Where to look next: [`Store`] for every operation, [`Options`] for how a store is opened,
//! [`Outcome`] and [`Rejection`] for what verify answers, [`parse_header`] for HTTP
//! credentials, and the crate's README for the design, the C ABI and the bindings.

#![deny(missing_docs)]

mod admin;
mod clock;
mod credentials;
mod error;
mod events;
mod expiry;
mod fork;
mod issue;
mod journal;
mod lifecycle;
mod options;
mod record;
mod revoke;
mod schema;
mod storage;
mod store;
#[doc(hidden)]
pub mod support;
mod sync;
mod token_text;
mod touch;
mod verify;
mod write;

pub use admin::{ExportHeader, ExportedToken, SecretHash};
pub use clock::{Clock, ManualClock, SystemClock, Timestamp};
pub use credentials::{
    parse_authorization, parse_header, Credential, CredentialError, Scheme, MAX_CREDENTIAL_LEN,
};
pub use error::{Error, Result};
pub use events::{Event, EventKind};
pub use expiry::PurgeBatch;
pub use issue::{IssueRequest, Issued, Renewed, MAX_NAME_LEN, MAX_SCOPES};
pub use lifecycle::{CapPolicy, Child, RevokeScope, EARLIEST_CUTOFF, MAX_CUTOFF_AHEAD};
pub use options::{Concurrency, IssueDurability, Options, Pepper, DEFAULT_CACHE_SIZE};
pub use record::{Kind, Record, Replacement, Revocation, RevokeReason, Scopes, Successor};
pub use revoke::TokenRef;
pub use schema::SCHEMA_VERSION;
pub use store::{Counts, Stats, Store, TokenState};
pub use token_text::{
    BadTokenId, MalformedReason, TokenId, TokenText, ID_TEXT_LEN, MAX_PREFIX_LEN, MAX_TOKEN_LEN,
};
pub use touch::MAX_PENDING;
pub use verify::{Outcome, Rejection, Requirements};

/// Entry points for fuzz targets and property tests of internal parsers. Not part of the API:
/// no stability promise.
#[doc(hidden)]
pub mod fuzzing {
    /// Parses a token text; `true` if it is well-formed.
    pub fn parse_token(text: &[u8]) -> bool {
        crate::token_text::parse(text).is_ok()
    }

    /// Decodes a stored record (an interned scope set reads as `fuzz:set`); `true` if it
    /// decodes. Never panics.
    pub fn decode_record(bytes: &[u8]) -> bool {
        crate::record::Stored::decode(crate::TokenId::from_bytes([0; 16]), bytes, fuzz_set).is_ok()
    }

    /// Encodes then decodes a record decoded from `bytes`, with its scopes inline and interned;
    /// `false` if a round trip differs.
    pub fn record_round_trip(bytes: &[u8]) -> bool {
        use crate::record::Stored;
        let id = crate::TokenId::from_bytes([0; 16]);
        match Stored::decode(id, bytes, fuzz_set) {
            Ok(s) => [None, Some([1; 8])].into_iter().all(|set| {
                Stored::decode(id, &s.encode(set), |_| Ok(s.record.scopes.clone()))
                    .map(|back| back.record == s.record && back.hash == s.hash)
                    .unwrap_or(false)
            }),
            Err(_) => true,
        }
    }

    fn fuzz_set(_: &crate::record::ScopeSetId) -> Result<crate::Scopes, crate::Error> {
        Ok(crate::Scopes::from_checked(["fuzz:set"]))
    }
}
