//! The golden vectors (`tests/vectors/golden.json`), shared with the C, Python and Ruby tests:
//! token texts, header forms and expiry edges, checked through the Rust API.

use std::time::Duration;

use serde_json::Value;
use tessera::{
    parse_header, CredentialError, IssueRequest, ManualClock, Options, Outcome, Rejection, Scheme,
    Store, Timestamp,
};

fn vectors() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/vectors/golden.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("golden.json")).expect("JSON")
}

/// The bytes of `field`, or of `field_hex` decoded.
fn bytes(case: &Value, field: &str) -> Vec<u8> {
    if let Some(s) = case[field].as_str() {
        return s.as_bytes().to_vec();
    }
    let hex = case[format!("{field}_hex")].as_str().expect("text or hex");
    (0..hex.len() / 2)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).expect("hex"))
        .collect()
}

/// The C ABI's status name of an outcome (the names the file uses).
fn status(o: &Outcome) -> String {
    match o {
        Outcome::Valid(_) => "ok".into(),
        Outcome::Invalid(Rejection::Unknown) => "unknown_token".into(),
        Outcome::Invalid(r) => r.as_str().into(),
    }
}

fn malformed_reason(r: tessera::MalformedReason) -> String {
    format!("{r:?}").to_lowercase()
}

#[test]
fn every_token_vector_verifies_as_expected() {
    let v = vectors();
    let store = Store::in_memory(Options::new()).unwrap();
    let cases = v["tokens"].as_array().unwrap();
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let text = bytes(case, "text");
        let outcome = store.verify(&text).unwrap();
        assert_eq!(status(&outcome), case["verify"].as_str().unwrap(), "{name}");
        if let Outcome::Invalid(Rejection::Malformed(r)) = outcome {
            assert_eq!(
                Some(malformed_reason(r).as_str()),
                case["reason"].as_str(),
                "{name}"
            );
            let fragment = v["reason_messages"][malformed_reason(r)].as_str().unwrap();
            assert!(r.to_string().contains(fragment), "{name}: {r}");
        }
        if let Some(id) = case["id"].as_str() {
            let text = std::str::from_utf8(&text).unwrap();
            assert_eq!(&text[text.len() - 72..text.len() - 50], id, "{name}");
        }
    }
    assert!(cases.len() >= 20);
}

#[test]
fn every_header_vector_parses_as_expected() {
    let v = vectors();
    for case in v["headers"].as_array().unwrap() {
        let why = case["why"].as_str().unwrap_or("");
        let (name, value) = (bytes(case, "name"), bytes(case, "value"));
        // The Rust API takes text: a header that is not UTF-8 cannot reach it.
        let (Ok(name), Ok(value)) = (String::from_utf8(name), String::from_utf8(value)) else {
            continue;
        };
        match (parse_header(&name, &value), case["error"].as_str()) {
            (Ok(c), None) => {
                let scheme = match c.scheme {
                    Scheme::Token => "token",
                    Scheme::Bearer => "bearer",
                    Scheme::ApiKey => "api_key",
                    Scheme::Bare => "bare",
                    _ => "other",
                };
                assert_eq!(Some(scheme), case["scheme"].as_str(), "{why}");
                assert_eq!(Some(c.token), case["token"].as_str(), "{why}");
            }
            (Err(e), Some(expected)) => {
                let got = match e {
                    CredentialError::Empty => "credential_empty",
                    CredentialError::UnsupportedHeader => "unsupported_header",
                    CredentialError::UnknownScheme => "unknown_scheme",
                    CredentialError::MissingToken => "missing_token",
                    CredentialError::UnterminatedQuote => "unterminated_quote",
                    CredentialError::InvalidCharacter => "invalid_character",
                    CredentialError::TooLong => "credential_too_long",
                    _ => "other",
                };
                assert_eq!(got, expected, "{why}");
            }
            (got, expected) => panic!("{why}: got {got:?}, expected error {expected:?}"),
        }
    }
}

#[test]
fn every_expiry_vector_behaves_as_expected() {
    let v = vectors();
    let start = Timestamp::from_unix_millis(v["clock_start_ms"].as_i64().unwrap());
    for case in v["expiry"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let clock = ManualClock::new(start);
        let store = Store::in_memory(Options::new().manual_clock(&clock)).unwrap();
        let issue = &case["issue"];
        let mut req = match issue["kind"].as_str().unwrap() {
            "session" => IssueRequest::session("golden"),
            _ => IssueRequest::api_key("golden"),
        };
        let ms = |f: &str| issue[f].as_i64();
        req = match ms("ttl_ms") {
            Some(-1) => req.never_expires(),
            Some(n) => req.ttl(Duration::from_millis(n as u64)),
            None => req,
        };
        req = match ms("idle_timeout_ms") {
            Some(-1) => req.no_idle_timeout(),
            Some(n) => req.idle_timeout(Duration::from_millis(n as u64)),
            None => req,
        };
        req = match ms("max_lifetime_ms") {
            Some(-1) => req.no_max_lifetime(),
            Some(n) => req.max_lifetime(Duration::from_millis(n as u64)),
            None => req,
        };
        if let Some(n) = issue["max_uses"].as_u64() {
            req = req.max_uses(n);
        }
        let token = store.issue(&req).unwrap().token;
        for (i, step) in case["steps"].as_array().unwrap().iter().enumerate() {
            clock.advance(Duration::from_millis(
                step["advance_ms"].as_u64().unwrap_or(0),
            ));
            let expect = step["expect"].as_str().unwrap();
            match step["action"].as_str().unwrap() {
                "verify" => {
                    let got = status(&store.verify(token.as_str()).unwrap());
                    assert_eq!(got, expect, "{name}, step {i}");
                }
                "renew" => {
                    let by = Duration::from_millis(step["extend_by_ms"].as_u64().unwrap());
                    match store.renew(&token, by) {
                        Ok(r) => {
                            assert_eq!("ok", expect, "{name}, step {i}");
                            if let Some(c) = step["capped"].as_bool() {
                                assert_eq!(r.capped, c, "{name}, step {i}");
                            }
                        }
                        Err(tessera::Error::Rejected(r)) => {
                            assert_eq!(r.as_str(), expect, "{name}, step {i}")
                        }
                        Err(e) => panic!("{name}, step {i}: {e}"),
                    }
                }
                other => panic!("{name}: unknown action {other}"),
            }
        }
    }
}
