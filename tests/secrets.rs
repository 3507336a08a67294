//! No secret in the database file, in a `Debug` output or in an error message.

mod common;

use common::*;
use tessera::{Error, IssueRequest, Rejection, Store};

/// The token's secret as raw bytes, decoded from its text (22 id chars after `tss_`, then 44).
fn secret_bytes(text: &str) -> Vec<u8> {
    let body = &text[text.len() - 72..];
    let secret = &body[22..66];
    secret
        .as_bytes()
        .chunks(11)
        .flat_map(|block| {
            let v = block.iter().fold(0u64, |acc, &c| {
                let d = match c {
                    b'0'..=b'9' => c - b'0',
                    b'A'..=b'Z' => c - b'A' + 10,
                    _ => c - b'a' + 36,
                };
                acc * 62 + u64::from(d)
            });
            v.to_be_bytes()
        })
        .collect()
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn the_database_file_holds_no_secret_in_any_form() {
    let f = fixture();
    let issued: Vec<_> = (0..300)
        .map(|i| {
            let req = if i % 3 == 0 {
                IssueRequest::api_key("acme").scope("read")
            } else {
                IssueRequest::session(format!("user{i}"))
            };
            f.store.issue(&req).unwrap()
        })
        .collect();
    for t in issued.iter().step_by(5) {
        assert!(f.store.verify(t.token.as_str()).unwrap().is_valid());
        f.store.revoke(&t.token).unwrap();
    }
    let path = f.path();
    f.store.close().unwrap();
    let file = std::fs::read(&path).unwrap();
    let texts: Vec<&str> = issued.iter().map(|t| t.token.as_str()).collect();
    assert_holds_no_secret(&file, &texts, "the store file");
}

/// The write journal beside an open store (what a crash leaves on disk) holds the rows of the
/// batches it made durable: hashes, never a secret.
#[test]
fn the_write_journal_holds_no_secret_in_any_form() {
    let f = fixture();
    let mut texts = Vec::new();
    for i in 0..200 {
        let t = f
            .store
            .issue(&IssueRequest::session(format!("user{i}")))
            .unwrap();
        if i % 4 == 0 {
            // A rotation's successor is derived from the old secret: neither may be written.
            let next = f.store.rotate(t.token.as_str()).unwrap();
            texts.push(next.token.as_str().to_owned());
        } else if i % 4 == 1 {
            f.store.revoke(&t.token).unwrap();
        }
        texts.push(t.token.as_str().to_owned());
    }
    let mut journal = std::fs::read(format!("{}.journal", f.path().display())).unwrap();
    // The file is preallocated: what follows its last record is zeros.
    journal.truncate(journal.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1));
    assert!(
        journal.len() > 10_000,
        "the journal holds the batches ({} bytes)",
        journal.len()
    );
    let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
    assert_holds_no_secret(&journal, &texts, "the write journal");
}

/// No token's secret, in any form (raw, hex, base62, the whole text), anywhere in `bytes`.
fn assert_holds_no_secret(bytes: &[u8], tokens: &[&str], what: &str) {
    for text in tokens {
        let raw = secret_bytes(text);
        assert_eq!(raw.len(), 32);
        let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
        let b62 = &text[text.len() - 72 + 22..text.len() - 6];
        assert!(!contains(bytes, &raw), "raw secret found in {what}");
        assert!(
            !contains(bytes, hex.as_bytes()),
            "hex secret found in {what}"
        );
        assert!(
            !contains(bytes, b62.as_bytes()),
            "base62 secret found in {what}"
        );
        assert!(
            !contains(bytes, text.as_bytes()),
            "token text found in {what}"
        );
    }
}

#[test]
fn debug_output_and_errors_never_show_a_secret() {
    let f = fixture();
    let t = f.store.issue(&IssueRequest::session("alice")).unwrap();
    let text = t.token.as_str().to_owned();
    let secret_text = &text[text.len() - 72 + 22..text.len() - 6];
    let mut shown = vec![
        format!("{t:?}"),
        format!("{:?}", t.record),
        format!("{:?}", f.store),
        format!("{:?}", f.store.verify(&text).unwrap()),
        format!(
            "{:?}",
            tessera::parse_header("Authorization", &format!("Bearer {text}")).unwrap()
        ),
        format!("{:?}", tessera::TokenRef::from(text.as_str())),
        format!("{:?}", tessera::TokenRef::from(text.as_bytes())),
    ];
    // Errors caused by this token: a wrong secret, a mistyped text, an expired renewal.
    let mut wrong = text.clone().into_bytes();
    let n = wrong.len();
    wrong[n - 10] = if wrong[n - 10] == b'a' { b'b' } else { b'a' };
    let e = f.store.revoke(wrong.as_slice()).unwrap_err();
    assert!(matches!(e, Error::Rejected(Rejection::Malformed(_))));
    shown.push(format!("{e:?} {e}"));
    f.store.revoke(&t.token).unwrap();
    let e = f.store.renew(text.as_str(), HOUR).unwrap_err();
    shown.push(format!("{e:?} {e}"));
    // The secret as text, or as the list of its bytes (what a derived `Debug` of a byte slice
    // prints).
    let as_bytes = format!("{:?}", secret_text.as_bytes());
    let as_bytes = as_bytes.trim_matches(['[', ']']);
    for s in shown {
        assert!(!s.contains(secret_text), "secret shown in: {s}");
        assert!(!s.contains(as_bytes), "secret bytes shown in: {s}");
    }
}

#[test]
fn a_copied_file_without_its_pepper_verifies_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.redb");
    let pepper = tessera::Pepper::new(b"pepper from the host's secret store".to_vec()).unwrap();
    let store = Store::open(&path, tessera::Options::new().pepper(pepper)).unwrap();
    let t = store.issue(&IssueRequest::session("alice")).unwrap();
    drop(store);
    let copy = dir.path().join("copy.redb");
    std::fs::copy(&path, &copy).unwrap();
    assert!(matches!(
        Store::open(&copy, tessera::Options::new()),
        Err(Error::Pepper(_))
    ));
    drop(t);
}
