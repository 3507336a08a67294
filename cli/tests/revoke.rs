//! `revoke`: by id, by subject (with an exception), by tenant; each says what it revoked.

mod common;

use common::{json, seed};
use predicates::prelude::*;

#[test]
fn revoking_a_leaked_key_says_so_and_the_key_stops_verifying() {
    let s = seed();
    s.tessera()
        .args(["revoke", &s.acme[0].id.to_string()])
        .assert()
        .success()
        .stdout(format!(
            "revoked {} (api_key, tenant acme, label \"CI deploy\")\n",
            s.acme[0].id
        ));
    s.tessera()
        .arg("verify")
        .write_stdin(s.acme[0].text.clone())
        .assert()
        .code(5)
        .stdout(predicate::str::contains("outcome  revoked"));
    let v = json(
        s.tessera()
            .args(["show", "--json", &s.acme[0].id.to_string()]),
    );
    assert_eq!(v["state"], "revoked");
    assert_eq!(v["revoked"]["reason"], "by_id");
}

#[test]
fn revoking_a_revoked_token_again_changes_nothing() {
    let s = seed();
    let id = s.bob.id.to_string();
    s.tessera().args(["revoke", &id]).assert().success();
    s.tessera()
        .args(["revoke", &id])
        .assert()
        .success()
        .stdout(predicate::str::contains("was already revoked at"))
        .stdout(predicate::str::contains("(by_id): nothing to do"));
    let v = json(s.tessera().args(["revoke", "--json", &id]));
    assert_eq!(v["revoked"], 0);
    assert_eq!(v["already_revoked"], true);
}

#[test]
fn revoking_an_unknown_id_exits_5() {
    let s = seed();
    s.tessera()
        .args(["revoke", "0000000000000000000000"])
        .assert()
        .code(5)
        .stderr(predicate::str::contains("no token has the id"));
}

#[test]
fn revoking_a_subject_except_one_session_keeps_that_one() {
    let s = seed();
    let keep = s.alice[0].id.to_string();
    s.tessera()
        .args(["revoke", "--subject", "alice", "--except", &keep])
        .assert()
        .success()
        .stdout(predicate::str::contains(format!(
            "revoked 1 token of subject \"alice\", kept {keep}"
        )))
        .stdout(predicate::str::contains(s.alice[1].id.to_string()))
        .stdout(predicate::str::contains("iPhone"));
    let v = json(s.tessera().args(["list", "--subject", "alice", "--json"]));
    let left: Vec<&str> = v["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(left, [keep.as_str()]);
}

#[test]
fn an_exception_that_is_not_the_subjects_token_revokes_nothing() {
    let s = seed();
    s.tessera()
        .args([
            "revoke",
            "--subject",
            "alice",
            "--except",
            &s.bob.id.to_string(),
        ])
        .assert()
        .code(5)
        .stderr(predicate::str::contains("nothing was revoked"));
    let v = json(s.tessera().args(["list", "--subject", "alice", "--json"]));
    assert_eq!(v["tokens"].as_array().unwrap().len(), 2);
}

#[test]
fn revoking_a_tenant_revokes_all_of_its_keys_and_lists_them() {
    let s = seed();
    let v = json(s.tessera().args(["revoke", "--tenant", "acme", "--json"]));
    assert_eq!(v["revoked"], 2);
    let mut ids: Vec<String> = v["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i.as_str().unwrap().to_string())
        .collect();
    ids.sort();
    let mut want = vec![s.acme[0].id.to_string(), s.acme[1].id.to_string()];
    want.sort();
    assert_eq!(ids, want);
    s.tessera()
        .args(["list", "--tenant", "acme"])
        .assert()
        .success()
        .stdout("no live tokens in tenant acme\n");
    // Other tenants are untouched.
    s.tessera()
        .arg("verify")
        .write_stdin(s.globex.text.clone())
        .assert()
        .success();
}

#[test]
fn revoking_a_subject_counts_expired_tokens_too() {
    let s = seed();
    s.tessera()
        .args(["revoke", "--subject", "carol"])
        .assert()
        .success()
        .stdout("revoked 1 token of subject \"carol\"\n(1 of them expired or descendants, not listed)\n");
}

#[test]
fn revoke_needs_exactly_one_target() {
    let s = seed();
    s.tessera().arg("revoke").assert().code(2);
    s.tessera()
        .args(["revoke", &s.bob.id.to_string(), "--tenant", "acme"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("not both"));
    s.tessera()
        .args(["revoke", "--subject", "alice", "--tenant", "acme"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("cannot be used together"));
    s.tessera()
        .args([
            "revoke",
            "--tenant",
            "acme",
            "--except",
            &s.bob.id.to_string(),
        ])
        .assert()
        .code(2);
    s.tessera()
        .args(["revoke", "nonsense"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("not a token id"))
        .stderr(predicate::str::contains("8 characters"))
        .stderr(predicate::str::contains("nonsense").not());
}
