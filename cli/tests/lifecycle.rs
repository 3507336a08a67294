//! Lifecycle features: `revoke --before` cutoffs, `show` of children and rotation families, and
//! the `events` audit feed.

mod common;

use std::time::Duration;

use common::{json, seed, tessera};
use predicates::prelude::*;
use tessera::{IssueRequest, ManualClock, Options, Store, Timestamp};

#[test]
fn revoke_before_a_time_revokes_a_subjects_older_tokens_and_lists_them() {
    let s = seed();
    s.tessera()
        .args(["revoke", "--subject", "alice", "--before", "now"])
        .assert()
        .success()
        .stdout(predicate::str::starts_with(
            "revoked 2 live tokens of subject \"alice\" issued before",
        ))
        .stdout(predicate::str::contains(s.alice[0].id.to_string()))
        .stdout(predicate::str::contains(s.alice[1].id.to_string()));
    for t in &s.alice {
        s.tessera()
            .arg("verify")
            .write_stdin(t.text.clone())
            .assert()
            .code(5)
            .stdout(predicate::str::contains("revoked"));
    }
    // The record does not say so, but `show` does.
    s.tessera()
        .args(["show", &s.alice[0].id.to_string()])
        .assert()
        .success()
        .stdout(predicate::str::contains(
            "revoked (issued before a `revoke --before` cutoff)",
        ));
    let v = json(
        s.tessera()
            .args(["show", "--json", &s.alice[0].id.to_string()]),
    );
    assert_eq!(v["state"], "revoked");
    assert_eq!(v["revoked_by_cutoff"], true);
    // Others are untouched, and so are the subject's new tokens.
    s.tessera()
        .arg("verify")
        .write_stdin(s.bob.text.clone())
        .assert()
        .success();
    let key = s
        .tessera()
        .args(["issue-key", "--tenant", "acme", "--subject", "alice"])
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    s.tessera()
        .arg("verify")
        .write_stdin(key)
        .assert()
        .success();
}

#[test]
fn revoke_before_a_time_in_a_tenant_or_the_whole_store() {
    let s = seed();
    let v = json(
        s.tessera()
            .args(["revoke", "--tenant", "acme", "--before", "now", "--json"]),
    );
    assert_eq!(v["revoked"], 2);
    assert_eq!(v["scope"], "tenant:acme");
    assert_eq!(v["ids"].as_array().unwrap().len(), 2);
    s.tessera()
        .args(["revoke", "--before", "now"])
        .assert()
        .success()
        .stdout(predicate::str::starts_with(
            "revoked 4 live tokens of the store issued before",
        ));
    let v = json(s.tessera().args(["stats", "--json"]));
    assert_eq!(v["all"]["live"], 0);
}

#[test]
fn revoke_before_refuses_a_future_time_or_a_bad_one() {
    let s = seed();
    s.tessera()
        .args(["revoke", "--before", "2999-01-01T00:00:00Z"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("in the future"));
    s.tessera()
        .args(["revoke", "--before", "yesterday"])
        .assert()
        .code(2)
        .stderr(predicate::str::contains("RFC 3339"));
    s.tessera()
        .args(["revoke", "--before", "now", "--subject", "alice"])
        .args(["--except", &s.alice[0].id.to_string()])
        .assert()
        .code(2);
    let v = json(s.tessera().args(["stats", "--json"]));
    assert_eq!(v["all"]["live"], 6, "nothing was revoked");
}

/// A store where dave's session, issued two hours ago, has a child and was rotated twice (an hour
/// ago and now): its first two generations are past their grace window.
struct Family {
    seed: common::Seed,
    child: tessera::TokenId,
    generations: Vec<tessera::TokenId>,
}

fn family() -> Family {
    let seed = seed();
    let now = Timestamp::from(std::time::SystemTime::now());
    let clock = ManualClock::new(now.saturating_sub(Duration::from_secs(7200)));
    let store = Store::open(&seed.path, Options::new().manual_clock(&clock)).unwrap();
    let first = store
        .issue(&IssueRequest::session("dave").label("Firefox"))
        .unwrap();
    let child = store
        .issue_child(
            first.token.as_str(),
            &IssueRequest::session("dave").label("CLI login"),
        )
        .unwrap();
    clock.advance(Duration::from_secs(3600));
    let second = store.rotate(first.token.as_str()).unwrap();
    clock.advance(Duration::from_secs(3600));
    let third = store.rotate(second.token.as_str()).unwrap();
    store.close().unwrap();
    Family {
        child: child.issued.token.id(),
        generations: vec![first.token.id(), second.token.id(), third.token.id()],
        seed,
    }
}

#[test]
fn show_lists_a_tokens_children_and_its_rotation_family() {
    let f = family();
    let out = f
        .seed
        .tessera()
        .args(["show", &f.generations[1].to_string()])
        .assert()
        .success()
        .stdout(predicate::str::contains(format!(
            "family        {}",
            f.generations[0]
        )))
        .stdout(predicate::str::contains(format!(
            "successor     {}",
            f.generations[2]
        )))
        .stdout(predicate::str::contains(
            "rotation family (3 generations, oldest first):",
        ))
        .stdout(predicate::str::contains("<- this token"))
        .get_output()
        .stdout
        .clone();
    let out = String::from_utf8(out).unwrap();
    let at = |id: &tessera::TokenId| out.rfind(&id.to_string()).unwrap();
    assert!(at(&f.generations[0]) < at(&f.generations[1]));
    assert!(at(&f.generations[1]) < at(&f.generations[2]));
    f.seed
        .tessera()
        .args(["show", &f.generations[0].to_string()])
        .assert()
        .success()
        .stdout(predicate::str::contains("children (1):"))
        .stdout(predicate::str::contains(f.child.to_string()))
        .stdout(predicate::str::contains("CLI login"))
        .stdout(predicate::str::contains("state         rotated"));
    let v = json(
        f.seed
            .tessera()
            .args(["show", "--json", &f.generations[0].to_string()]),
    );
    assert_eq!(v["children"][0]["id"], f.child.to_string());
    assert_eq!(v["family_members"].as_array().unwrap().len(), 3);
    assert_eq!(v["successor"]["how"], "rotated");
    assert_eq!(v["state"], "rotated");
}

#[test]
fn children_and_families_survive_export_and_import() {
    let f = family();
    let export = f.seed.file("e.jsonl");
    f.seed
        .tessera()
        .args(["export", "-o"])
        .arg(&export)
        .assert()
        .success();
    let copy = f.seed.file("copy.redb");
    tessera(&copy).arg("import").arg(&export).assert().success();
    let v = json(tessera(&copy).args(["show", "--json", &f.generations[0].to_string()]));
    assert_eq!(v["children"][0]["id"], f.child.to_string());
    assert_eq!(v["family_members"].as_array().unwrap().len(), 3);
    let child = json(tessera(&copy).args(["show", "--json", &f.child.to_string()]));
    assert_eq!(child["parent"], f.generations[0].to_string());
}

#[test]
fn an_export_carries_cutoffs_so_an_import_keeps_them() {
    let s = seed();
    s.tessera()
        .args(["revoke", "--tenant", "acme", "--before", "now"])
        .assert()
        .success();
    let export = s.file("e.jsonl");
    s.tessera()
        .args(["export", "-o"])
        .arg(&export)
        .assert()
        .success();
    let imported = s.file("i.redb");
    tessera(&imported)
        .arg("import")
        .arg(&export)
        .assert()
        .success();
    for store in [&imported, &{
        // A backup keeps the cutoff too.
        let backup = s.file("b.redb");
        s.tessera().arg("backup").arg(&backup).assert().success();
        backup
    }] {
        tessera(store)
            .arg("verify")
            .write_stdin(s.acme[0].text.clone())
            .assert()
            .code(5)
            .stdout(predicate::str::contains("revoked"));
    }
}

#[test]
fn events_show_what_happened_after_a_cursor() {
    let s = seed();
    s.tessera()
        .args(["revoke", &s.bob.id.to_string()])
        .assert()
        .success();
    s.tessera()
        .args(["revoke", "--tenant", "globex", "--before", "now"])
        .assert()
        .success();
    let v = json(s.tessera().args(["events", "--json"]));
    let events = v["events"].as_array().unwrap();
    assert_eq!(events.len(), 9, "seven issued, one revoked, one cutoff");
    assert!(events[..7].iter().all(|e| e["kind"] == "issued"));
    assert_eq!(events[7]["kind"], "revoked");
    assert_eq!(events[7]["token"], s.bob.id.to_string());
    assert_eq!(events[7]["reason"], "by_id");
    assert_eq!(events[8]["kind"], "revoked_before");
    assert_eq!(events[8]["scope"], "tenant:globex");
    let last = events[8]["seq"].as_u64().unwrap();
    assert_eq!(v["next"], last);
    let seventh = events[6]["seq"].as_u64().unwrap().to_string();
    s.tessera()
        .args(["events", "--since", &seventh])
        .assert()
        .success()
        .stdout(predicate::str::contains(format!(
            "revoked         {}",
            s.bob.id
        )))
        .stdout(predicate::str::contains("reason by_id"))
        .stdout(predicate::str::contains("scope tenant:globex"))
        .stdout(predicate::str::contains("issued").not())
        .stderr(predicate::str::contains(format!(
            "tessera events --since {last}"
        )));
    s.tessera()
        .args(["events", "--since", &last.to_string()])
        .assert()
        .success()
        .stdout(format!("no events after {last}\n"));
    let v = json(s.tessera().args(["events", "--json", "--limit", "2"]));
    assert_eq!(v["events"].as_array().unwrap().len(), 2);
    s.tessera()
        .args(["events", "--limit", "0"])
        .assert()
        .code(2);
}
