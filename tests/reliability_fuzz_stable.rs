//! The fuzz targets on a stable toolchain: random and structured inputs (mutated real tokens,
//! header shapes, valid record encodings, operation sequences, damaged store files) run through
//! the same target bodies as cargo-fuzz (`tests/reliability/targets.rs`) for a few seconds each,
//! so the parsers are exercised in CI even without a nightly toolchain. Coverage-guided fuzzing
//! (`fuzz/`, nightly) goes deeper. The C ABI call sequences have their stable loop in the fuzz
//! crate (`fuzz/tests/stable_c_abi.rs`), which links the C ABI crate.
//!
//! Each target runs for `TESSERA_FUZZ_SECONDS` seconds (default 2; 60 with
//! `TESSERA_RELIABILITY_LONG=1`). `TESSERA_SEED` replays a run.

mod reliability;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use reliability::forge::{self, ALPHABET};
use reliability::{scale, seed, targets, Rng};
use tessera::{IssueRequest, Options, Store};

fn budget() -> Duration {
    let secs = std::env::var("TESSERA_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| scale(2.0, 60.0));
    Duration::from_secs_f64(secs)
}

/// Runs `target` on inputs from `gen` for the time budget (at least `min` inputs); panics with
/// the input in hex if the target panics.
fn fuzz(
    name: &str,
    min: usize,
    rng: &mut Rng,
    mut gen: impl FnMut(&mut Rng) -> Vec<u8>,
    target: impl Fn(&[u8]),
) -> usize {
    let start = Instant::now();
    let mut n = 0;
    while n < min || start.elapsed() < budget() {
        let input = gen(rng);
        if let Err(p) = catch_unwind(AssertUnwindSafe(|| target(&input))) {
            panic!(
                "{name}: input {} ({} bytes) failed: {}",
                forge::hex(&input),
                input.len(),
                reliability::workload::panic_message(&*p)
            );
        }
        n += 1;
    }
    eprintln!(
        "stable fuzz {name}: {n} inputs in {:.1} s, 0 failures",
        start.elapsed().as_secs_f64()
    );
    n
}

fn real_tokens(n: usize) -> Vec<String> {
    let store = Store::in_memory(Options::new().prefixes("tss", "acme_live")).unwrap();
    (0..n)
        .map(|i| {
            let req = if i % 2 == 0 {
                IssueRequest::session("u")
            } else {
                IssueRequest::api_key("t")
            };
            store.issue(&req).unwrap().token.into_string()
        })
        .collect()
}

/// A byte-level mutation: flip, replace, insert, delete, truncate, duplicate.
fn mutate(rng: &mut Rng, mut b: Vec<u8>) -> Vec<u8> {
    for _ in 0..=rng.below(3) {
        if b.is_empty() {
            b.push(rng.next_u64() as u8);
            continue;
        }
        let at = rng.index(b.len());
        match rng.below(7) {
            0 => b[at] ^= 1 << rng.below(8),
            1 => b[at] = ALPHABET[rng.index(62)],
            2 => b.insert(at, rng.next_u64() as u8),
            3 => {
                b.remove(at);
            }
            4 => b.truncate(at),
            5 => {
                let tail = b[at..].to_vec();
                b.extend(tail);
            }
            _ => b[at] = [b'_', b' ', 0, 0x80, b'"', b','][rng.index(6)],
        }
    }
    b
}

#[test]
fn stable_fuzz_token_parser() {
    let mut rng = Rng::new(seed("stable fuzz token parser"));
    let tokens = real_tokens(16);
    fuzz(
        "token parser",
        2_000,
        &mut rng,
        |rng| match rng.below(4) {
            0 => rng.bytes_upto(120),
            1 => (0..rng.index(110))
                .map(|_| {
                    if rng.chance(1, 30) {
                        b'_'
                    } else {
                        ALPHABET[rng.index(62)]
                    }
                })
                .collect(),
            2 => {
                let mut id = [0u8; 16];
                let mut secret = [0u8; 32];
                rng.fill(&mut id);
                rng.fill(&mut secret);
                let prefixes = ["tss", "tsk", "x", "acme_live", "tss_tss"];
                forge::forge(prefixes[rng.index(5)], &id, &secret).into_bytes()
            }
            _ => {
                let t = tokens[rng.index(tokens.len())].clone();
                mutate(rng, t.into_bytes())
            }
        },
        targets::token_parser,
    );
}

#[test]
fn stable_fuzz_header_parser() {
    let mut rng = Rng::new(seed("stable fuzz header parser"));
    let tokens = real_tokens(4);
    let names = [
        "Authorization",
        "authorization",
        " AUTHORIZATION ",
        "X-Api-Key",
        "Auth-Token",
        "X-Access-Token",
        "X-Auth-Token",
        "Cookie",
        "",
    ];
    let schemes = [
        "Bearer", "bearer", "Token", "token", "ApiKey", "Basic", "", "Bearer\t",
    ];
    fuzz(
        "header parser",
        5_000,
        &mut rng,
        |rng| {
            let t = &tokens[rng.index(tokens.len())];
            let value = match rng.below(6) {
                0 => format!("{} {t}", schemes[rng.index(schemes.len())]),
                1 => format!("Token token=\"{t}\""),
                2 => format!("Token token={t}, other=\"x\""),
                3 => format!("  {t}  "),
                4 => String::from_utf8_lossy(&rng.bytes_upto(60)).into_owned(),
                _ => "x".repeat(4090 + rng.index(10)),
            };
            let mut b = names[rng.index(names.len())].as_bytes().to_vec();
            b.push(b'\n');
            b.extend(value.into_bytes());
            if rng.chance(1, 3) {
                b = mutate(rng, b);
            }
            b
        },
        targets::header_parser,
    );
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn text(out: &mut Vec<u8>, rng: &mut Rng) {
    let n = rng.index(12);
    varint(out, n as u64);
    out.extend((0..n).map(|_| ALPHABET[rng.index(62)]));
}

/// A valid record encoding, following the format documented in `src/record.rs`.
fn valid_record(rng: &mut Rng) -> Vec<u8> {
    let flags = rng.below(1 << 13) as u16;
    let has = |f: u16| flags & (1 << f) != 0;
    let time = |out: &mut Vec<u8>, rng: &mut Rng| {
        let v = (rng.next_u64() >> rng.below(64)) as i64 * if rng.chance(1, 2) { -1 } else { 1 };
        varint(out, ((v << 1) ^ (v >> 63)) as u64);
    };
    let mut out = vec![1, 1 + rng.below(2) as u8];
    out.extend(flags.to_le_bytes());
    out.push(rng.below(3) as u8);
    out.extend(rng.bytes(32));
    time(&mut out, rng);
    if has(0) {
        time(&mut out, rng);
    }
    for f in [1, 2] {
        if has(f) {
            varint(&mut out, rng.below(1 << 40));
        }
    }
    if has(3) {
        time(&mut out, rng);
    }
    for f in [4, 5] {
        if has(f) {
            varint(&mut out, rng.next_u64() >> rng.below(64));
        }
    }
    if has(6) {
        out.extend(rng.bytes(16));
    }
    if has(7) {
        time(&mut out, rng);
        out.push(1 + rng.below(4) as u8);
    }
    if has(11) {
        out.extend(rng.bytes(16)); // rotation family
    }
    if has(12) {
        out.extend(rng.bytes(16)); // successor: id, replaced at, grace until, how
        time(&mut out, rng);
        time(&mut out, rng);
        out.push(1 + rng.below(2) as u8);
    }
    text(&mut out, rng);
    if has(8) {
        text(&mut out, rng);
    }
    // Scopes: one string, names separated by single spaces.
    let scopes: Vec<String> = (0..rng.index(4))
        .map(|_| {
            (0..1 + rng.index(8))
                .map(|_| ALPHABET[rng.index(62)] as char)
                .collect()
        })
        .collect();
    let scopes = scopes.join(" ");
    varint(&mut out, scopes.len() as u64);
    out.extend(scopes.as_bytes());
    if has(9) {
        text(&mut out, rng);
    }
    if has(10) {
        let n = rng.index(20);
        varint(&mut out, n as u64);
        out.extend(rng.bytes(n));
    }
    out
}

#[test]
fn stable_fuzz_record_decoder() {
    let mut rng = Rng::new(seed("stable fuzz record decoder"));
    fuzz(
        "record decoder",
        5_000,
        &mut rng,
        |rng| match rng.below(3) {
            0 => rng.bytes_upto(100),
            1 => valid_record(rng),
            _ => {
                let r = valid_record(rng);
                mutate(rng, r)
            }
        },
        targets::record_decoder,
    );
    // The generator follows the format documented in src/record.rs; if that format changes,
    // its encodings stop decoding and this says so (the fuzz loop above still runs).
    let mut r2 = Rng::new(1);
    let decoding = (0..1000)
        .filter(|_| tessera::fuzzing::decode_record(&valid_record(&mut r2)))
        .count();
    eprintln!("stable fuzz record decoder: {decoding} of 1000 generated valid encodings decode");
    assert!(
        decoding > 0,
        "no generated encoding decodes: update valid_record to the format in src/record.rs"
    );
}

#[test]
fn stable_fuzz_operations_against_the_model() {
    let mut rng = Rng::new(seed("stable fuzz operations"));
    fuzz(
        "operations vs model",
        200,
        &mut rng,
        |rng| rng.bytes_upto(200),
        targets::operations,
    );
}

#[test]
fn stable_fuzz_open_a_damaged_store() {
    let mut rng = Rng::new(seed("stable fuzz damaged store"));
    let tally = std::cell::RefCell::new(std::collections::BTreeMap::<String, usize>::new());
    let n = fuzz(
        "open a damaged store file",
        100,
        &mut rng,
        |rng| {
            let n = 4 * (1 + rng.index(8));
            rng.bytes(n)
        },
        |data| {
            let key = match targets::open_mutated(data) {
                targets::Damaged::Opened => "opened".to_string(),
                targets::Damaged::Refused(_) => "refused with an error".to_string(),
                targets::Damaged::Panicked(m) => format!("PANICKED: {m}"),
            };
            *tally.borrow_mut().entry(key).or_default() += 1;
        },
    );
    for (k, v) in tally.borrow().iter() {
        eprintln!("stable fuzz open a damaged store file: {v} of {n} {k}");
    }
    let panicked: Vec<_> = tally
        .borrow()
        .keys()
        .filter(|k| k.starts_with("PANICKED"))
        .cloned()
        .collect();
    assert!(
        panicked.is_empty(),
        "a damaged file made the store panic instead of returning an error: {panicked:?}"
    );
}

/// Regression test: one damaged byte in a store file made `Store::open` panic inside the
/// storage engine ("Malformed allocator state", `redb::StorageError::unreachable`) instead of
/// returning `Error::Corrupt`.
#[test]
fn opening_a_damaged_file_returns_an_error_not_a_panic() {
    for page in 0..8usize {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("damaged.redb");
        let store = Store::open(&path, Options::new()).unwrap();
        let t = store.issue(&IssueRequest::session("alice")).unwrap();
        for i in 0..50 {
            store
                .issue(&IssueRequest::session(format!("u{i}")))
                .unwrap();
        }
        drop(store);
        let mut file = std::fs::read(&path).unwrap();
        file[page * 4096 + 100] = 0xFF;
        std::fs::write(&path, &file).unwrap();
        let r = catch_unwind(AssertUnwindSafe(|| {
            Store::open(&path, Options::new()).and_then(|s| s.verify(t.token.as_str()))
        }));
        assert!(r.is_ok(), "page {page}: open or verify panicked");
    }
}

/// The child of `a_damaged_store_file_cannot_abort_the_process`.
#[test]
fn damaged_store_child() {
    if std::env::var_os("TESSERA_DAMAGED_CHILD").is_none() {
        return;
    }
    let mut rng = Rng::new(7);
    for _ in 0..3000 {
        let n = 4 * (1 + rng.index(8));
        let input = rng.bytes(n);
        // A host that catches panics, as the C ABI does; none may reach it.
        let got = catch_unwind(AssertUnwindSafe(|| targets::open_mutated(&input)));
        assert!(
            matches!(
                got,
                Ok(targets::Damaged::Opened | targets::Damaged::Refused(_))
            ),
            "{got:?}"
        );
    }
}

/// Regression test: after a read of a damaged store panicked, dropping the store wrote the uses
/// that verify recorded (`Inner::drop` -> `flush_uses`), which panicked again during the
/// unwinding: the process aborted, and no `catch_unwind` (not even the C ABI's) could stop it.
#[test]
fn a_damaged_store_file_cannot_abort_the_process() {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "damaged_store_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("TESSERA_DAMAGED_CHILD", "1")
        .output()
        .unwrap();
    assert!(out.status.success(), "the process died: {:?}", out.status);
}

/// Regression test: the credential parser refused ASCII whitespace and control characters in a
/// token but let Unicode ones through (U+0085 NEXT LINE, U+00A0 NO-BREAK SPACE), although
/// `CredentialError::InvalidCharacter` documents "whitespace, a control character".
#[test]
fn a_credential_with_unicode_whitespace_is_refused() {
    for v in [
        "Bearer abc\u{85}def",
        "Bearer abc\u{a0}def",
        "Bearer abc\u{91}def",
    ] {
        assert_eq!(
            tessera::parse_authorization(v),
            Err(tessera::CredentialError::InvalidCharacter),
            "{v:?}"
        );
    }
}

#[test]
fn forged_tokens_match_the_real_format() {
    let store = Store::in_memory(Options::new()).unwrap();
    let issued = store.issue(&IssueRequest::session("forge")).unwrap();
    let text = issued.token.as_str();
    let p = forge::parts(text);
    assert_eq!(p.id_text, issued.record.id.to_string());
    assert_eq!(&p.id, issued.record.id.as_bytes());
    assert_eq!(forge::forge(p.prefix, &p.id, &p.secret), text);
    let mut wrong = p.secret;
    wrong[31] ^= 1;
    let forged = forge::forge(p.prefix, &p.id, &wrong);
    assert_eq!(
        store.verify(&forged).unwrap().rejection(),
        Some(tessera::Rejection::BadSecret)
    );
}

/// A record whose idle timeout is 2^64 - 1 ms.
fn huge_duration_record() -> Vec<u8> {
    // format 1, session, flags = idle timeout, key version 1, hash, created_at 0
    let mut r = vec![1, 1, 0x02, 0x00, 1];
    r.extend([0u8; 32]);
    r.push(0);
    varint(&mut r, u64::MAX);
    r.extend([0, 0]); // tenant "", no scopes
    r
}

/// Found by the record decoder target: a duration of 2^63 ms or more, which the encoder cannot
/// write (it saturates at `i64::MAX` ms), so such a record would change when written back. The
/// decoder now rejects it as corrupt: tessera never writes one.
#[test]
fn a_record_with_an_impossible_duration_is_rejected() {
    let r = huge_duration_record();
    assert!(!tessera::fuzzing::decode_record(&r));
    assert!(tessera::fuzzing::record_round_trip(&r));
    targets::record_decoder(&r);
}
