//! Opening a store: files that are not stores, damaged files, files in use, newer schemas,
//! peppers, and the same path opened twice.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use common::*;
use redb::ReadableTableMetadata;
use tessera::{Concurrency, Error, IssueDurability, IssueRequest, Options, Pepper, Store};

#[test]
fn a_missing_file_is_created_and_reopened_with_its_tokens() {
    let f = fixture();
    let t = f.store.issue(&IssueRequest::session("alice")).unwrap();
    let (path, opts) = (f.path(), f.options());
    drop(f.store);
    let store = Store::open(&path, opts).unwrap();
    assert!(store.verify(t.token.as_str()).unwrap().is_valid());
}

#[test]
fn opening_the_same_path_twice_gives_the_same_store() {
    let f = fixture();
    let again = Store::open(f.dir.path().join("./tokens.redb"), f.options()).unwrap();
    let t = again.issue(&IssueRequest::session("alice")).unwrap();
    assert!(f.store.verify(t.token.as_str()).unwrap().is_valid());
    again.revoke(&t.token).unwrap();
    assert!(!f.store.verify(t.token.as_str()).unwrap().is_valid());
    assert_eq!(f.store.commits(), again.commits());
    let other = Store::open(f.path(), f.options().prefixes("a", "b"));
    assert!(matches!(other, Err(Error::OptionsConflict(_))), "{other:?}");
    // A second open that asks for a sweeper the first one does not run is told so.
    let swept = Store::open(
        f.path(),
        f.options()
            .sweep_interval(Some(std::time::Duration::from_secs(60))),
    );
    assert!(matches!(swept, Err(Error::OptionsConflict(_))), "{swept:?}");
}

/// The last handle dropped on one thread writes its pending uses and checkpoints before the
/// file is let go; an open of the same path on another thread meanwhile waited for nothing and
/// found the file locked by its own process (`Error::Locked`).
#[test]
fn opening_a_store_while_its_last_handle_is_dropped_elsewhere_waits_for_the_close() {
    let f = fixture_with(|o| o.durability(IssueDurability::Eventual));
    let (path, opts) = (f.path(), f.options());
    drop(f.store);
    for round in 0..8u64 {
        let store = Store::open(&path, opts.clone()).unwrap();
        let tokens: Vec<_> = (0..1500)
            .map(|i| {
                store
                    .issue(&IssueRequest::session(format!("u{i}")))
                    .unwrap()
            })
            .collect();
        // Uses waiting in memory: the last handle's drop writes them.
        for t in &tokens {
            assert!(store.verify(t.token.as_str()).unwrap().is_valid());
        }
        let barrier = std::sync::Barrier::new(2);
        let reopened = std::thread::scope(|s| {
            s.spawn(|| {
                barrier.wait();
                drop(store);
            });
            barrier.wait();
            std::thread::sleep(std::time::Duration::from_micros(200 * round));
            Store::open(&path, opts.clone())
        });
        let store = reopened.unwrap_or_else(|e| panic!("round {round}: {e}"));
        assert!(store.verify(tokens[0].token.as_str()).unwrap().is_valid());
    }
}

/// A store in memory is the process's alone: the multi-process mode is refused for it, where it
/// would give every worker of a pre-forking server a store of its own.
#[test]
fn a_store_in_memory_refuses_the_multi_process_mode() {
    let err = Store::in_memory(Options::new().concurrency(Concurrency::MultiProcess)).unwrap_err();
    assert!(matches!(&err, Error::InvalidArgument(m) if m.contains("needs a file")));
    let store = Store::in_memory(Options::new()).unwrap();
    assert!(store
        .verify(
            store
                .issue(&IssueRequest::session("a"))
                .unwrap()
                .token
                .as_str()
        )
        .unwrap()
        .is_valid());
}

#[test]
fn a_file_that_is_not_a_store_gets_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.txt");
    std::fs::write(&path, b"these are not tokens\n").unwrap();
    let err = Store::open(&path, Options::new()).unwrap_err();
    assert!(matches!(err, Error::NotAStore(_)), "{err:?}");
    assert!(err.to_string().contains("not a tessera store"));
    assert_eq!(std::fs::read(&path).unwrap(), b"these are not tokens\n");
}

#[test]
fn a_database_of_another_application_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("other.redb");
    {
        let db = redb::Database::create(&path).unwrap();
        let tx = db.begin_write().unwrap();
        {
            let def: redb::TableDefinition<&str, &str> = redb::TableDefinition::new("users");
            tx.open_table(def).unwrap().insert("a", "b").unwrap();
        }
        tx.commit().unwrap();
    }
    let err = Store::open(&path, Options::new()).unwrap_err();
    assert!(matches!(err, Error::NotAStore(_)), "{err:?}");
}

#[test]
fn a_store_with_a_newer_schema_is_refused() {
    let f = fixture();
    let path = f.path();
    drop(f.store);
    {
        let db = redb::Database::open(&path).unwrap();
        let tx = db.begin_write().unwrap();
        {
            let def: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new("meta");
            let mut meta = tx.open_table(def).unwrap();
            meta.insert("schema_version", 99u32.to_le_bytes().as_slice())
                .unwrap();
        }
        tx.commit().unwrap();
    }
    let err = Store::open(&path, Options::new()).unwrap_err();
    assert_eq!(
        err,
        Error::NewerSchema {
            found: 99,
            supported: tessera::SCHEMA_VERSION
        }
    );
    assert!(err.to_string().contains("upgrade tessera"));
}

/// A new store file is created under a temporary name and linked into place whole (a process
/// killed while redb writes a file in place leaves one that cannot be opened): nothing of the
/// temporary file is left, and every mode opens what it created.
#[test]
fn creating_a_store_leaves_only_the_store_file() {
    let dir = tempfile::tempdir().unwrap();
    for (name, concurrency) in [
        ("a.redb", Concurrency::Exclusive),
        ("b.redb", Concurrency::MultiProcess),
    ] {
        let path = dir.path().join(name);
        let store = Store::open(&path, Options::new().concurrency(concurrency)).unwrap();
        let t = store.issue(&IssueRequest::session("alice")).unwrap();
        drop(store);
        let store = Store::open(&path, Options::new().concurrency(concurrency)).unwrap();
        assert!(store.verify(t.token.as_str()).unwrap().is_valid());
    }
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["a.redb", "b.redb"]);
}

/// A file of schema version 1 (no scope set table) opens, is migrated, and keeps its tokens.
/// Makes a store file what version 1 wrote: the same tables but scope_sets, scopes inline in
/// every row. Returns whether scope_sets was empty (version 1 could not have written it).
fn back_to_version_1(path: &std::path::Path) -> bool {
    let meta: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new("meta");
    let sets: redb::TableDefinition<&[u8; 8], &[u8]> = redb::TableDefinition::new("scope_sets");
    let db = redb::Database::open(path).unwrap();
    let tx = db.begin_write().unwrap();
    let empty = tx.open_table(sets).unwrap().is_empty().unwrap();
    assert!(tx.delete_table(sets).unwrap());
    tx.open_table(meta)
        .unwrap()
        .insert("schema_version", 1u32.to_le_bytes().as_slice())
        .unwrap();
    tx.commit().unwrap();
    empty
}

#[test]
fn a_version_1_file_is_migrated_when_opened() {
    let f = fixture();
    // Scopes of up to 8 bytes stay inline, as version 1 stored every scope string.
    let old = f
        .store
        .issue(&IssueRequest::api_key("acme").scopes(["read", "use"]))
        .unwrap();
    let path = f.path();
    let options = f.options();
    drop(f.store);
    let meta: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new("meta");
    let sets: redb::TableDefinition<&[u8; 8], &[u8]> = redb::TableDefinition::new("scope_sets");
    let schema_of = |db: &redb::Database| {
        let tx = redb::ReadableDatabase::begin_read(db).unwrap();
        let v = tx
            .open_table(meta)
            .unwrap()
            .get("schema_version")
            .unwrap()
            .unwrap()
            .value()
            .to_vec();
        u32::from_le_bytes(v.try_into().unwrap())
    };
    assert!(back_to_version_1(&path), "scope_sets was empty");
    let store = Store::open(&path, options.clone()).unwrap();
    let new = store
        .issue(&IssueRequest::api_key("acme").scopes(["reports:read", "billing:write"]))
        .unwrap();
    drop(store);
    {
        let db = redb::Database::open(&path).unwrap();
        assert_eq!(schema_of(&db), tessera::SCHEMA_VERSION);
        let tx = redb::ReadableDatabase::begin_read(&db).unwrap();
        assert_eq!(tx.open_table(sets).unwrap().len().unwrap(), 1);
    }
    let store = Store::open(&path, options).unwrap();
    for (key, scopes) in [(&old, "read use"), (&new, "reports:read billing:write")] {
        assert!(store.verify(key.token.as_str()).unwrap().is_valid());
        let rec = store.get(key.record.id).unwrap().unwrap();
        assert_eq!(rec.scopes.as_str(), scopes);
    }
}

/// The pepper is checked before an older file is migrated: an open that fails leaves it as it
/// was, for the version that wrote it.
#[test]
fn a_version_1_file_opened_without_its_pepper_is_left_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.redb");
    let pepper = Pepper::new(b"a pepper of sixteen+ bytes".to_vec()).unwrap();
    drop(Store::open(&path, Options::new().pepper(pepper.clone())).unwrap());
    let meta: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new("meta");
    let version = || {
        let db = redb::Database::open(&path).unwrap();
        let tx = redb::ReadableDatabase::begin_read(&db).unwrap();
        let v = tx.open_table(meta).unwrap().get("schema_version").unwrap();
        u32::from_le_bytes(v.unwrap().value().try_into().unwrap())
    };
    assert!(back_to_version_1(&path));
    let err = Store::open(&path, Options::new()).unwrap_err();
    assert!(matches!(err, Error::Pepper(_)), "{err:?}");
    assert_eq!(version(), 1);
    drop(Store::open(&path, Options::new().pepper(pepper)).unwrap());
    assert_eq!(version(), tessera::SCHEMA_VERSION);
}

#[test]
fn a_corrupt_file_gets_an_error_not_a_panic() {
    let f = fixture();
    for i in 0..200 {
        f.store
            .issue(&IssueRequest::session(format!("u{i}")))
            .unwrap();
    }
    let path = f.path();
    drop(f.store);
    let mut bytes = std::fs::read(&path).unwrap();
    // Keep the magic number, scramble the header and the first pages.
    for (i, b) in bytes.iter_mut().enumerate().skip(9).take(64 * 1024) {
        *b ^= (i as u8).wrapping_mul(31) | 1;
    }
    std::fs::write(&path, &bytes).unwrap();
    let result = std::panic::catch_unwind(|| Store::open(&path, Options::new()));
    let result = result.expect("opening a corrupt file must not panic");
    assert!(result.is_err(), "a scrambled file must not open as a store");
}

#[test]
fn peppered_stores_need_their_pepper() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.redb");
    let pepper = Pepper::new(b"a pepper of sixteen+ bytes".to_vec()).unwrap();
    let store = Store::open(&path, Options::new().pepper(pepper.clone())).unwrap();
    let t = store.issue(&IssueRequest::session("alice")).unwrap();
    drop(store);
    let err = Store::open(&path, Options::new()).unwrap_err();
    assert!(matches!(err, Error::Pepper(_)), "{err:?}");
    let wrong = Pepper::new(b"another pepper of 16+ bytes".to_vec()).unwrap();
    let err = Store::open(&path, Options::new().pepper(wrong)).unwrap_err();
    assert!(err.to_string().contains("does not match"), "{err}");
    let store = Store::open(&path, Options::new().pepper(pepper)).unwrap();
    assert!(store.verify(t.token.as_str()).unwrap().is_valid());
    assert!(Pepper::new(b"short".to_vec()).is_err());
    assert!(!format!(
        "{:?}",
        Options::new().pepper(Pepper::new([7u8; 20]).unwrap())
    )
    .contains("7, 7"));
}

#[test]
fn invalid_options_are_refused_with_a_reason() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.redb");
    let cases = [
        Options::new().cache_size(10),
        Options::new().prefixes("same", "same"),
        Options::new().prefixes("has-dash", "ok"),
        Options::new().prefixes("", "ok"),
        Options::new()
            .concurrency(Concurrency::MultiProcess)
            .durability(IssueDurability::Eventual),
        Options::new().purge_batch(0),
        Options::new().flush_interval(std::time::Duration::ZERO),
    ];
    for o in cases {
        match Store::open(&path, o.clone()) {
            Err(Error::InvalidArgument(m)) => assert!(!m.is_empty()),
            other => panic!("{o:?} gave {other:?}"),
        }
    }
    assert!(!path.exists(), "a refused open creates no file");
}

/// Run as a child process by `a_store_open_in_another_process_is_locked`.
#[test]
fn child_process_holding_a_store() {
    let Ok(path) = std::env::var("TESSERA_TEST_HOLD") else {
        return;
    };
    let _store = Store::open(&path, Options::new()).unwrap();
    println!("ready");
    std::io::stdout().flush().unwrap();
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).unwrap();
}

#[test]
fn a_store_open_in_another_process_is_locked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("held.redb");
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_process_holding_a_store",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("TESSERA_TEST_HOLD", &path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    while !line.contains("ready") {
        line.clear();
        assert!(out.read_line(&mut line).unwrap() > 0, "child ended early");
    }
    let err = Store::open(&path, Options::new()).unwrap_err();
    assert!(matches!(err, Error::Locked(_)), "{err:?}");
    assert!(err.to_string().contains("another process"));
    child.stdin.take().unwrap().write_all(b"\n").unwrap();
    assert!(child.wait().unwrap().success());
    // Once the other process is gone, the store opens.
    Store::open(&path, Options::new()).unwrap();
}

/// The files a store creates hold its key (the store file, a backup) or its rows (the journal):
/// they are readable by their owner only.
#[cfg(unix)]
#[test]
fn the_files_a_store_creates_are_its_owner_s_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.redb");
    let store = Store::open(&path, Options::new()).unwrap();
    store.issue(&IssueRequest::session("alice")).unwrap();
    let backup = dir.path().join("backup.redb");
    store.backup(&backup).unwrap();
    let mut journal = path.clone().into_os_string();
    journal.push(".journal");
    for file in [path.as_os_str(), journal.as_os_str(), backup.as_os_str()] {
        let mode = std::fs::metadata(file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{file:?}");
    }
}
