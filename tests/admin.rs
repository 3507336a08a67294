//! Operator tools: backup, export and import, compaction, integrity check, custom backends.

mod common;

use std::time::Duration;

use common::*;
use tessera::{
    Error, ExportHeader, ExportedToken, IssueRequest, Options, Pepper, Rejection, SecretHash,
    Store, Timestamp,
};

#[test]
fn a_backup_is_a_working_store_with_every_token() {
    let f = fixture();
    let live = f.store.issue(&IssueRequest::session("alice")).unwrap();
    let gone = f.store.issue(&IssueRequest::api_key("acme")).unwrap();
    f.store.revoke(gone.record.id).unwrap();
    let out = f.dir.path().join("backup.redb");
    assert_eq!(f.store.backup(&out).unwrap(), 2);
    assert!(matches!(
        f.store.backup(&out),
        Err(Error::InvalidArgument(_))
    ));
    let copy = Store::open(&out, f.options()).unwrap();
    assert!(copy.verify(live.token.as_str()).unwrap().is_valid());
    assert_eq!(
        copy.verify(gone.token.as_str()).unwrap().rejection(),
        Some(Rejection::Revoked)
    );
    assert_eq!(copy.list_subject("alice").unwrap().len(), 1);
}

#[test]
fn exported_tokens_keep_working_after_import() {
    let pepper = Pepper::new(b"the host's pepper, 16+ bytes".to_vec()).unwrap();
    let f = fixture_with(|o| o.pepper(pepper.clone()));
    let t = f
        .store
        .issue(
            &IssueRequest::session("alice")
                .tenant("acme")
                .scope("x")
                .label("l")
                .metadata(vec![1, 2]),
        )
        .unwrap();
    let revoked = f.store.issue(&IssueRequest::api_key("acme")).unwrap();
    f.store.revoke(&revoked.token).unwrap();
    let header = f.store.export_header().unwrap();
    let mut rows = Vec::new();
    assert_eq!(
        f.store
            .export(|t| {
                rows.push(t);
                Ok(())
            })
            .unwrap(),
        2
    );
    // Round trip through the text forms, as a JSON export would.
    let header = ExportHeader::from_text(&header.to_text()).unwrap();
    let rows: Vec<ExportedToken> = rows
        .into_iter()
        .map(|r| ExportedToken {
            secret_hash: SecretHash::from_text(&r.secret_hash.to_text()).unwrap(),
            record: r.record,
        })
        .collect();
    assert!(!format!("{rows:?}{header:?}").contains(&rows[0].secret_hash.to_text()[3..]));

    let wrong = Pepper::new(b"another pepper of 16+ bytes".to_vec()).unwrap();
    let err = Store::import(
        f.dir.path().join("w.redb"),
        f.options().pepper(wrong),
        &header,
        rows.clone().into_iter().map(Ok),
    );
    assert!(matches!(err, Err(Error::Pepper(_))), "{err:?}");
    assert!(!f.dir.path().join("w.redb").exists());

    let target = f.dir.path().join("imported.redb");
    let (store, n) = Store::import(
        &target,
        f.options().pepper(pepper),
        &header,
        rows.into_iter().map(Ok),
    )
    .unwrap();
    assert_eq!(n, 2);
    let r = store.verify(t.token.as_str()).unwrap();
    let r = r.record().expect("the imported token verifies");
    assert_eq!(
        (r.tenant.as_str(), r.scopes.as_str(), r.metadata.as_slice()),
        ("acme", "x", &[1u8, 2][..])
    );
    assert_eq!(
        store.verify(revoked.token.as_str()).unwrap().rejection(),
        Some(Rejection::Revoked)
    );
    assert_eq!(store.list_subject("alice").unwrap().len(), 1);
    assert!(matches!(
        Store::import(&target, Options::new(), &header, std::iter::empty()),
        Err(Error::InvalidArgument(_))
    ));
}

#[test]
fn compaction_shrinks_the_file_and_keeps_the_tokens() {
    let f = fixture();
    let tokens: Vec<_> = (0..2000)
        .map(|i| {
            f.store
                .issue(&IssueRequest::session(format!("u{i}")).ttl(HOUR))
                .unwrap()
        })
        .collect();
    let keep = f.store.issue(&IssueRequest::api_key("acme")).unwrap();
    f.clock.advance(2 * HOUR);
    assert_eq!(f.store.purge_expired().unwrap(), 2000);
    let before = std::fs::metadata(f.path()).unwrap().len();
    // A verify leaves a snapshot behind; compaction must still work.
    assert!(f.store.verify(keep.token.as_str()).unwrap().is_valid());
    while f.store.compact().unwrap() {}
    let after = std::fs::metadata(f.path()).unwrap().len();
    assert!(after < before, "{after} >= {before}");
    assert!(f.store.verify(keep.token.as_str()).unwrap().is_valid());
    assert!(f.store.check_integrity().unwrap());
    drop(tokens);
}

#[test]
fn compaction_packs_tables_filled_in_random_order_and_then_has_nothing_to_do() {
    let f = fixture();
    // Random ids fill the tokens table in random order: its pages end up about 70 % used.
    let tokens: Vec<_> = (0..6000)
        .map(|i| {
            f.store
                .issue(&IssueRequest::session(format!("user-{}", i % 600)).ttl(HOUR))
                .unwrap()
        })
        .collect();
    // Verifies record uses, which the compaction writes first (records grow by their last use).
    for t in &tokens {
        assert!(f.store.verify(t.token.as_str()).unwrap().is_valid());
    }
    let before = std::fs::metadata(f.path()).unwrap().len();
    assert!(f.store.compact().unwrap());
    assert!(
        !f.store.compact().unwrap(),
        "a second compaction found work"
    );
    let after = std::fs::metadata(f.path()).unwrap().len();
    assert!(
        after * 10 < before * 8,
        "{after} is not 20 % below {before}"
    );
    let options = f.options();
    let path = f.path();
    drop(f.store);
    {
        let db = redb::Database::open(&path).unwrap();
        let tx = redb::ReadableDatabase::begin_read(&db).unwrap();
        for name in ["tokens", "by_subject", "by_deadline"] {
            let table = tx
                .open_untyped_table(redb::TableDefinition::<&[u8], &[u8]>::new(name))
                .unwrap();
            let st = redb::ReadableTableMetadata::stats(&table).unwrap();
            let used = st.stored_bytes() + st.metadata_bytes();
            assert!(
                st.fragmented_bytes() * 10 < used,
                "{name}: {} bytes free in pages holding {used}",
                st.fragmented_bytes()
            );
        }
    }
    let store = Store::open(&path, options).unwrap();
    for t in &tokens {
        assert!(store.verify(t.token.as_str()).unwrap().is_valid());
    }
    assert_eq!(store.list_subject("user-7").unwrap().len(), 10);
    assert!(store.check_integrity().unwrap());
}

#[test]
fn a_store_runs_on_a_custom_storage_backend() {
    let store =
        Store::with_backend(redb::backends::InMemoryBackend::new(), Options::new()).unwrap();
    let t = store.issue(&IssueRequest::session("alice")).unwrap();
    assert!(store.verify(t.token.as_str()).unwrap().is_valid());
}

#[test]
fn an_import_refuses_out_of_range_fields_and_leaves_no_store() {
    let f = fixture();
    f.store.issue(&IssueRequest::session("alice")).unwrap();
    let header = f.store.export_header().unwrap();
    let rows = exported_rows(&f.store);
    let good = rows.into_iter().next_back().unwrap();
    let broken: [fn(&mut tessera::Record); 4] = [
        |r| r.created_at = tessera::Timestamp::from_unix_millis(i64::MIN),
        |r| r.expires_at = Some(tessera::Timestamp::from_unix_millis(i64::MAX)),
        |r| r.idle_timeout = Some(Duration::ZERO),
        |r| r.max_uses = Some(0),
    ];
    for (i, breaks) in broken.iter().enumerate() {
        let mut row = good.clone();
        breaks(&mut row.record);
        let target = f.dir.path().join(format!("bad-{i}.redb"));
        let got = Store::import(&target, f.options(), &header, [Ok(row)]);
        assert!(
            matches!(got, Err(Error::InvalidArgument(_))),
            "{i}: {got:?}"
        );
        assert!(!target.exists(), "{i}: the store it created is removed");
        assert!(
            !f.dir.path().join(format!("bad-{i}.redb.journal")).exists(),
            "{i}: and its journal"
        );
    }
}

#[test]
fn an_import_refuses_a_parent_cycle() {
    let f = fixture();
    f.store.issue(&IssueRequest::session("alice")).unwrap();
    f.store.issue(&IssueRequest::session("bob")).unwrap();
    let header = f.store.export_header().unwrap();
    let rows = exported_rows(&f.store);
    let (a, b) = (rows[0].record.id, rows[1].record.id);
    // Its own parent; two tokens each the other's parent (in either order of arrival).
    let mut own = rows[0].clone();
    own.record.parent = Some(a);
    let mut first = rows[0].clone();
    first.record.parent = Some(b);
    let mut second = rows[1].clone();
    second.record.parent = Some(a);
    for (i, cycle) in [
        vec![own],
        vec![first.clone(), second.clone()],
        vec![second, first],
    ]
    .into_iter()
    .enumerate()
    {
        let target = f.dir.path().join(format!("cycle-{i}.redb"));
        let got = Store::import(&target, f.options(), &header, cycle.into_iter().map(Ok));
        match got {
            Err(Error::InvalidArgument(m)) => assert!(
                m.contains("its own parent") || m.contains("lead back to it"),
                "{i}: {m}"
            ),
            other => panic!("{i}: {other:?}"),
        }
        assert!(!target.exists(), "{i}: the store it created is removed");
    }
}

#[test]
fn an_imported_store_keeps_children_and_rotation_families_working() {
    let f = fixture();
    let parent = f
        .store
        .issue(&IssueRequest::session("admin").ttl(Duration::from_secs(86_400)))
        .unwrap();
    let child = f
        .store
        .issue_child(&parent.token, &IssueRequest::session("admin").tenant("t2"))
        .unwrap();
    let first = f.store.issue(&IssueRequest::session("bob")).unwrap();
    let second = f.store.rotate(first.token.as_str()).unwrap();
    let (store, n) = imported_copy(&f.store, &f.dir.path().join("imported.redb"), f.options());
    assert_eq!(n, 4);
    // Revoking the parent still reaches its child.
    assert!(store
        .verify(child.issued.token.as_str())
        .unwrap()
        .is_valid());
    assert_eq!(store.revoke(&parent.token).unwrap(), 2);
    assert_eq!(
        store
            .verify(child.issued.token.as_str())
            .unwrap()
            .rejection(),
        Some(Rejection::Revoked)
    );
    // A rotated generation presented after its grace is still reuse, and ends the family.
    assert!(store.verify(second.token.as_str()).unwrap().is_valid());
    f.clock.advance(Duration::from_secs(3600));
    assert_eq!(
        store.verify(first.token.as_str()).unwrap().rejection(),
        Some(Rejection::ReuseDetected)
    );
    assert_eq!(
        store.verify(second.token.as_str()).unwrap().rejection(),
        Some(Rejection::Revoked)
    );
}

#[test]
fn an_import_refuses_a_hash_made_with_another_key_version() {
    let f = fixture();
    let t = f.store.issue(&IssueRequest::session("alice")).unwrap();
    let header = f.store.export_header().unwrap();
    let mut row = exported_rows(&f.store).pop().unwrap();
    let text = row.secret_hash.to_text();
    assert!(text.starts_with("v1:"), "{}", &text[..3]);
    // The hash text of a peppered store (key version 2), into a store without pepper.
    row.secret_hash = SecretHash::from_text(&format!("v2:{}", &text[3..])).unwrap();
    let target = f.dir.path().join("other-key.redb");
    let got = Store::import(&target, f.options(), &header, [Ok(row)]);
    let Err(Error::InvalidArgument(msg)) = got else {
        panic!("{got:?}")
    };
    assert!(msg.contains("key version 2"), "{msg}");
    assert!(!target.exists(), "the store it created is removed");
    assert!(f.store.verify(t.token.as_str()).unwrap().is_valid());
}

#[test]
fn a_hash_text_is_hexadecimal_digits_only() {
    let f = fixture();
    f.store.issue(&IssueRequest::session("alice")).unwrap();
    let text = exported_rows(&f.store)[0].secret_hash.to_text();
    assert!(SecretHash::from_text(&text).is_ok());
    // "+a" parses as a hexadecimal number on its own; inside a hash it is not two digits.
    let signed = format!("{}+{}", &text[..3], &text[4..]);
    assert!(SecretHash::from_text(&signed).is_err());
    assert!(SecretHash::from_text(&format!("v+1:{}", &text[3..])).is_err());
}

#[test]
fn an_import_does_not_replay_a_journal_left_by_a_deleted_store() {
    let f = fixture();
    let t = f.store.issue(&IssueRequest::session("alice")).unwrap();
    let header = f.store.export_header().unwrap();
    let rows = exported_rows(&f.store);
    // A store at the target that revoked everything, left without closing (its journal holds
    // the cutoff), then deleted.
    let target = f.dir.path().join("target.redb");
    let journal = f.dir.path().join("target.redb.journal");
    let left = f.dir.path().join("left.journal");
    f.clock.advance(Duration::from_secs(60));
    {
        let gone = Store::open(&target, f.options()).unwrap();
        gone.revoke_issued_before(tessera::RevokeScope::Store, gone.now())
            .unwrap();
        std::fs::copy(&journal, &left).unwrap();
    }
    std::fs::remove_file(&target).unwrap();
    std::fs::copy(&left, &journal).unwrap();
    let (store, n) =
        Store::import(&target, f.options(), &header, rows.into_iter().map(Ok)).unwrap();
    assert_eq!(n, 1);
    assert!(store.verify(t.token.as_str()).unwrap().is_valid());
}

#[test]
fn the_audit_feed_of_an_imported_store_goes_on_after_the_exported_one() {
    let f = fixture();
    let t = f.store.issue(&IssueRequest::session("alice")).unwrap();
    f.store.revoke(&t.token).unwrap();
    let last = f.store.events(0, 100).unwrap().last().unwrap().seq;
    assert!(last >= 2);
    let header = f.store.export_header().unwrap();
    assert_eq!(header.events_seq(), last);
    let header = ExportHeader::from_text(&header.to_text()).unwrap();
    let rows = exported_rows(&f.store);
    let target = f.dir.path().join("imported.redb");
    let (store, _) =
        Store::import(&target, f.options(), &header, rows.into_iter().map(Ok)).unwrap();
    // A reader whose cursor is at the exported store's last event sees what comes next.
    let next = store.issue(&IssueRequest::session("bob")).unwrap();
    let events = store.events(last, 100).unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].seq, last + 1);
    assert_eq!(events[0].token, Some(next.record.id));
    // Headers written before this field still read.
    let old = header.to_text();
    let (old, _) = old.rsplit_once(':').unwrap();
    assert_eq!(ExportHeader::from_text(old).unwrap().events_seq(), 0);
}

#[test]
fn an_imported_store_exported_again_keeps_the_feed_s_place() {
    let f = fixture();
    let t = f.store.issue(&IssueRequest::session("alice")).unwrap();
    f.store.revoke(&t.token).unwrap();
    let last = f.store.export_header().unwrap().events_seq();
    assert!(last >= 2);
    let (b, _) = imported_copy(&f.store, &f.dir.path().join("second.redb"), f.options());
    // No event happened in the second store yet: its header still carries the first's place.
    let header = b.export_header().unwrap();
    assert_eq!(header.events_seq(), last);
    let (c, _) = imported_copy(&b, &f.dir.path().join("third.redb"), f.options());
    c.issue(&IssueRequest::session("bob")).unwrap();
    assert_eq!(c.events(last, 10).unwrap()[0].seq, last + 1);
    // A header whose feed would run out of numbers is a damaged line.
    let text = header.to_text();
    let (head, _) = text.rsplit_once(':').unwrap();
    for n in [u64::MAX, i64::MAX as u64 + 1] {
        assert!(matches!(
            ExportHeader::from_text(&format!("{head}:{n}")),
            Err(Error::InvalidArgument(_))
        ));
    }
}

#[test]
fn the_longest_lifetimes_end_in_year_9999_and_survive_an_export() {
    let f = fixture();
    let key = f
        .store
        .issue(&IssueRequest::api_key("acme").ttl(Duration::MAX))
        .unwrap();
    assert_eq!(key.record.expires_at, Some(Timestamp::MAX));
    let session = f
        .store
        .issue(
            &IssueRequest::session("alice")
                .ttl(Duration::MAX)
                .idle_timeout(Duration::MAX)
                .max_lifetime(Duration::MAX),
        )
        .unwrap();
    let r = &session.record;
    assert_eq!(r.expires_at, Some(Timestamp::MAX));
    let span = Timestamp::MAX.saturating_duration_since(Timestamp::EPOCH);
    assert_eq!((r.idle_timeout, r.max_lifetime), (Some(span), Some(span)));
    let renewed = f.store.renew(&session.token, Duration::MAX).unwrap();
    assert_eq!(renewed.record.expires_at, Some(Timestamp::MAX));
    let rolled = f.store.roll(&key.token, Duration::MAX).unwrap();
    let (store, n) = imported_copy(&f.store, &f.dir.path().join("imported.redb"), f.options());
    assert_eq!(n, 3);
    for t in [&session.token, &key.token, &rolled.token] {
        assert!(store.verify(t.as_str()).unwrap().is_valid());
    }
}

/// An import in progress is not a store to open, from the same process either (which would be
/// handed the importing handle, half filled).
#[test]
fn a_store_being_imported_does_not_open_in_the_same_process() {
    let f = fixture();
    f.store.issue(&IssueRequest::session("alice")).unwrap();
    let header = f.store.export_header().unwrap();
    let rows = exported_rows(&f.store);
    let target = f.dir.path().join("busy.redb");
    // As the import fills it: the options of the import's own handle but its marker.
    let options = f.options().sweep_interval(None);
    let opened = std::cell::RefCell::new(None);
    let tokens = rows.into_iter().map(Ok).chain(std::iter::from_fn(|| {
        if opened.borrow().is_none() {
            *opened.borrow_mut() = Some(Store::open(&target, options.clone()).map(drop));
        }
        None
    }));
    let (store, n) = Store::import(&target, f.options(), &header, tokens).unwrap();
    assert_eq!(n, 1);
    let opened = opened.into_inner().unwrap();
    assert!(
        matches!(&opened, Err(Error::OptionsConflict(m)) if m.contains("import")),
        "{opened:?}"
    );
    drop(store);
}

#[test]
fn a_store_whose_import_was_cut_short_does_not_open() {
    let f = fixture();
    f.store.issue(&IssueRequest::session("alice")).unwrap();
    f.store.issue(&IssueRequest::session("bob")).unwrap();
    let header = f.store.export_header().unwrap();
    let rows = exported_rows(&f.store);
    let target = f.dir.path().join("cut.redb");
    // The import dies halfway (a panic here, a kill -9 in production): its file stays behind.
    let first = rows[0].clone();
    let cut = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let rows = [Ok(first)].into_iter().chain(std::iter::from_fn(
            || -> Option<tessera::Result<ExportedToken>> { panic!("the importing process dies") },
        ));
        Store::import(&target, f.options(), &header, rows)
    }));
    assert!(cut.is_err());
    assert!(target.exists());
    let opened = Store::open(&target, f.options());
    assert!(
        matches!(&opened, Err(Error::NotAStore(m)) if m.contains("import")),
        "{opened:?}"
    );
    std::fs::remove_file(&target).unwrap();
    let _ = std::fs::remove_file(f.dir.path().join("cut.redb.journal"));
    let (store, n) =
        Store::import(&target, f.options(), &header, rows.into_iter().map(Ok)).unwrap();
    assert_eq!(n, 2);
    drop(store);
    // A finished import opens like any store.
    Store::open(&target, f.options()).unwrap();
}

/// A new store at `target` made by importing everything `store` exports; and how many tokens.
fn imported_copy(store: &Store, target: &std::path::Path, options: Options) -> (Store, u64) {
    let header = store.export_header().unwrap();
    Store::import(
        target,
        options,
        &header,
        exported_rows(store).into_iter().map(Ok),
    )
    .unwrap()
}

/// Every token the store exports.
fn exported_rows(store: &Store) -> Vec<ExportedToken> {
    let mut rows = Vec::new();
    store
        .export(|t| {
            rows.push(t);
            Ok(())
        })
        .unwrap();
    rows
}

/// A backup appears at its name only once complete (an interrupted one must not leave there a
/// store that opens with part of the tokens): whenever the name exists, it holds the whole copy.
#[test]
fn a_backup_appears_at_its_name_only_when_complete() {
    let f = fixture_with(|o| o.durability(tessera::IssueDurability::Eventual));
    let n = 25_000u64;
    for i in 0..n {
        f.store
            .issue(&IssueRequest::session(format!("user-{i}")))
            .unwrap();
    }
    let out = f.dir.path().join("backup.redb");
    let copying = {
        let (store, out) = (f.store.clone(), out.clone());
        std::thread::spawn(move || store.backup(&out))
    };
    // The file's length the first time the name is seen, and how often it was looked at.
    let (mut first_seen, mut looks) = (None, 0u64);
    while !copying.is_finished() {
        looks += 1;
        if first_seen.is_none() {
            first_seen = std::fs::metadata(&out).ok().map(|m| m.len());
        }
    }
    assert_eq!(copying.join().unwrap().unwrap(), n);
    let len = std::fs::metadata(&out).unwrap().len();
    assert!(looks > 1, "the name was looked at while the copy ran");
    assert!(
        first_seen.is_none_or(|seen| seen == len),
        "the name held {first_seen:?} bytes before the copy's {len}"
    );
    let names: Vec<_> = std::fs::read_dir(f.dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(
        !names.iter().any(|n| n.contains(".partial-")),
        "the temporary copy is gone: {names:?}"
    );
    let copy = Store::open(&out, f.options()).unwrap();
    assert_eq!(copy.stats().unwrap().all.live, n);
}

/// A backup that cannot be written leaves nothing behind, and never touches a file that was at
/// its name already.
#[test]
fn a_failed_backup_leaves_nothing_and_keeps_what_was_there() {
    let f = fixture();
    f.store.issue(&IssueRequest::session("alice")).unwrap();
    let missing = f.dir.path().join("no-such-dir").join("backup.redb");
    assert!(f.store.backup(&missing).is_err());
    assert!(!missing.parent().unwrap().exists());
    let there = f.dir.path().join("there.redb");
    std::fs::write(&there, b"somebody's file").unwrap();
    assert!(matches!(
        f.store.backup(&there),
        Err(Error::InvalidArgument(_))
    ));
    assert_eq!(std::fs::read(&there).unwrap(), b"somebody's file");
}
