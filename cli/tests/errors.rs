//! The bad cases: no store, not a store, a corrupt store, a store in use, a bad command line.

mod common;

use std::path::Path;

use common::{bin, seed, tessera};
use predicates::prelude::*;
use tessera::{Options, Store};

/// Every command that must not create a store, with its arguments.
fn read_commands(dir: &Path) -> Vec<Vec<String>> {
    let out = dir.join("out.redb").display().to_string();
    [
        vec!["stats"],
        vec!["list", "--subject", "alice"],
        vec!["show", "0000000000000000000000"],
        vec!["revoke", "0000000000000000000000"],
        vec!["revoke", "--tenant", "acme"],
        vec!["verify"],
        vec!["purge"],
        vec!["compact"],
        vec!["check"],
        vec!["backup", &out],
        vec!["export"],
        vec!["events"],
        vec!["revoke", "--before", "now"],
    ]
    .into_iter()
    .map(|c| c.into_iter().map(String::from).collect())
    .collect()
}

#[test]
fn no_read_command_creates_a_missing_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing.redb");
    for args in read_commands(dir.path()) {
        tessera(&path)
            .args(&args)
            .write_stdin("tss_whatever\n")
            .assert()
            .code(3)
            .stderr(predicate::str::contains("no store at"));
        assert!(!path.exists(), "`{}` created the store", args.join(" "));
        assert!(!dir.path().join("out.redb").exists());
    }
}

#[test]
fn a_file_that_is_not_a_store_exits_3() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.txt");
    std::fs::write(&path, "these are not tokens\n").unwrap();
    for args in read_commands(dir.path()) {
        tessera(&path)
            .args(&args)
            .write_stdin("tss_whatever\n")
            .assert()
            .code(3)
            .stderr(predicate::str::contains("not a tessera store"));
    }
    tessera(&path)
        .args(["issue-key", "--tenant", "acme"])
        .assert()
        .code(3);
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "these are not tokens\n"
    );
}

#[test]
fn an_empty_file_or_a_directory_is_not_a_store() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.redb");
    std::fs::write(&empty, "").unwrap();
    tessera(&empty)
        .arg("stats")
        .assert()
        .code(3)
        .stderr(predicate::str::contains("empty file"));
    assert_eq!(std::fs::metadata(&empty).unwrap().len(), 0);
    tessera(dir.path())
        .arg("stats")
        .assert()
        .code(3)
        .stderr(predicate::str::contains("directory"));
}

#[test]
fn a_truncated_store_is_reported_corrupt() {
    let s = seed();
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&s.path)
        .unwrap();
    f.set_len(4096).unwrap();
    drop(f);
    for cmd in ["stats", "check"] {
        s.tessera()
            .arg(cmd)
            .assert()
            .code(3)
            .stderr(predicate::str::contains("corrupt"))
            .stderr(predicate::str::contains("backup"));
    }
}

#[test]
fn a_store_with_damaged_pages_is_reported_corrupt_without_a_crash_dump() {
    let s = seed();
    let mut bytes = std::fs::read(&s.path).unwrap();
    // Scribble over the start of every page after the header.
    for page in (4096..bytes.len()).step_by(4096) {
        let end = (page + 64).min(bytes.len());
        for (i, b) in bytes[page..end].iter_mut().enumerate() {
            *b = (i as u8).wrapping_mul(37).wrapping_add(11);
        }
    }
    std::fs::write(&s.path, bytes).unwrap();
    for cmd in ["stats", "check"] {
        s.tessera()
            .arg(cmd)
            .env("RUST_BACKTRACE", "1")
            .assert()
            .code(3)
            .stderr(predicate::str::contains("corrupt"))
            .stderr(predicate::str::contains("stack backtrace").not())
            .stderr(predicate::str::contains("panicked").not());
    }
}

#[test]
fn a_store_open_in_another_process_exits_4() {
    let s = seed();
    let app = Store::open(&s.path, Options::new()).unwrap();
    for args in [
        vec!["stats"],
        vec!["revoke", &s.acme[0].id.to_string()],
        vec!["--multi-process", "stats"],
    ] {
        s.tessera()
            .args(&args)
            .assert()
            .code(4)
            .stderr(predicate::str::contains("in use by another process"));
    }
    s.tessera()
        .arg("stats")
        .assert()
        .code(4)
        .stderr(predicate::str::contains("--multi-process"));
    // Commands that write a file leave none behind.
    let out = s.file("out");
    s.tessera()
        .args(["export", "-o"])
        .arg(&out)
        .assert()
        .code(4);
    s.tessera().arg("backup").arg(&out).assert().code(4);
    assert!(!out.exists());
    drop(app);
    s.tessera().arg("stats").assert().success();
}

#[test]
fn the_store_comes_from_the_option_or_the_environment() {
    let s = seed();
    bin()
        .arg("stats")
        .assert()
        .code(2)
        .stderr(predicate::str::contains(
            "--store PATH or set TESSERA_STORE",
        ));
    bin()
        .arg("stats")
        .env("TESSERA_STORE", &s.path)
        .assert()
        .success()
        .stdout(predicate::str::contains("schema version"));
    // The option can follow the command.
    bin()
        .args(["stats", "--store"])
        .arg(&s.path)
        .assert()
        .success();
}

#[test]
fn help_documents_the_exit_codes() {
    bin()
        .arg("--help")
        .assert()
        .success()
        .stdout(predicate::str::contains("Exit codes:"))
        .stdout(predicate::str::contains(
            "4  the store is in use by another process",
        ))
        .stdout(predicate::str::contains("6  pepper problem"));
    bin().arg("frobnicate").assert().code(2);
    bin().assert().code(2);
}
