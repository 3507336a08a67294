//! `stats`, `list` and `show`: what an operator sees of a store.

mod common;

use common::{json, seed, tessera};
use predicates::prelude::*;
use tessera::{IssueRequest, ManualClock, Options, Store, Timestamp};

#[test]
fn stats_counts_tokens_by_kind_and_tenant() {
    let s = seed();
    s.tessera()
        .arg("stats")
        .assert()
        .success()
        .stdout(predicate::str::contains(format!(
            "schema version  {}",
            tessera::SCHEMA_VERSION
        )))
        .stdout(predicate::str::contains("file size"))
        .stdout(predicate::str::is_match(r"api_key\s+3\s+0\s+0\s+3").unwrap())
        .stdout(predicate::str::is_match(r"session\s+3\s+1\s+0\s+4").unwrap())
        .stdout(predicate::str::is_match(r"acme\s+2\s+0\s+0\s+2").unwrap())
        .stdout(predicate::str::is_match(r"\(default\)\s+3\s+1\s+0\s+4").unwrap())
        .stdout(predicate::str::contains("tessera purge"));
}

#[test]
fn stats_in_json_has_every_count() {
    let s = seed();
    let v = json(s.tessera().args(["stats", "--json"]));
    assert_eq!(v["schema_version"], tessera::SCHEMA_VERSION);
    assert_eq!(v["all"]["live"], 6);
    assert_eq!(v["all"]["expired"], 1);
    assert_eq!(v["all"]["total"], 7);
    assert_eq!(v["by_kind"]["api_key"]["live"], 3);
    assert_eq!(v["by_tenant"]["acme"]["live"], 2);
    assert_eq!(v["by_tenant"][""]["expired"], 1);
    assert_eq!(v["due_for_purge"], 1);
    assert!(v["file_bytes"].as_u64().unwrap() > 0);
}

#[test]
fn list_of_a_subject_shows_ids_and_labels_and_never_a_secret() {
    let s = seed();
    let out = s
        .tessera()
        .args(["list", "--subject", "alice"])
        .assert()
        .success()
        .stdout(predicate::str::contains(s.alice[0].id.to_string()))
        .stdout(predicate::str::contains(s.alice[1].id.to_string()))
        .stdout(predicate::str::contains("Firefox on Linux"))
        .stdout(predicate::str::contains("iPhone"))
        .stdout(predicate::str::contains("LAST USED"))
        .stdout(predicate::str::contains(s.bob.id.to_string()).not())
        .get_output()
        .stdout
        .clone();
    let out = String::from_utf8(out).unwrap();
    for t in &s.alice {
        assert!(!out.contains(&t.text), "a secret was printed");
    }
}

#[test]
fn list_of_a_tenant_and_kind_in_json_has_only_its_api_keys() {
    let s = seed();
    let v = json(
        s.tessera()
            .args(["list", "--tenant", "acme", "--kind", "api_key", "--json"]),
    );
    let tokens = v["tokens"].as_array().unwrap();
    let ids: Vec<&str> = tokens.iter().map(|t| t["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        [s.acme[0].id.to_string(), s.acme[1].id.to_string()],
        "oldest first"
    );
    assert_eq!(tokens[0]["label"], "CI deploy");
    assert_eq!(
        tokens[0]["scopes"],
        serde_json::json!(["reports:read", "deploy"])
    );
    assert_eq!(tokens[0]["state"], "live");
    assert!(tokens[1]["expires_at"].is_string());
    let text = v.to_string();
    assert!(!text.contains(&s.acme[0].text) && !text.contains("secret"));
}

#[test]
fn list_of_the_default_tenant_shows_who_is_logged_in() {
    let s = seed();
    let v = json(
        s.tessera()
            .args(["list", "--tenant", "", "--kind", "session", "--json"]),
    );
    let mut subjects: Vec<&str> = v["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["subject"].as_str().unwrap())
        .collect();
    subjects.sort();
    assert_eq!(
        subjects,
        ["alice", "alice", "bob"],
        "carol's session expired"
    );
}

#[test]
fn list_of_a_subject_in_another_tenant_is_empty() {
    let s = seed();
    s.tessera()
        .args(["list", "--subject", "alice", "--tenant", "acme"])
        .assert()
        .success()
        .stdout("no live tokens of subject \"alice\" in tenant acme\n");
}

#[test]
fn list_needs_a_subject_or_a_tenant() {
    let s = seed();
    s.tessera()
        .arg("list")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--subject"));
    s.tessera()
        .args(["list", "--tenant", "acme", "--kind", "password"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("session or api_key"));
}

#[test]
fn show_prints_every_field_of_a_token() {
    let s = seed();
    s.tessera()
        .args(["show", &s.acme[0].id.to_string()])
        .assert()
        .success()
        .stdout(predicate::str::contains(format!(
            "id            {}",
            s.acme[0].id
        )))
        .stdout(predicate::str::contains("kind          api_key"))
        .stdout(predicate::str::contains("state         live"))
        .stdout(predicate::str::contains("tenant        acme"))
        .stdout(predicate::str::contains("label         CI deploy"))
        .stdout(predicate::str::contains(
            "scopes        reports:read deploy",
        ))
        .stdout(predicate::str::contains("expires       never"))
        .stdout(predicate::str::contains(&s.acme[0].text).not());
}

#[test]
fn show_tells_an_expired_token_apart_in_json() {
    let s = seed();
    let v = json(
        s.tessera()
            .args(["show", "--json", &s.expired.id.to_string()]),
    );
    assert_eq!(v["id"], s.expired.id.to_string());
    assert_eq!(v["state"], "expired");
    assert_eq!(v["subject"], "carol");
    assert_eq!(v["kind"], "session");
    assert!(v["created_at"].as_str().unwrap().ends_with('Z'));
}

#[test]
fn show_of_an_unknown_id_exits_5() {
    let s = seed();
    s.tessera()
        .args(["show", "0000000000000000000000"])
        .assert()
        .code(5)
        .stderr(predicate::str::contains(
            "no token has the id 0000000000000000000000",
        ));
}

#[test]
fn show_of_a_malformed_id_is_a_usage_error() {
    let s = seed();
    s.tessera()
        .args(["show", "not-an-id"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("22 base62 characters"));
}

#[test]
fn show_refuses_a_whole_token_and_says_why() {
    let s = seed();
    s.tessera()
        .args(["show", &s.bob.text])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("whole token"))
        .stderr(predicate::str::contains("tessera verify"))
        .stderr(predicate::str::contains(&s.bob.text).not());
}

/// The body of a token: the token without its `<prefix>_`.
fn body(token: &str) -> &str {
    token.split_once('_').expect("a token has a prefix").1
}

#[test]
fn a_token_without_its_prefix_is_never_echoed() {
    let s = seed();
    let body = body(&s.bob.text);
    // The secret: the characters after the 22 of the id.
    let secret = &body[tessera::ID_TEXT_LEN..];
    for args in [
        vec!["show", body],
        vec!["revoke", body],
        vec!["revoke", "--subject", "bob", "--except", body],
        vec!["show", secret],
    ] {
        s.tessera()
            .args(&args)
            .assert()
            .code(2)
            .stderr(predicate::str::contains("not a token id"))
            .stderr(predicate::str::contains("characters"))
            .stderr(predicate::str::contains(secret).not())
            .stderr(predicate::str::contains(&secret[..22]).not());
    }
    // A short text is not repeated either: it may be a piece of a secret.
    s.tessera()
        .args(["show", "abc123"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("6 characters"))
        .stderr(predicate::str::contains("abc123").not());
    s.tessera()
        .args(["revoke", "--subject", "bob", "--except", "xyz"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("--except"))
        .stderr(predicate::str::contains("xyz").not());
    s.tessera()
        .args(["show", &s.bob.id.to_string()])
        .assert()
        .success();
}

#[test]
fn a_token_in_the_wrong_place_on_the_command_line_is_never_echoed() {
    let s = seed();
    let token = s.bob.text.as_str();
    let body = body(token);
    let secret = &body[tessera::ID_TEXT_LEN..];
    let id = s.bob.id.to_string();
    for args in [
        vec![token],
        vec![body],
        vec!["show", &id, token],
        vec!["show", &id, body],
        vec!["revoke", "--before", token],
        vec!["revoke", "--before", body],
        vec!["issue-key", "--tenant", "acme", "--ttl", body],
        vec!["--revoked-retention", token, "stats"],
        vec!["events", "--since", body],
    ] {
        s.tessera()
            .args(&args)
            .assert()
            .code(2)
            .stderr(predicate::str::contains("error"))
            .stderr(predicate::str::contains(&secret[..22]).not())
            .stderr(predicate::str::contains(&secret[22..]).not());
    }
    // Values that cannot be a token are still named.
    s.tessera()
        .args(["revoke", "--before", "yesterday"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("yesterday"))
        .stderr(predicate::str::contains("RFC 3339"));
    s.tessera()
        .arg("frobnicate")
        .assert()
        .code(2)
        .stderr(predicate::str::contains("frobnicate"));
}

#[test]
fn a_token_with_an_extreme_time_shows_and_lists() {
    // Issued at the smallest instant there is (the clock of the application said so): the
    // tables print the time as its milliseconds, which RFC 3339 cannot write.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tokens.redb");
    let clock = ManualClock::new(Timestamp::from_unix_millis(i64::MIN));
    let store = Store::open(&path, Options::new().manual_clock(&clock)).unwrap();
    let t = store
        .issue(&IssueRequest::api_key("ancient").label("old"))
        .unwrap();
    let id = t.token.id().to_string();
    drop(t);
    store.close().unwrap();
    let min = "@-9223372036854775808ms";
    tessera(&path)
        .args(["show", &id])
        .assert()
        .success()
        .stdout(predicate::str::contains(format!("created       {min}")));
    tessera(&path)
        .args(["list", "--tenant", "ancient"])
        .assert()
        .success()
        .stdout(predicate::str::contains(&id))
        .stdout(predicate::str::contains(min));
    tessera(&path)
        .arg("events")
        .assert()
        .success()
        .stdout(predicate::str::contains(min));
    let v = json(tessera(&path).args(["show", "--json", &id]));
    assert_eq!(v["created_at"], min);
}
