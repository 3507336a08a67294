//! `issue-key` and `verify`: a key is printed once, and verify reads tokens from standard input.

mod common;

use common::{bin, json, seed, seed_with, tessera};
use predicates::prelude::*;
use tessera::{Options, Pepper};

#[test]
fn an_issued_key_is_printed_once_alone_and_verifies() {
    let s = seed();
    let out = s
        .tessera()
        .args([
            "issue-key",
            "--tenant",
            "acme",
            "--scope",
            "reports:read",
            "--label",
            "Grafana",
        ])
        .assert()
        .success()
        .stderr(predicate::str::contains("shown once"))
        .stderr(predicate::str::contains("label \"Grafana\""))
        .get_output()
        .stdout
        .clone();
    let key = String::from_utf8(out).unwrap();
    assert!(key.starts_with("tsk_") && key.ends_with('\n'));
    assert_eq!(key.lines().count(), 1);
    s.tessera()
        .arg("verify")
        .write_stdin(key.clone())
        .assert()
        .success()
        .stdout(predicate::str::contains("outcome       valid"))
        .stdout(predicate::str::contains("tenant        acme"))
        .stdout(predicate::str::contains("label         Grafana"))
        .stdout(predicate::str::contains("scopes        reports:read"));
    // Nothing afterwards shows the key again.
    s.tessera()
        .args(["list", "--tenant", "acme", "--json"])
        .assert()
        .success()
        .stdout(predicate::str::contains(key.trim()).not());
}

#[test]
fn an_issued_key_in_json_has_its_token_and_record() {
    let s = seed();
    let v = json(s.tessera().args([
        "issue-key",
        "--json",
        "--tenant",
        "globex",
        "--ttl",
        "7d",
        "--subject",
        "dora",
    ]));
    assert!(v["token"].as_str().unwrap().starts_with("tsk_"));
    assert_eq!(v["record"]["tenant"], "globex");
    assert_eq!(v["record"]["subject"], "dora");
    let created = tessera::Timestamp::parse_rfc3339(v["record"]["created_at"].as_str().unwrap());
    let expires = tessera::Timestamp::parse_rfc3339(v["record"]["expires_at"].as_str().unwrap());
    assert_eq!(
        expires.unwrap().as_unix_millis() - created.unwrap().as_unix_millis(),
        7 * 86_400_000
    );
}

#[test]
fn issue_key_creates_a_missing_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.redb");
    tessera(&path)
        .args(["issue-key", "--tenant", "acme"])
        .assert()
        .success();
    assert!(path.exists());
    let v = json(tessera(&path).args(["stats", "--json"]));
    assert_eq!(v["all"]["live"], 1);
}

#[test]
fn a_bad_duration_is_a_usage_error() {
    let s = seed();
    for bad in ["7", "7x", "0s", "1.5h", "-1d"] {
        s.tessera()
            .args(["issue-key", "--tenant", "acme", &format!("--ttl={bad}")])
            .assert()
            .code(2)
            .stderr(predicate::str::contains("duration"));
    }
    let v = json(s.tessera().args(["stats", "--json"]));
    assert_eq!(v["by_tenant"]["acme"]["total"], 2, "nothing was issued");
}

#[test]
fn a_bad_scope_is_a_usage_error() {
    let s = seed();
    s.tessera()
        .args(["issue-key", "--tenant", "acme", "--scope", "has space"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("whitespace"));
}

#[test]
fn verify_of_a_malformed_token_names_the_rejection_and_exits_5() {
    let s = seed();
    s.tessera()
        .arg("verify")
        .write_stdin("tsk_not-a-token\n")
        .assert()
        .code(5)
        .stdout(predicate::str::contains("outcome  malformed"))
        .stdout(predicate::str::contains("reason   malformed token:"));
    // One character changed: the check digits catch it.
    let mut altered = s.bob.text.clone().into_bytes();
    let last = altered.len() - 1;
    altered[last] = if altered[last] == b'a' { b'b' } else { b'a' };
    let v = s
        .tessera()
        .args(["verify", "--json"])
        .write_stdin(altered)
        .assert()
        .code(5)
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&v).unwrap();
    assert_eq!(v["outcome"], "malformed");
    assert_eq!(v["valid"], false);
    assert!(v["reason"].as_str().unwrap().contains("check digits"));
}

#[test]
fn verify_of_an_expired_session_says_expired() {
    let s = seed();
    s.tessera()
        .arg("verify")
        .write_stdin(s.expired.text.clone())
        .assert()
        .code(5)
        .stdout("outcome  expired\nreason   the token has expired\n");
}

#[test]
fn verify_trims_exactly_one_trailing_newline() {
    let s = seed();
    for input in [
        s.bob.text.clone(),
        format!("{}\n", s.bob.text),
        format!("{}\r\n", s.bob.text),
    ] {
        s.tessera()
            .arg("verify")
            .write_stdin(input)
            .assert()
            .success();
    }
    s.tessera()
        .arg("verify")
        .write_stdin(format!("{}\n\n", s.bob.text))
        .assert()
        .code(5)
        .stdout(predicate::str::contains("malformed"));
}

#[test]
fn verify_in_json_gives_the_record() {
    let s = seed();
    let v = json(
        s.tessera()
            .args(["verify", "--json"])
            .write_stdin(s.alice[1].text.clone()),
    );
    assert_eq!(v["outcome"], "valid");
    assert_eq!(v["valid"], true);
    assert_eq!(v["record"]["id"], s.alice[1].id.to_string());
    assert_eq!(v["record"]["label"], "iPhone");
    assert!(!v.to_string().contains(&s.alice[1].text));
}

#[test]
fn verify_checks_a_tenant_and_scopes_when_asked() {
    let s = seed();
    let key = s.acme[0].text.clone();
    s.tessera()
        .args(["verify", "--tenant", "acme", "--scope", "deploy"])
        .write_stdin(key.clone())
        .assert()
        .success();
    s.tessera()
        .args(["verify", "--tenant", "globex"])
        .write_stdin(key.clone())
        .assert()
        .code(5)
        .stdout(predicate::str::contains("tenant_mismatch"));
    s.tessera()
        .args(["verify", "--scope", "admin"])
        .write_stdin(key)
        .assert()
        .code(5)
        .stdout(predicate::str::contains("scope_denied"));
}

#[test]
fn verify_with_nothing_on_standard_input_is_a_usage_error() {
    let s = seed();
    s.tessera()
        .arg("verify")
        .write_stdin("")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no token on standard input"));
}

#[test]
fn verify_never_takes_the_token_on_the_command_line() {
    let s = seed();
    s.tessera().args(["verify", &s.bob.text]).assert().code(2);
}

#[test]
fn tokens_with_the_applications_own_prefixes_need_those_prefixes() {
    let s = seed_with(Options::new().prefixes("myapp", "myapp_key"));
    assert!(s.bob.text.starts_with("myapp_"));
    s.tessera()
        .arg("verify")
        .write_stdin(s.bob.text.clone())
        .assert()
        .code(5)
        .stdout(predicate::str::contains("prefix"));
    s.tessera()
        .args(["verify", "--session-prefix", "myapp"])
        .args(["--key-prefix", "myapp_key"])
        .write_stdin(s.bob.text.clone())
        .assert()
        .success();
    s.tessera()
        .arg("verify")
        .env("TESSERA_SESSION_PREFIX", "myapp")
        .env("TESSERA_KEY_PREFIX", "myapp_key")
        .write_stdin(s.acme[0].text.clone())
        .assert()
        .success();
}

const PEPPER: &str = "a pepper of at least sixteen bytes";

#[test]
fn a_peppered_store_opens_only_with_its_pepper() {
    let s = seed_with(Options::new().pepper(Pepper::new(PEPPER).unwrap()));
    s.tessera()
        .arg("stats")
        .assert()
        .code(6)
        .stderr(predicate::str::contains("pepper"));
    s.tessera()
        .args(["stats", "--pepper-env", "TEST_PEPPER"])
        .env_remove("TEST_PEPPER")
        .assert()
        .code(6)
        .stderr(predicate::str::contains("TEST_PEPPER is not set"));
    s.tessera()
        .args(["stats", "--pepper-env", "TEST_PEPPER"])
        .env("TEST_PEPPER", "another pepper, also long enough")
        .assert()
        .code(6);
    s.tessera()
        .args(["stats", "--pepper-env", "TEST_PEPPER"])
        .env("TEST_PEPPER", "short")
        .assert()
        .code(6)
        .stderr(predicate::str::contains("16 to 1024 bytes"));
    s.tessera()
        .args(["verify", "--pepper-env", "TEST_PEPPER"])
        .env("TEST_PEPPER", PEPPER)
        .write_stdin(s.bob.text.clone())
        .assert()
        .success();
}

#[test]
fn a_store_without_pepper_refuses_one() {
    let s = seed();
    bin()
        .arg("--store")
        .arg(&s.path)
        .args(["stats", "--pepper-env", "TEST_PEPPER"])
        .env("TEST_PEPPER", PEPPER)
        .assert()
        .code(6);
}

#[test]
fn a_pepper_given_in_place_of_its_variable_is_never_echoed() {
    let s = seed_with(Options::new().pepper(Pepper::new(PEPPER).unwrap()));
    for pepper in [
        PEPPER,
        "Pepper_0123456789abcdefXYZ",
        "pepper=with=equals-0123456789",
    ] {
        s.tessera()
            .args(["stats", "--pepper-env", pepper])
            .env_remove(pepper.split('=').next().unwrap())
            .assert()
            .code(6)
            .stderr(predicate::str::contains("--pepper-env"))
            .stderr(predicate::str::contains("is not set"))
            .stderr(predicate::str::contains(pepper).not())
            .stderr(predicate::str::contains(&pepper[..16]).not());
    }
}

/// A key that cannot be written out (a full disk behind `> key.txt`) is revoked: no live key that
/// nobody holds stays behind, and the command fails.
#[cfg(target_os = "linux")]
#[test]
fn a_key_that_cannot_be_written_out_is_revoked() {
    let s = seed();
    let before = json(s.tessera().args(["stats", "--json"]));
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_tessera"))
        .arg("--store")
        .arg(&s.path)
        .args(["issue-key", "--tenant", "acme"])
        .stdout(full)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("was revoked"),
        "{out:?}"
    );
    let after = json(s.tessera().args(["stats", "--json"]));
    assert_eq!(after["all"]["live"], before["all"]["live"]);
    assert_eq!(
        after["all"]["revoked"].as_u64().unwrap(),
        before["all"]["revoked"].as_u64().unwrap() + 1
    );
}
