//! The bodies of the fuzz targets, shared by cargo-fuzz (`fuzz/fuzz_targets/*.rs`, which
//! `#[path]`-include this module tree) and by the stable-toolchain fallback
//! (`tests/reliability_fuzz_stable.rs`), so the same properties are checked with or without a
//! nightly toolchain. Each function panics when a property fails.

use std::sync::OnceLock;

use tessera::{
    parse_authorization, parse_header, Clock, IssueRequest, ManualClock, Options, Outcome,
    Rejection, Store, MAX_CREDENTIAL_LEN, MAX_TOKEN_LEN,
};

use super::sim::SimBackend;
use super::workload;

/// A store shared by the calls of one process.
fn shared_store() -> &'static Store {
    static STORE: OnceLock<Store> = OnceLock::new();
    STORE.get_or_init(|| {
        let s = Store::in_memory(Options::new()).expect("in-memory store");
        for i in 0..50 {
            s.issue(&IssueRequest::session(format!("user{i}"))).unwrap();
        }
        s
    })
}

/// The token parser: never panics; what it accepts has a token's length and alphabet; verify
/// answers malformed exactly for what it rejects, and never errs or accepts a random input.
pub fn token_parser(data: &[u8]) {
    let ok = tessera::fuzzing::parse_token(data);
    if ok {
        assert!(data.len() <= MAX_TOKEN_LEN, "accepted {} bytes", data.len());
        assert!(
            data.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_'),
            "accepted a character no token has"
        );
    }
    let outcome = shared_store()
        .verify(data)
        .expect("verify of any input is an outcome, never an error");
    match outcome {
        Outcome::Invalid(Rejection::Malformed(tessera::MalformedReason::Prefix)) => {}
        Outcome::Invalid(Rejection::Malformed(why)) => {
            assert!(
                !ok,
                "the parser accepts what verify calls malformed ({why:?})"
            )
        }
        Outcome::Invalid(Rejection::Unknown) => assert!(ok, "verify looked up a malformed token"),
        other => panic!("an arbitrary input verified as {other:?}"),
    }
}

/// The HTTP credential parser: `data` is `name\nvalue` (or a bare `Authorization` value).
/// Never panics; a credential found lies inside the value, is not empty and has no whitespace,
/// control character, quote, comma or backslash; `parse_authorization` agrees with
/// `parse_header("Authorization", ..)`; the `Debug` form hides the token.
pub fn header_parser(data: &[u8]) {
    let (name, value) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&b"Authorization"[..], data),
    };
    let name = String::from_utf8_lossy(name);
    let value = String::from_utf8_lossy(value);
    let r = parse_header(&name, &value);
    if let Ok(c) = &r {
        let (v, t) = (value.as_bytes(), c.token.as_bytes());
        let start = (t.as_ptr() as usize).wrapping_sub(v.as_ptr() as usize);
        assert!(
            start <= v.len() && start + t.len() <= v.len(),
            "the token does not lie inside the header value"
        );
        assert!(!t.is_empty(), "an empty token was accepted");
        // A token is visible ASCII without quotes, commas or backslashes.
        let bad = |ch: char| !ch.is_ascii_graphic() || matches!(ch, '"' | ',' | '\\');
        assert!(
            !c.token.chars().any(bad),
            "the token {:?} holds a character a token cannot have",
            c.token
        );
        assert!(value.len() <= MAX_CREDENTIAL_LEN);
        if c.token.len() >= 16 {
            assert!(!format!("{c:?}").contains(c.token), "Debug shows the token");
        }
    }
    if name.trim().eq_ignore_ascii_case("authorization") {
        assert_eq!(
            r,
            parse_authorization(&value),
            "parse_authorization disagrees"
        );
    }
}

/// The record decoder: never panics, and what decodes encodes back to the same record.
pub fn record_decoder(data: &[u8]) {
    let _ = tessera::fuzzing::decode_record(data);
    assert!(
        tessera::fuzzing::record_round_trip(data),
        "a decoded record does not survive encode then decode"
    );
}

/// Operation sequences against the reference model.
pub fn operations(data: &[u8]) {
    if let Err(e) = super::model::run_bytes(data) {
        panic!("the store and the model disagree: {e}");
    }
}

struct Image {
    bytes: Vec<u8>,
    tokens: Vec<String>,
    end: tessera::Timestamp,
}

fn base_image() -> &'static Image {
    static IMAGE: OnceLock<Image> = OnceLock::new();
    IMAGE.get_or_init(|| {
        let backend = SimBackend::new();
        let clock = ManualClock::new(workload::start());
        let store = Store::with_backend(
            backend.clone(),
            Options::new().manual_clock(&clock).cache_size(1024 * 1024),
        )
        .unwrap();
        let mut tokens = Vec::new();
        for i in 0..40 {
            let req = if i % 4 == 0 {
                IssueRequest::api_key("acme").scope("read").label("key")
            } else {
                IssueRequest::session(format!("user{}", i % 5)).metadata(vec![b'm'; 100])
            };
            tokens.push(store.issue(&req).unwrap().token.into_string());
        }
        for t in tokens.iter().step_by(3) {
            store.revoke(t.as_str()).unwrap();
        }
        let end = clock.now();
        drop(store);
        Image {
            bytes: backend.durable_image(),
            tokens,
            end,
        }
    })
}

/// What opening a damaged store file gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Damaged {
    /// It opened (and every operation returned, with a result or an error).
    Opened,
    /// Open returned an error.
    Refused(String),
    /// A panic reached the caller (a bug: the store turns a panic inside the storage engine into
    /// `Error::Corrupt`; see `opening_a_damaged_file_returns_an_error_not_a_panic` in
    /// `tests/reliability_fuzz_stable.rs`).
    Panicked(String),
}

/// Opening a damaged file: `data` is a list of (3-byte offset, byte) mutations of a small
/// store's file. Opening it and using it may fail, but must not panic: a panic that reaches
/// here is caught and returned as [`Damaged::Panicked`], for the caller to fail on. Reads go
/// through verify, which records uses that the store's destructor writes to the damaged file.
pub fn open_mutated(data: &[u8]) -> Damaged {
    let base = base_image();
    let mut image = base.bytes.clone();
    for m in data.chunks_exact(4) {
        let offset =
            (usize::from(m[0]) << 16 | usize::from(m[1]) << 8 | usize::from(m[2])) % image.len();
        image[offset] = m[3];
    }
    let run = || {
        let clock = ManualClock::new(base.end);
        let store = match Store::with_backend(
            SimBackend::from_image(&image),
            Options::new().manual_clock(&clock).cache_size(1024 * 1024),
        ) {
            Ok(s) => s,
            Err(e) => return Damaged::Refused(e.to_string()),
        };
        for t in base.tokens.iter().take(8) {
            let _ = store.verify(t);
        }
        let _ = store.list_subject("user1");
        let _ = store.stats();
        let _ = store.issue(&IssueRequest::session("after"));
        if let Some(t) = base.tokens.get(1) {
            let _ = store.revoke(t.as_str());
        }
        let _ = store.purge_expired();
        let _ = store.check_integrity();
        Damaged::Opened
    };
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(run))
        .unwrap_or_else(|p| Damaged::Panicked(super::workload::panic_message(&*p)))
}
