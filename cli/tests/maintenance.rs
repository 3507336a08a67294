//! `purge`, `compact`, `check`, `backup`, `export` and `import`.

mod common;

use std::io::Write;

use common::{json, seed, seed_with, tessera};
use predicates::prelude::*;
use tessera::{Concurrency, IssueRequest, Options, Pepper, Store};

#[test]
fn purge_removes_expired_tokens_with_a_progress_bar() {
    let s = seed();
    s.tessera()
        .args(["purge", "--progress"])
        .assert()
        .success()
        .stdout(predicate::str::starts_with("purged 1 token (expired"))
        .stdout(predicate::str::contains("tessera compact"))
        .stderr(predicate::str::contains("purging ["))
        .stderr(predicate::str::contains("] 1/1 100%"));
    let v = json(s.tessera().args(["stats", "--json"]));
    assert_eq!(v["all"]["expired"], 0);
    assert_eq!(v["all"]["live"], 6);
    assert_eq!(v["due_for_purge"], 0);
    s.tessera()
        .args(["show", &s.expired.id.to_string()])
        .assert()
        .code(5);
}

#[test]
fn purge_of_a_large_store_goes_batch_by_batch() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.redb");
    let clock = tessera::ManualClock::new(tessera::Timestamp::from_unix_millis(1_600_000_000_000));
    let store = Store::open(&path, Options::new().manual_clock(&clock)).unwrap();
    for i in 0..250 {
        store
            .issue(
                &IssueRequest::session(format!("user-{i}")).ttl(std::time::Duration::from_secs(60)),
            )
            .unwrap();
    }
    store.close().unwrap();
    let v = json(tessera(&path).args(["purge", "--json", "--batch", "100"]));
    assert_eq!(v["purged"], 250);
    tessera(&path)
        .args(["purge", "--progress"])
        .assert()
        .success()
        .stdout(predicate::str::starts_with("purged 0 tokens"))
        .stderr("");
}

#[test]
fn purge_rejects_a_batch_size_out_of_range() {
    let s = seed();
    s.tessera().args(["purge", "--batch", "0"]).assert().code(2);
}

#[test]
fn compact_reports_the_size_before_and_after() {
    let s = seed();
    s.tessera().arg("purge").assert().success();
    let v = json(s.tessera().args(["compact", "--json"]));
    let (before, after) = (
        v["bytes_before"].as_u64().unwrap(),
        v["bytes_after"].as_u64().unwrap(),
    );
    assert!(after <= before, "{after} > {before}");
    assert!(v["compacted"].is_boolean());
    s.tessera()
        .arg("compact")
        .assert()
        .success()
        .stdout(predicate::str::contains(" -> "));
    // Still a working store.
    s.tessera()
        .arg("verify")
        .write_stdin(s.bob.text.clone())
        .assert()
        .success();
}

#[test]
fn check_of_a_healthy_store_says_ok() {
    let s = seed();
    s.tessera()
        .arg("check")
        .assert()
        .success()
        .stdout("ok: every page checksum matches and all 7 token records decode\n");
    let v = json(s.tessera().args(["check", "--json"]));
    assert_eq!(v["ok"], true);
    assert_eq!(v["tokens"], 7);
}

#[test]
fn a_backup_is_a_working_copy() {
    let s = seed();
    let out = s.file("backup.redb");
    s.tessera()
        .arg("backup")
        .arg(&out)
        .assert()
        .success()
        .stdout(predicate::str::starts_with("backed up 7 tokens to"));
    // Revoking in the original does not touch the copy.
    s.tessera()
        .args(["revoke", &s.bob.id.to_string()])
        .assert()
        .success();
    tessera(&out)
        .arg("verify")
        .write_stdin(s.bob.text.clone())
        .assert()
        .success();
    let v = json(tessera(&out).args(["stats", "--json"]));
    assert_eq!(v["all"]["total"], 7);
}

#[test]
fn a_backup_never_overwrites_a_file() {
    let s = seed();
    let out = s.file("taken");
    std::fs::write(&out, "precious").unwrap();
    s.tessera()
        .arg("backup")
        .arg(&out)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("exists"));
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "precious");
}

#[test]
fn a_backup_works_while_server_workers_use_the_store_in_multi_process_mode() {
    let s = seed();
    let worker = Store::open(
        &s.path,
        Options::new().concurrency(Concurrency::MultiProcess),
    )
    .unwrap();
    worker.issue(&IssueRequest::session("erin")).unwrap();
    let out = s.file("hot-backup.redb");
    s.tessera()
        .arg("--multi-process")
        .arg("backup")
        .arg(&out)
        .assert()
        .success()
        .stdout(predicate::str::starts_with("backed up 8 tokens"));
    // The environment variable works as well as the flag.
    s.tessera()
        .args(["list", "--subject", "erin"])
        .env("TESSERA_MULTI_PROCESS", "1")
        .assert()
        .success()
        .stdout(predicate::str::contains("erin"));
    // A revocation by the tool is seen by the worker at once.
    s.tessera()
        .args(["--multi-process", "revoke", &s.bob.id.to_string()])
        .assert()
        .success();
    assert!(!worker.verify(&s.bob.text).unwrap().is_valid());
    drop(worker);
    let v = json(tessera(&out).args(["stats", "--json"]));
    assert_eq!(v["all"]["total"], 8);
}

#[test]
fn an_exported_token_still_verifies_after_import() {
    let s = seed();
    let export = s.file("tokens.jsonl");
    s.tessera()
        .args(["export", "--out"])
        .arg(&export)
        .assert()
        .success()
        .stdout("")
        .stderr(predicate::str::contains("exported 7 tokens"))
        .stderr(predicate::str::contains("store key"));
    let text = std::fs::read_to_string(&export).unwrap();
    assert_eq!(
        text.lines().count(),
        9,
        "a header, a line per token, the end line"
    );
    let end: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(end["tessera_export_end"], true);
    assert_eq!(end["tokens"], 7);
    for t in [&s.bob, &s.acme[0], &s.alice[0]] {
        assert!(!text.contains(&t.text), "an export never holds a secret");
    }
    let header: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert_eq!(header["tessera_export"], 2);
    assert_eq!(header["peppered"], false);

    let copy = s.file("imported.redb");
    tessera(&copy)
        .arg("import")
        .arg(&export)
        .assert()
        .success()
        .stdout(predicate::str::starts_with("imported 7 tokens into"));
    for t in [&s.bob, &s.acme[0], &s.alice[1]] {
        tessera(&copy)
            .arg("verify")
            .write_stdin(t.text.clone())
            .assert()
            .success();
    }
    tessera(&copy)
        .arg("verify")
        .write_stdin(s.expired.text.clone())
        .assert()
        .code(5)
        .stdout(predicate::str::contains("expired"));
    let a = json(
        s.tessera()
            .args(["show", "--json", &s.acme[0].id.to_string()]),
    );
    let b = json(tessera(&copy).args(["show", "--json", &s.acme[0].id.to_string()]));
    assert_eq!(a["scopes"], b["scopes"]);
    assert_eq!(a["label"], b["label"]);
    assert_eq!(a["created_at"], b["created_at"]);
}

#[test]
fn an_import_takes_the_application_s_metadata_limit() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.redb");
    let store = Store::open(&path, Options::new().max_metadata_len(16_384)).unwrap();
    let t = store
        .issue(&IssueRequest::session("alice").metadata(vec![7u8; 5_000]))
        .unwrap();
    store.close().unwrap();
    let export = dir.path().join("big.jsonl");
    tessera(&path)
        .args(["export", "--out"])
        .arg(&export)
        .assert()
        .success();
    let copy = dir.path().join("copy.redb");
    tessera(&copy)
        .arg("import")
        .arg(&export)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("metadata"));
    assert!(!copy.exists());
    tessera(&copy)
        .args(["import", "--max-metadata-len", "16384"])
        .arg(&export)
        .assert()
        .success();
    tessera(&copy)
        .arg("verify")
        .write_stdin(t.token.as_str().to_string())
        .assert()
        .success();
}

/// The seed store's export, as `tessera export` writes it to standard output.
fn exported(s: &common::Seed) -> Vec<u8> {
    s.tessera()
        .arg("export")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone()
}

#[test]
fn export_to_standard_output_and_import_from_standard_input() {
    let s = seed();
    let out = exported(&s);
    let copy = s.file("piped.redb");
    tessera(&copy)
        .args(["import", "-", "--json"])
        .write_stdin(out)
        .assert()
        .success()
        .stdout(predicate::str::contains("\"imported\":7"));
    tessera(&copy)
        .arg("verify")
        .write_stdin(s.globex.text.clone())
        .assert()
        .success();
}

#[test]
fn revoked_tokens_stay_revoked_through_export_and_import() {
    let s = seed();
    s.tessera()
        .args(["revoke", &s.bob.id.to_string()])
        .assert()
        .success();
    let export = s.file("e.jsonl");
    s.tessera()
        .args(["export", "-o"])
        .arg(&export)
        .assert()
        .success();
    let copy = s.file("c.redb");
    tessera(&copy).arg("import").arg(&export).assert().success();
    tessera(&copy)
        .arg("verify")
        .write_stdin(s.bob.text.clone())
        .assert()
        .code(5)
        .stdout(predicate::str::contains("revoked"));
}

#[test]
fn import_into_an_existing_file_is_refused() {
    let s = seed();
    let export = s.file("e.jsonl");
    s.tessera()
        .args(["export", "-o"])
        .arg(&export)
        .assert()
        .success();
    let before = std::fs::read(&s.path).unwrap();
    s.tessera()
        .arg("import")
        .arg(&export)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("exists"));
    assert_eq!(
        std::fs::read(&s.path).unwrap(),
        before,
        "the store is untouched"
    );
}

#[test]
fn a_damaged_export_imports_nothing_and_leaves_no_file() {
    let s = seed();
    let export = s.file("e.jsonl");
    s.tessera()
        .args(["export", "-o"])
        .arg(&export)
        .assert()
        .success();
    let text = std::fs::read_to_string(&export).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines.insert(3, "{\"id\":\"broken\"}");
    std::fs::write(&export, lines.join("\n")).unwrap();
    let copy = s.file("c.redb");
    tessera(&copy)
        .arg("import")
        .arg(&export)
        .assert()
        .code(2)
        .stderr(predicate::str::contains("line 4"))
        .stderr(predicate::str::contains("nothing was imported"));
    assert!(!copy.exists());
    // Not an export at all.
    let junk = s.file("junk.txt");
    std::fs::write(&junk, "hello\n").unwrap();
    tessera(&copy).arg("import").arg(&junk).assert().code(2);
    assert!(!copy.exists());
    tessera(&copy)
        .arg("import")
        .arg(s.file("missing.jsonl"))
        .assert()
        .code(2)
        .stderr(predicate::str::contains("no such file"));
}

/// Runs `command` (a shell command line) with a terminal as its standard input and output,
/// through util-linux's `script`; `None` (with a notice) where there is none.
fn on_a_terminal(command: &str) -> Option<std::process::Output> {
    let out = std::process::Command::new("script")
        .args(["-q", "-e", "-c", command, "/dev/null"])
        .env_remove("TESSERA_STORE")
        .stdin(std::process::Stdio::null())
        .output();
    match out {
        Ok(out) => Some(out),
        Err(e) => {
            eprintln!("NOTICE: no `script` to run a command on a terminal ({e}): not checked");
            None
        }
    }
}

#[test]
fn an_export_is_not_printed_to_a_terminal() {
    let s = seed();
    let bin = env!("CARGO_BIN_EXE_tessera");
    let store = s.path.display().to_string();
    let Some(out) = on_a_terminal(&format!("'{bin}' --store '{store}' export")) else {
        return;
    };
    let shown =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{shown}");
    assert!(shown.contains("not printed to a terminal"), "{shown}");
    assert!(!shown.contains("tessera_export"), "{shown}");
    // Redirected, from the same terminal, it is written.
    let file = s.file("e.jsonl");
    let out = on_a_terminal(&format!(
        "'{bin}' --store '{store}' export > '{}'",
        file.display()
    ))
    .unwrap();
    assert!(out.status.success(), "{out:?}");
    let text = std::fs::read_to_string(&file).unwrap();
    assert_eq!(text.lines().count(), 9);
}

/// A token pasted into `verify` on a terminal is not shown (echoed) there.
#[test]
fn a_token_pasted_into_verify_on_a_terminal_is_not_shown() {
    use std::io::{Read, Write};
    let s = seed();
    let bin = env!("CARGO_BIN_EXE_tessera");
    let command = format!("'{bin}' --store '{}' verify", s.path.display());
    let child = std::process::Command::new("script")
        .args(["-q", "-e", "-c", &command, "/dev/null"])
        .env_remove("TESSERA_STORE")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(e) => {
            eprintln!("NOTICE: no `script` to run a command on a terminal ({e}): not checked");
            return;
        }
    };
    let mut out = child.stdout.take().unwrap();
    // Paste only once the prompt is there (the echo is off by then).
    let mut shown = Vec::new();
    let mut byte = [0u8; 1];
    while !String::from_utf8_lossy(&shown).contains("then press Enter") {
        assert_eq!(out.read(&mut byte).unwrap(), 1, "ended before its prompt");
        shown.push(byte[0]);
    }
    let mut input = child.stdin.take().unwrap();
    writeln!(input, "{}", s.alice[0].text).unwrap();
    out.read_to_end(&mut shown).unwrap();
    assert!(child.wait().unwrap().success());
    drop(input);
    let shown = String::from_utf8_lossy(&shown);
    assert!(
        !shown.contains(&s.alice[0].text),
        "the token was shown: {shown}"
    );
    assert!(shown.contains("valid"), "{shown}");
    assert!(shown.contains("not shown"), "{shown}");
}

#[test]
fn an_export_cut_short_imports_nothing() {
    let s = seed();
    let whole = exported(&s);
    let text = String::from_utf8(whole).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let copy = s.file("c.redb");
    // Cut at a line's end (every line before it whole and valid: what a killed `export > file`
    // or a full disk can leave), and inside a line.
    let at_line = lines[..5].join("\n") + "\n";
    let inside = &text[..text.len() - 10];
    for (cut, says) in [
        (at_line.as_str(), "ends at line 5 without its end line"),
        (inside, "line 9 of the export"),
    ] {
        tessera(&copy)
            .args(["import", "-"])
            .write_stdin(cut.to_string())
            .assert()
            .code(2)
            .stderr(predicate::str::contains(says))
            .stderr(predicate::str::contains("nothing was imported"));
        assert!(!copy.exists());
    }
    // Two exports glued together.
    tessera(&copy)
        .args(["import", "-"])
        .write_stdin(text.repeat(2))
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "line 10 of the export: a line after the end line",
        ));
    assert!(!copy.exists());
    // An export of format 1 (no end line, as older versions wrote it) still imports.
    let old = std::iter::once(lines[0].replace("\"tessera_export\":2", "\"tessera_export\":1"))
        .chain(lines[1..8].iter().map(|l| l.to_string()))
        .collect::<Vec<_>>()
        .join("\n");
    tessera(&copy)
        .args(["import", "-"])
        .write_stdin(old)
        .assert()
        .success()
        .stdout(predicate::str::contains("imported 7 tokens"));
}

#[test]
fn a_peppered_export_imports_only_with_the_same_pepper() {
    let pepper = "a pepper of at least sixteen bytes";
    let s = seed_with(Options::new().pepper(Pepper::new(pepper).unwrap()));
    let export = s.file("e.jsonl");
    s.tessera()
        .args(["export", "--pepper-env", "P", "-o"])
        .arg(&export)
        .env("P", pepper)
        .assert()
        .success();
    let copy = s.file("c.redb");
    tessera(&copy)
        .arg("import")
        .arg(&export)
        .assert()
        .code(6)
        .stderr(predicate::str::contains("peppered"));
    assert!(!copy.exists());
    tessera(&copy)
        .args(["import", "--pepper-env", "P"])
        .arg(&export)
        .env("P", pepper)
        .assert()
        .success();
    tessera(&copy)
        .args(["verify", "--pepper-env", "P"])
        .env("P", pepper)
        .write_stdin(s.bob.text.clone())
        .assert()
        .success();
}

/// The permission bits of a file.
#[cfg(unix)]
fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[cfg(unix)]
#[test]
fn an_export_file_is_readable_by_its_owner_only() {
    let s = seed();
    let export = s.file("tokens.jsonl");
    s.tessera()
        .args(["export", "-o"])
        .arg(&export)
        .assert()
        .success();
    assert_eq!(mode(&export), 0o600, "the export holds the store key");
    assert_eq!(std::fs::read_to_string(&export).unwrap().lines().count(), 9);
    let left: Vec<_> = std::fs::read_dir(export.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.contains(".partial-"))
        .collect();
    assert!(left.is_empty(), "the temporary file is gone: {left:?}");
}

#[cfg(unix)]
#[test]
fn a_backup_file_is_readable_by_its_owner_only() {
    let s = seed();
    let out = s.file("backup.redb");
    s.tessera().arg("backup").arg(&out).assert().success();
    assert_eq!(mode(&out), 0o600, "a backup holds the store key");
    let v = json(tessera(&out).args(["stats", "--json"]));
    assert_eq!(v["all"]["total"], 7);
}

#[test]
fn a_failed_import_never_deletes_a_store_it_did_not_create() {
    use std::process::{Command, Stdio};
    let s = seed();
    let export = exported(&s);
    let target = s.file("target.redb");
    // The import checks that the target does not exist, then waits for the export on its
    // standard input; meanwhile another process creates a store there.
    let mut import = Command::new(env!("CARGO_BIN_EXE_tessera"))
        .arg("--store")
        .arg(&target)
        .args(["import", "-"])
        .env_remove("TESSERA_STORE")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    let other = Store::open(&target, Options::new()).unwrap();
    let theirs = other.issue(&IssueRequest::session("erin")).unwrap();
    other.close().unwrap();
    let mut stdin = import.stdin.take().unwrap();
    // The import may stop before reading everything: a closed pipe is no failure here.
    let _ = stdin.write_all(&export);
    drop(stdin);
    let out = import.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("exists"), "{stderr}");
    assert!(
        target.exists(),
        "the import deleted a store it did not create"
    );
    let other = Store::open(&target, Options::new()).unwrap();
    assert!(other.verify(theirs.token.as_str()).unwrap().is_valid());
    assert_eq!(
        other.stats().unwrap().all.total(),
        1,
        "nothing was imported"
    );
}
