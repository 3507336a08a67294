//! Operator tools: backup, export and import, compaction and the integrity check.

use std::fmt;
use std::path::Path;

use redb::{ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition, TableHandle};

use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::issue::{check_name, MAX_SCOPES};
use crate::options::Options;
use crate::record::{Kind, Record, Stored};
use crate::schema::{self, EachTable, StoreKey, TOKENS};

use crate::storage::ReadTables;
use crate::store::Store;
use crate::support::WholeFileStep;
use crate::write::Commit;

/// The keyed hash of a token's secret and the key version it was made with. Moves with an
/// export, so that imported tokens keep working; never the secret itself.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretHash {
    key_version: u8,
    hash: [u8; 32],
}

impl SecretHash {
    /// Text form: `v<key version>:<64 hex digits>`.
    pub fn to_text(&self) -> String {
        format!("v{}:{}", self.key_version, hex(&self.hash))
    }

    /// Parses [`SecretHash::to_text`]'s form.
    pub fn from_text(text: &str) -> Result<SecretHash> {
        let bad = || Error::InvalidArgument("a secret hash is v<version>:<64 hex digits>".into());
        let (v, h) = text
            .strip_prefix('v')
            .and_then(|t| t.split_once(':'))
            .ok_or_else(bad)?;
        if !v.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        let key_version = v.parse().map_err(|_| bad())?;
        let hash = unhex::<32>(h).ok_or_else(bad)?;
        Ok(SecretHash { key_version, hash })
    }
}

impl fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretHash(v{}, redacted)", self.key_version)
    }
}

/// One token of an export: its record and the hash of its secret.
#[derive(Debug, Clone)]
pub struct ExportedToken {
    /// The record.
    pub record: Record,
    /// The hash of its secret.
    pub secret_hash: SecretHash,
}

/// What an import needs besides the tokens: the store key that the secret hashes depend on.
/// Treat an export like the store file itself.
pub struct ExportHeader {
    store_key: StoreKey,
    hash_mode: u8,
    key_check: [u8; 16],
    /// Every `revoke_issued_before` cutoff, so that an import does not bring back what they
    /// revoked.
    epochs: Vec<(String, Timestamp)>,
    /// The sequence number of the exported store's last audit event: the imported store's
    /// events come after it, so that a reader's cursor goes on.
    events_seq: u64,
}

impl ExportHeader {
    /// Whether the exported store used a pepper (the import must be given the same one).
    pub fn peppered(&self) -> bool {
        self.hash_mode == 1
    }

    /// Text form: `<hash mode>:<store key, 64 hex digits>:<key check, 32 hex digits>`, then,
    /// if the store has `revoke_issued_before` cutoffs or audit events,
    /// `:<hex of "scope<TAB>ms" lines>` (maybe empty), then, if it has audit events,
    /// `:<sequence number of the last one>`.
    pub fn to_text(&self) -> String {
        let mut text = format!(
            "{}:{}:{}",
            self.hash_mode,
            hex(&self.store_key.0),
            hex(&self.key_check)
        );
        if !self.epochs.is_empty() || self.events_seq > 0 {
            let lines: String = self
                .epochs
                .iter()
                .map(|(k, t)| format!("{k}\t{}\n", t.as_unix_millis()))
                .collect();
            text.push(':');
            text.push_str(&hex(lines.as_bytes()));
        }
        if self.events_seq > 0 {
            text.push_str(&format!(":{}", self.events_seq));
        }
        text
    }

    /// The sequence number of the exported store's last audit event (0: none); the imported
    /// store's events follow it.
    pub fn events_seq(&self) -> u64 {
        self.events_seq
    }

    /// The `revoke_issued_before` cutoffs the export carries (scope key, instant). Another
    /// thread, or in the multi-process mode another process, may raise one between this header
    /// and [`Store::export`]: read the header again after the export, and start over if its
    /// cutoffs differ (the command-line tool does).
    pub fn cutoffs(&self) -> &[(String, Timestamp)] {
        &self.epochs
    }

    /// Parses [`ExportHeader::to_text`]'s form.
    pub fn from_text(text: &str) -> Result<ExportHeader> {
        let bad = || {
            Error::InvalidArgument(
                "an export header is <0|1>:<64 hex digits>:<32 hex digits>, then maybe \
                 :<hex digits> (cutoffs) and :<digits> (last event)"
                    .into(),
            )
        };
        let mut parts = text.split(':');
        let (Some(mode), Some(key), Some(check), epochs, events, None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(bad());
        };
        let epochs = match epochs {
            None => Vec::new(),
            Some(h) => parse_epochs(h).ok_or_else(bad)?,
        };
        let events_seq = match events {
            None => 0,
            // Sequence numbers go on from it: one near the end of the range is a damaged line.
            Some(n) if n.bytes().all(|b| b.is_ascii_digit()) => n
                .parse::<u64>()
                .ok()
                .filter(|&n| n <= MAX_EVENTS_SEQ)
                .ok_or_else(bad)?,
            Some(_) => return Err(bad()),
        };
        let hash_mode = match mode {
            "0" => 0,
            "1" => 1,
            _ => return Err(bad()),
        };
        let key = unhex::<32>(key).ok_or_else(bad)?;
        let key_check = unhex::<16>(check).ok_or_else(bad)?;
        Ok(ExportHeader {
            store_key: StoreKey(key),
            hash_mode,
            key_check,
            epochs,
            events_seq,
        })
    }
}

impl fmt::Debug for ExportHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ExportHeader(mode {}, key redacted)", self.hash_mode)
    }
}

fn parse_epochs(h: &str) -> Option<Vec<(String, Timestamp)>> {
    if !h.len().is_multiple_of(2) || !h.is_ascii() {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..h.len() / 2)
        .map(|i| u8::from_str_radix(&h[2 * i..2 * i + 2], 16).ok())
        .collect();
    let text = String::from_utf8(bytes?).ok()?;
    text.lines()
        .map(|line| {
            let (k, ms) = line.rsplit_once('\t')?;
            let ok = k == "*" || k.starts_with("s:") || k.starts_with("t:");
            ok.then_some(())?;
            Some((k.to_owned(), Timestamp::from_unix_millis(ms.parse().ok()?)))
        })
        .collect()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex<const N: usize>(s: &str) -> Option<[u8; N]> {
    // `from_str_radix` alone would take "+a" for 0x0a: every character must be a hex digit.
    if s.len() != 2 * N || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let mut out = [0u8; N];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// The largest last-event number an export header may carry (`i64::MAX`: a store's events
/// can never come near it).
const MAX_EVENTS_SEQ: u64 = i64::MAX as u64;

/// Rows copied per write transaction by a backup or an import.
const COPY_BATCH: usize = 20_000;

impl Store {
    /// The header an import of this store's export needs.
    pub fn export_header(&self) -> Result<ExportHeader> {
        self.call(|inner| {
            inner.settle()?;
            let db = inner.db.read();
            let (store_key, hash_mode, key_check) = schema::key_material(&db)?;
            let tx = db.begin_read()?;
            let epochs = ReadTables::new(&tx, &inner.sets)?.all_epochs()?;
            // The last event, or where this store's events start if it has none yet (an
            // imported store exported again: its readers' cursors go on).
            let events_seq = {
                let events = tx.open_table(schema::EVENTS)?;
                let last = redb::ReadableTable::last(&events)?;
                let base = schema::events_base(&tx.open_table(schema::META)?)?;
                last.map_or(0, |(k, _)| k.value()).max(base)
            };
            Ok(ExportHeader {
                store_key,
                hash_mode,
                key_check,
                epochs,
                events_seq,
            })
        })
    }

    /// Calls `sink` with every stored token (live, expired and revoked), from one consistent
    /// snapshot. Returns how many were exported.
    ///
    /// The snapshot holds the database's lock shared until the export ends: a compaction or an
    /// integrity check waits for it, and writers wait behind them. The sink must not call this
    /// store (with a compaction waiting, such a call could wait for ever); write the rows
    /// somewhere and act on them afterwards.
    pub fn export(&self, mut sink: impl FnMut(ExportedToken) -> Result<()>) -> Result<u64> {
        self.call(|inner| {
            inner.flush_uses()?;
            inner.settle()?;
            let db = inner.db.read();
            let tx = db.begin_read()?;
            let tables = ReadTables::new(&tx, &inner.sets)?;
            let mut after = None;
            let mut n = 0;
            loop {
                let batch = tables.all(after, 10_000)?;
                let Some(last) = batch.last() else { break };
                after = Some(last.record.id);
                for s in batch {
                    sink(ExportedToken {
                        secret_hash: SecretHash {
                            key_version: s.key_version,
                            hash: s.hash,
                        },
                        record: s.record,
                    })?;
                    n += 1;
                }
            }
            Ok(n)
        })
    }

    /// Creates a new store at `path` (which must not exist) from an export, and returns it with
    /// the number of tokens imported. The exported tokens keep working: give the same pepper if
    /// the export came from a peppered store. An import that fails removes the store it created
    /// (and never a file it did not create, such as one another process created meanwhile);
    /// one killed halfway leaves a file that does not open ([`Error::NotAStore`]: remove it and
    /// import again).
    pub fn import(
        path: impl AsRef<Path>,
        options: Options,
        header: &ExportHeader,
        tokens: impl IntoIterator<Item = Result<ExportedToken>>,
    ) -> Result<(Store, u64)> {
        let path = path.as_ref();
        if path.exists() {
            return Err(Error::InvalidArgument(format!(
                "{} exists; an import creates a new store",
                path.display()
            )));
        }
        if header.peppered() != options.pepper.is_some() {
            return Err(Error::Pepper(if header.peppered() {
                "the export comes from a peppered store: give the same pepper".into()
            } else {
                "the export comes from a store without pepper: give none".into()
            }));
        }
        options.validate()?;
        {
            let db = schema::open_database(Some(path), &options)?;
            // A journal left here by an import killed halfway whose store was then deleted.
            crate::journal::Journal::remove_if_new(path, &db)?;
            // An error here (the store exists: another process made it meanwhile) leaves it.
            schema::prepare_with(&db, &options, Some(&header.store_key))?;
            if header.events_seq > 0 {
                if let Err(e) = schema::set_events_base(&db, header.events_seq) {
                    drop(db);
                    let _ = std::fs::remove_file(path);
                    return Err(e);
                }
            }
        }
        // The store is this import's from here on: if anything fails, it goes.
        let imported = Self::fill(path, &options, header, tokens);
        if imported.is_err() {
            let _ = std::fs::remove_file(path);
            let _ = crate::journal::Journal::remove_stale(path);
        }
        let n = imported?;
        // Complete: another process may have opened it already, and a failure to open it here
        // leaves it.
        Ok((Store::open(path, options)?, n))
    }

    /// Fills the store an import created.
    fn fill(
        path: &Path,
        options: &Options,
        header: &ExportHeader,
        tokens: impl IntoIterator<Item = Result<ExportedToken>>,
    ) -> Result<u64> {
        {
            let db = schema::open_database(Some(path), options)?;
            if schema::key_material(&db)?.2 != header.key_check {
                return Err(Error::Pepper(
                    "the pepper does not match the one of the exported store".into(),
                ));
            }
        }
        // Filled with no sweeper (a purge meanwhile would find children whose parents have not
        // arrived yet), then marked complete and opened as the caller asked.
        let mut filling = options.clone();
        filling.importing = true;
        filling.sweep_interval = None;
        let store = Store::open(path, filling)?;
        let inner = store.checked()?;
        for (key, t) in &header.epochs {
            let (k, t) = (key.clone(), *t);
            inner.write(Commit::Durable, move |tx| tx.tables.raise_epoch(&k, t))?;
            inner.epochs.raise(key.clone(), t);
        }
        let mut n = 0u64;
        let mut batch = Vec::with_capacity(COPY_BATCH);
        let flush = |batch: &mut Vec<Stored>| -> Result<()> {
            let rows = std::mem::take(batch);
            inner.write(Commit::Durable, move |tx| {
                for s in &rows {
                    if tx.tables.get(&s.record.id)?.is_some() {
                        return Err(Error::InvalidArgument(format!(
                            "token {} appears twice in the export",
                            s.record.id
                        )));
                    }
                    tx.tables.put(None, s)?;
                    if let Some(parent) = s.record.parent {
                        // A cycle is found when its last token arrives (the others are
                        // stored): a revocation's cascade would never end.
                        if tx.line_ids(Some(parent))?.contains(&s.record.id) {
                            return Err(Error::InvalidArgument(format!(
                                "token {}: its parents lead back to it",
                                s.record.id
                            )));
                        }
                        tx.tables.add_child(&parent, &s.record.id)?;
                    }
                }
                Ok(())
            })
        };
        for t in tokens {
            let t = t?;
            check_imported(&t.record, inner.opts.max_metadata_len)?;
            if t.secret_hash.key_version != inner.key.version {
                // A hash made with another key never verifies here: refuse it rather than
                // import a token that can only answer "bad secret".
                return Err(Error::InvalidArgument(format!(
                    "token {}: its hash was made with key version {}, this store uses {}",
                    t.record.id, t.secret_hash.key_version, inner.key.version
                )));
            }
            batch.push(Stored {
                record: t.record,
                key_version: t.secret_hash.key_version,
                hash: t.secret_hash.hash,
            });
            n += 1;
            if batch.len() >= COPY_BATCH {
                flush(&mut batch)?;
            }
        }
        flush(&mut batch)?;
        store.close()?;
        schema::finish_import(&schema::open_database(Some(path), options)?)?;
        Ok(n)
    }

    /// Writes a consistent copy of the store to `out` (which must not exist), also while other
    /// processes use the store in the multi-process mode. Returns the number of tokens copied.
    ///
    /// The copy is written next to `out` under a temporary name (`<out>.partial-<pid>`, readable
    /// by its owner only: it holds the store's key) and appears at `out` only once complete and
    /// synced, without replacing a file that appeared there meanwhile (on a file system without
    /// hard links, where it is renamed into place once its name is seen free, a file created in
    /// that instant is replaced): an interrupted backup
    /// (a killed process, a power loss) never leaves at `out` a store that opens with part of
    /// the tokens. A backup that fails removes its temporary file; one that is killed leaves it.
    pub fn backup(&self, out: impl AsRef<Path>) -> Result<u64> {
        let out = out.as_ref();
        let exists = || {
            Error::InvalidArgument(format!(
                "{} exists; a backup writes a new file",
                out.display()
            ))
        };
        self.call(|inner| {
            if out.exists() {
                return Err(exists());
            }
            inner.flush_uses()?;
            inner.settle()?;
            let db = inner.db.read();
            let src = db.begin_read()?;
            let copied = crate::support::write_whole(
                out,
                |partial, _| {
                    let dst = redb::Database::create(partial)?;
                    let mut backup = Backup {
                        src: &src,
                        dst: &dst,
                        tokens: 0,
                    };
                    schema::each_table(&mut backup)?;
                    Ok(backup.tokens)
                },
                |step, e| match (step, e.kind()) {
                    (WholeFileStep::Create(partial), std::io::ErrorKind::AlreadyExists) => {
                        Error::InvalidArgument(format!(
                            "{} exists (a backup to {} is running or was interrupted)",
                            partial.display(),
                            out.display()
                        ))
                    }
                    (WholeFileStep::Place, std::io::ErrorKind::AlreadyExists) => exists(),
                    _ => Error::from(e),
                },
            );
            if copied.is_err() {
                // An input/output error of the copy's own database (a full disk at `out`) is not
                // one of this store's: it must not open its database again. One of a read of
                // this store's comes back at its next operation, which opens it again then.
                crate::error::take_engine_io();
            }
            copied
        })
    }

    /// Compacts the file: rewrites every table whose pages are less than 90 % used in key
    /// order, into full pages (one transaction, so a crash leaves the file as it was), then
    /// returns the free space to the file system. `Ok(false)` if there was nothing to do.
    ///
    /// Waits for running transactions and holds every reader and writer (verifies too: they
    /// wait) while it runs, about a second per million tokens: run it when the store is quiet; needs free disk space about the size of the largest
    /// table and the file not to be in use by another process.
    ///
    /// Full pages are the smallest file and the fewest pages per lookup, what a read-mostly
    /// store wants after an import or a purge; the first writes into a full page split it.
    pub fn compact(&self) -> Result<bool> {
        self.call(|inner| {
            inner.flush_uses()?;
            inner.checkpoint()?;
            // No batch may open a write transaction until the compaction is done.
            let mut pending = inner.pending.lock();
            inner.checkpoint_locked(&mut pending)?;
            let mut db = inner.db.write();
            inner.snapshots.clear();
            let tx = db.begin_write()?;
            let mut repack = Repack {
                tx: &tx,
                repacked: false,
            };
            schema::each_table(&mut repack)?;
            let repacked = repack.repacked;
            tx.commit()?;
            let compacted = db.compact()?;
            Ok(repacked || compacted)
        })
    }

    /// Checks the checksums of every page of the file. `Ok(false)`: damage was found and
    /// repaired (the latest commits may be lost); an error: the file cannot be read.
    pub fn check_integrity(&self) -> Result<bool> {
        self.call(|inner| {
            let mut pending = inner.pending.lock();
            inner.checkpoint_locked(&mut pending)?;
            let mut db = inner.db.write();
            inner.snapshots.clear();
            Ok(db.check_integrity()?)
        })
    }
}

/// The instants an imported record may hold: from 1970 to the end of year 9999 (what an issue
/// can produce, and what every layer can show).
const IMPORTED_TIMES: std::ops::RangeInclusive<i64> = 0..=Timestamp::MAX.as_unix_millis();

fn check_imported(r: &Record, max_metadata_len: usize) -> Result<()> {
    let bad = |what: &str| Err(Error::InvalidArgument(format!("token {}: {what}", r.id)));
    let times = [
        Some(r.created_at),
        r.family_created_at,
        r.expires_at,
        r.last_used_at,
        r.revoked.map(|v| v.at),
        r.successor.map(|s| s.at),
        r.successor.map(|s| s.grace_until),
    ];
    if times
        .into_iter()
        .flatten()
        .any(|t| !IMPORTED_TIMES.contains(&t.as_unix_millis()))
    {
        return bad("an instant before 1970 or after 9999");
    }
    if [r.idle_timeout, r.max_lifetime]
        .into_iter()
        .flatten()
        .any(|d| d.is_zero())
    {
        return bad("a duration of zero");
    }
    if r.max_uses == Some(0) {
        return bad("max_uses of zero");
    }
    if r.parent == Some(r.id) {
        return bad("its own parent");
    }
    if r.successor.is_some_and(|x| x.id == r.id) {
        return bad("its own successor");
    }
    if r.metadata.len() > max_metadata_len {
        return bad("metadata longer than this store allows");
    }
    check_name("tenant", &r.tenant, true)?;
    if let Some(s) = &r.subject {
        check_name("subject", s, r.kind == Kind::ApiKey)?;
    } else if r.kind == Kind::Session {
        return Err(Error::InvalidArgument(format!(
            "token {}: a session needs a subject",
            r.id
        )));
    }
    if let Some(l) = &r.label {
        check_name("label", l, true)?;
    }
    if r.scopes.len() > MAX_SCOPES {
        return Err(Error::InvalidArgument(format!(
            "token {}: bad scopes",
            r.id
        )));
    }
    Ok(())
}

/// Gives the complete file `partial` the name `out`, never replacing a file there: a hard link
/// (which fails if `out` exists; a rename would replace it), or, on a file system without hard
/// links, a rename once `out` is seen free. After a link, `partial` is left to the caller.
pub(crate) fn put_in_place(partial: &Path, out: &Path) -> std::io::Result<()> {
    match std::fs::hard_link(partial, out) {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists && !out.exists() => {
            std::fs::rename(partial, out)
        }
        other => other,
    }
}

/// Copies every table from a read snapshot into another database, in batches.
struct Backup<'a> {
    src: &'a redb::ReadTransaction,
    dst: &'a redb::Database,
    /// The rows of the tokens table.
    tokens: u64,
}

impl EachTable for Backup<'_> {
    fn table<K: redb::Key + 'static, V: redb::Value + 'static>(
        &mut self,
        def: TableDefinition<'static, K, V>,
    ) -> Result<()> {
        let table = self.src.open_table(def)?;
        let mut rows = table.iter()?;
        let mut n = 0u64;
        loop {
            let tx = self.dst.begin_write()?;
            let copied = append_rows(&mut tx.open_table(def)?, rows.by_ref().take(COPY_BATCH))?;
            tx.commit()?;
            n += copied;
            if copied < COPY_BATCH as u64 {
                break;
            }
        }
        if def.name() == TOKENS.name() {
            self.tokens = n;
        }
        Ok(())
    }
}

/// Rewrites the tables whose leaves are less than [`REPACK_BELOW`] full into packed ones.
struct Repack<'a> {
    tx: &'a redb::WriteTransaction,
    repacked: bool,
}

/// A table whose leaves hold less than this share of row bytes is repacked by a compaction.
/// B-trees filled in random key order settle near 70 %; packed ones are near 100 %.
const REPACK_BELOW: f64 = 0.9;

/// ... and whose free space in its pages is at least this much (16 pages).
const REPACK_MIN_GAIN: u64 = 64 * 1024;

impl EachTable for Repack<'_> {
    fn table<K: redb::Key + 'static, V: redb::Value + 'static>(
        &mut self,
        def: TableDefinition<'static, K, V>,
    ) -> Result<()> {
        let new_name = format!("{}~packed", def.name());
        let new = TableDefinition::<K, V>::new(&new_name);
        {
            let old = self.tx.open_table(def)?;
            let stats = old.stats()?;
            let used = stats.stored_bytes() + stats.metadata_bytes();
            let free = stats.fragmented_bytes();
            // A small table (one page holding a few rows) has nothing to gain.
            if free < REPACK_MIN_GAIN || used as f64 >= REPACK_BELOW * (used + free) as f64 {
                return Ok(());
            }
            append_rows(&mut self.tx.open_table(new)?, old.iter()?)?;
        }
        self.tx.delete_table(def)?;
        self.tx.rename_table(new, def)?;
        self.repacked = true;
        Ok(())
    }
}

/// Appends rows in ascending key order after the last row of `out` through a cursor, which
/// packs them into full leaves (row-by-row inserts would split leaves in halves). Returns how
/// many were appended.
fn append_rows<'r, K, V>(
    out: &mut redb::Table<'_, K, V>,
    rows: impl Iterator<
        Item = std::result::Result<
            (redb::AccessGuard<'r, K>, redb::AccessGuard<'r, V>),
            redb::StorageError,
        >,
    >,
) -> Result<u64>
where
    K: redb::Key + 'static,
    V: redb::Value + 'static,
{
    let mut cursor = out.upper_bound_mut(std::ops::Bound::<K::SelfType<'_>>::Unbounded)?;
    let mut n = 0u64;
    for row in rows {
        let (k, v) = row?;
        cursor.insert_before(k.value(), v.value())?;
        n += 1;
    }
    cursor.close()?;
    Ok(n)
}
