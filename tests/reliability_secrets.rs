//! Secret hygiene: issue 10,000 tokens on a peppered store (sessions and API keys, with labels,
//! scopes and metadata), use them (verify, renew, revoke by text, by id and by subject, expire
//! and purge), then search the database file, every `Debug` output and every error message of
//! failing operations on those tokens for every secret, in raw bytes, hex (lower and upper case)
//! and base62, whole and in 8-byte / 11-digit pieces, and for the pepper: zero hits.
//!
//! The search is shown to work by planting one secret in a copy of the text it searched.
//!
//! `TESSERA_RELIABILITY_LONG=1` for 100,000 tokens.

mod reliability;

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::time::Duration;

use reliability::forge::{self, base62, hex};
use reliability::scale;
use tessera::{
    parse_authorization, parse_header, IssueDurability, IssueRequest, ManualClock, Options, Pepper,
    Store, Timestamp,
};

/// A multiplicative hash for 8-byte keys (the std SipHash is slow in debug builds).
#[derive(Default)]
struct Mix(u64);

impl Hasher for Mix {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x100_0000_01B3);
        }
    }
    fn write_u64(&mut self, x: u64) {
        self.0 = (x ^ (x >> 29)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    }
}

/// Needles indexed by their first 8 bytes.
#[derive(Default)]
struct Needles {
    by_head: HashMap<u64, Vec<(u32, u8)>, BuildHasherDefault<Mix>>,
    needles: Vec<Vec<u8>>,
    forms: Vec<&'static str>,
}

impl Needles {
    fn add(&mut self, needle: Vec<u8>, form: u8) {
        assert!(needle.len() >= 8);
        let head = u64::from_le_bytes(needle[..8].try_into().unwrap());
        self.by_head
            .entry(head)
            .or_default()
            .push((self.needles.len() as u32, form));
        self.needles.push(needle);
    }

    /// Adds every form of a 32-byte secret.
    fn add_secret(&mut self, secret: &[u8]) {
        let mut form = 0u8;
        let mut add = |s: &mut Self, n: Vec<u8>, name: &'static str| {
            if s.forms.len() <= form as usize {
                s.forms.push(name);
            }
            s.add(n, form);
            form += 1;
        };
        add(self, secret.to_vec(), "raw");
        add(self, hex(secret).into_bytes(), "hex");
        add(self, hex(secret).to_uppercase().into_bytes(), "HEX");
        add(self, base62(secret).into_bytes(), "base62");
        for (i, chunk) in secret.chunks(8).enumerate() {
            let names = [
                ["raw 8-byte piece"; 4],
                ["hex 8-byte piece"; 4],
                ["base62 11-digit piece"; 4],
            ];
            add(self, chunk.to_vec(), names[0][i]);
            add(self, hex(chunk).into_bytes(), names[1][i]);
            add(self, base62(chunk).into_bytes(), names[2][i]);
        }
    }

    /// Hits in `hay`: (needle index, form name, offset).
    fn search(&self, hay: &[u8]) -> Vec<(usize, &'static str, usize)> {
        let mut hits = Vec::new();
        if hay.len() < 8 {
            return hits;
        }
        for i in 0..=hay.len() - 8 {
            let head = u64::from_le_bytes(hay[i..i + 8].try_into().unwrap());
            if let Some(cands) = self.by_head.get(&head) {
                for &(n, form) in cands {
                    let needle = &self.needles[n as usize];
                    if hay[i..].starts_with(needle) {
                        hits.push((n as usize, self.forms[form as usize], i));
                    }
                }
            }
        }
        hits
    }
}

#[test]
fn no_secret_in_the_file_in_debug_output_or_in_error_messages() {
    let n = scale(10_000, 100_000);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("secrets.redb");
    let pepper_bytes: Vec<u8> = (0..32u8)
        .map(|i| i.wrapping_mul(37).wrapping_add(11))
        .collect();
    let clock = ManualClock::new(Timestamp::from_unix_millis(1_795_392_000_000));
    let options = || {
        Options::new()
            .manual_clock(&clock)
            .durability(IssueDurability::Eventual)
            .pepper(Pepper::new(pepper_bytes.clone()).unwrap())
    };
    let store = Store::open(&path, options()).unwrap();
    let mut debug = String::new();
    let mut errors = String::new();
    let mut n_debug = 0;
    let mut n_errors = 0;
    let mut note_debug = |s: String| {
        debug.push_str(&s);
        debug.push('\n');
        n_debug += 1;
    };
    let mut texts = Vec::with_capacity(n);
    for i in 0..n {
        let req = match i % 4 {
            0 => IssueRequest::api_key(format!("tenant{}", i % 50))
                .scope("reports:read")
                .label(format!("key {i}")),
            1 => IssueRequest::session(format!("user{}", i % 500))
                .ttl(Duration::from_secs(60))
                .metadata(format!("device {i}").into_bytes()),
            _ => IssueRequest::session(format!("user{}", i % 500)).label("Firefox on Linux"),
        };
        let issued = store.issue(&req).unwrap();
        note_debug(format!(
            "{issued:?} {:?} {}",
            issued.token, issued.record.id
        ));
        texts.push(issued.token.into_string());
    }
    store.flush().unwrap();
    // Use them: verify, failing operations, revocations, renewals, expiry and purge.
    let mut note_error = |e: &dyn std::fmt::Display, d: &dyn std::fmt::Debug| {
        errors.push_str(&format!("{e}\n{d:?}\n"));
        n_errors += 1;
    };
    for (i, t) in texts.iter().enumerate() {
        if i % 3 == 0 {
            let o = store.verify(t).unwrap();
            note_debug(format!("{o:?}"));
        }
        if i % 10 != 0 {
            continue;
        }
        let p = forge::parts(t);
        let mut wrong = p.secret;
        wrong[7] ^= 0x40;
        let bad_secret = forge::forge(p.prefix, &p.id, &wrong);
        note_debug(format!("{:?}", store.verify(&bad_secret).unwrap()));
        let e = store.revoke(bad_secret.as_str()).unwrap_err();
        note_error(&e, &e);
        let mut other_id = p.id;
        other_id[3] ^= 1;
        let unknown = forge::forge(p.prefix, &other_id, &p.secret);
        let e = store.revoke(unknown.as_str()).unwrap_err();
        note_error(&e, &e);
        let e = store
            .renew(unknown.as_str(), Duration::from_secs(60))
            .unwrap_err();
        note_error(&e, &e);
        note_debug(format!("{:?}", store.verify(&t[..t.len() - 1]).unwrap()));
        note_debug(format!("{:?}", store.verify(format!("{t}x")).unwrap()));
        note_debug(format!("{:?}", store.verify(t.to_uppercase()).unwrap()));
        // A token where an id or a name belongs.
        let e = t[4..].parse::<tessera::TokenId>().unwrap_err();
        note_error(&e, &e);
        let e = store
            .issue(&IssueRequest::session(format!("{t}\n")))
            .unwrap_err();
        note_error(&e, &e);
        let e = store
            .issue(&IssueRequest::session("u").scope(format!("{t} x")))
            .unwrap_err();
        note_error(&e, &e);
        let e = store
            .issue(&IssueRequest::session(t.repeat(4)))
            .unwrap_err();
        note_error(&e, &e);
        // Header parsing.
        note_debug(format!("{:?}", parse_authorization(&format!("Bearer {t}"))));
        note_debug(format!("{:?}", parse_header("X-Api-Key", t)));
        if let Err(e) = parse_authorization(&format!("Bearer {t} {t}")) {
            note_error(&e, &e);
        }
        if let Err(e) = parse_authorization(&format!("Token token=\"{t}")) {
            note_error(&e, &e);
        }
        if let Err(e) = parse_header("Cookie", t) {
            note_error(&e, &e);
        }
        match i % 30 {
            0 => {
                store.revoke(t.as_str()).unwrap();
                let e = store
                    .renew(t.as_str(), Duration::from_secs(60))
                    .unwrap_err();
                note_error(&e, &e);
            }
            10 => {
                store.revoke(tessera::TokenId::from_bytes(p.id)).unwrap();
            }
            _ => {
                if let Ok(r) = store.renew(t.as_str(), Duration::from_secs(3600)) {
                    note_debug(format!("{r:?}"));
                }
            }
        }
    }
    store.revoke_subject("user7", None).unwrap();
    clock.advance(Duration::from_secs(120));
    let purged = store.purge_expired().unwrap();
    let revoked = store.stats().unwrap().all.revoked;
    for t in texts.iter().take(200) {
        note_debug(format!("{:?}", store.verify(t).unwrap()));
    }
    note_debug(format!(
        "{store:?} {:?} {:?} {:?}",
        store.stats().unwrap(),
        store.export_header().unwrap(),
        store.list_subject("user1").unwrap()
    ));
    store
        .export(|t| {
            note_debug(format!("{t:?}"));
            Ok(())
        })
        .unwrap();
    // Opening with the wrong pepper, or none.
    let wrong = Options::new().pepper(Pepper::new(vec![9u8; 32]).unwrap());
    let other = dir.path().join("copy.redb");
    store.backup(&other).unwrap();
    for o in [wrong, Options::new()] {
        let e = Store::open(&other, o).unwrap_err();
        note_error(&e, &e);
    }
    let e = Pepper::new(pepper_bytes[..8].to_vec()).unwrap_err();
    note_error(&e, &e);
    note_debug(format!(
        "{:?} {:?}",
        Pepper::new(pepper_bytes.clone()).unwrap(),
        options()
    ));
    store.close().unwrap();
    let file = std::fs::read(&path).unwrap();
    let backup = std::fs::read(&other).unwrap();

    let mut needles = Needles::default();
    for t in &texts {
        needles.add_secret(&forge::parts(t).secret);
    }
    let pepper_forms = needles.needles.len();
    needles.add(pepper_bytes.clone(), 0);
    needles.add(hex(&pepper_bytes).into_bytes(), 1);
    let describe = |hits: &[(usize, &str, usize)]| {
        hits.iter()
            .take(3)
            .map(|(n, form, at)| {
                if *n >= pepper_forms {
                    format!("the pepper at offset {at}")
                } else {
                    format!("a secret ({form}) at offset {at}")
                }
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let file_hits = needles.search(&file);
    let backup_hits = needles.search(&backup);
    let debug_hits = needles.search(debug.as_bytes());
    let error_hits = needles.search(errors.as_bytes());
    // The search is not vacuous: one planted secret (hex, in a message) is found.
    let mut planted = errors.clone().into_bytes();
    planted.extend_from_slice(hex(&forge::parts(&texts[n / 2]).secret).as_bytes());
    let planted_hits = needles.search(&planted).len() - error_hits.len();

    eprintln!(
        "secret hygiene: {n} tokens on a peppered store ({revoked} revoked by subject/text/id, {purged} \
         expired and purged); searched for {} needles ({n} secrets in {} forms each, and the \
         pepper) in the {:.1} MiB file, a {:.1} MiB backup, {n_debug} Debug outputs ({:.1} MiB) \
         and {n_errors} error messages ({:.1} MiB): {} hits in the file, {} in the backup, {} in \
         Debug output, {} in error messages; a planted secret was found {planted_hits} time(s)",
        needles.needles.len(),
        pepper_forms / n,
        file.len() as f64 / 1048576.0,
        backup.len() as f64 / 1048576.0,
        debug.len() as f64 / 1048576.0,
        errors.len() as f64 / 1048576.0,
        file_hits.len(),
        backup_hits.len(),
        debug_hits.len(),
        error_hits.len(),
    );
    assert!(
        file_hits.is_empty(),
        "in the file: {}",
        describe(&file_hits)
    );
    assert!(
        backup_hits.is_empty(),
        "in the backup: {}",
        describe(&backup_hits)
    );
    assert!(
        debug_hits.is_empty(),
        "in Debug output: {}",
        describe(&debug_hits)
    );
    assert!(
        error_hits.is_empty(),
        "in error messages: {}",
        describe(&error_hits)
    );
    // Hex of a 32-byte secret contains its 4 hex pieces: 5 hits.
    assert_eq!(planted_hits, 5, "the search missed a planted secret");
}
