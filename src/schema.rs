//! The schema: tables, meta keys, versions, and opening or creating a store file.
//!
//! | table | key | value |
//! |---|---|---|
//! | `tokens` | id (16 bytes) | the encoded [`crate::Record`] with the hash of its secret |
//! | `by_subject` | hash of the subject (8) + id (16) | nothing |
//! | `by_tenant` | hash of the tenant (8) + id (16) | nothing |
//! | `by_deadline` | purge deadline in ms, big-endian (8) + id (16) | nothing |
//! | `children` | parent id (16) + child id (16) | nothing |
//! | `epochs` | `*`, `s:<subject>` or `t:<tenant>` | revoke everything issued before (ms) |
//! | `cleanup` | an epoch's key | where the purge is in removing the rows it killed |
//! | `events` | sequence number | an encoded audit event |
//! | `scope_sets` | keyed hash of a scope string (8) | the scope string (see `storage::ScopeSets`) |
//! | `meta` | name | value |
//!
//! Index keys are fixed-width: names are reduced to 64-bit hashes and the record is read to
//! rule out the (negligible) collisions. Every operation changes a token's row and its index
//! rows in one write transaction.

use std::ops::Bound;
use std::path::Path;
use std::sync::Arc;

use redb::{
    Builder, ConcurrencyMode, Database, ReadableDatabase, ReadableTable, TableDefinition,
    TableError,
};

use crate::error::{Error, Result};
use crate::options::{Concurrency, Options};
use crate::token_text;

/// The schema version this library writes and understands. Version 2 added the `scope_sets`
/// table (records may refer to an interned scope set); a version 1 file is migrated when it is
/// opened, and a library that knows only version 1 refuses a version 2 file.
pub const SCHEMA_VERSION: u32 = 2;

pub(crate) const TOKENS: TableDefinition<&[u8; 16], &[u8]> = TableDefinition::new("tokens");
pub(crate) const BY_SUBJECT: TableDefinition<&[u8; 24], ()> = TableDefinition::new("by_subject");
pub(crate) const BY_TENANT: TableDefinition<&[u8; 24], ()> = TableDefinition::new("by_tenant");
pub(crate) const BY_DEADLINE: TableDefinition<&[u8; 24], ()> = TableDefinition::new("by_deadline");
pub(crate) const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
pub(crate) const CHILDREN: TableDefinition<&[u8; 32], ()> = TableDefinition::new("children");
pub(crate) const EPOCHS: TableDefinition<&str, i64> = TableDefinition::new("epochs");
pub(crate) const CLEANUP: TableDefinition<&str, &[u8]> = TableDefinition::new("cleanup");
pub(crate) const EVENTS: TableDefinition<u64, &[u8]> = TableDefinition::new("events");
/// Values are bytes, checked as UTF-8 when read (redb's `&str` would panic on a damaged row).
pub(crate) const SCOPE_SETS: TableDefinition<&[u8; 8], &[u8]> = TableDefinition::new("scope_sets");

const META_SCHEMA: &str = "schema_version";
const META_STORE_KEY: &str = "store_key";
const META_HASH_MODE: &str = "hash_mode";
const META_PEPPER_CHECK: &str = "pepper_check";

/// The first bytes of every redb file.
const REDB_MAGIC: [u8; 9] = [b'r', b'e', b'd', b'b', 0x1A, 0x0A, 0xA9, 0x0D, 0x0A];

/// The key secrets are hashed with, and the version recorded beside each hash.
pub(crate) struct HashKey {
    pub(crate) key: [u8; 32],
    pub(crate) version: u8,
}

impl Drop for HashKey {
    fn drop(&mut self) {
        token_text::wipe(&mut self.key);
    }
}

fn builder(opts: &Options) -> Builder {
    let mut builder = Builder::new();
    builder.set_cache_size(opts.cache_size);
    builder.set_concurrency_mode(match opts.concurrency {
        Concurrency::Exclusive => ConcurrencyMode::ExclusiveWriter,
        Concurrency::MultiProcess => ConcurrencyMode::MultiWriter,
    });
    builder
}

/// Opens (or creates) a database on a custom storage backend.
pub(crate) fn open_with_backend(
    backend: impl redb::StorageBackend,
    opts: &Options,
) -> Result<Database> {
    Ok(builder(opts).create_with_backend(backend)?)
}

/// A storage backend shared between the databases opened on it one after another (after an I/O
/// error, the store reopens its database on the same backend).
#[derive(Debug)]
pub(crate) struct Shared<B>(pub(crate) Arc<B>);

impl<B: redb::StorageBackend> redb::StorageBackend for Shared<B> {
    fn len(&self) -> std::result::Result<u64, std::io::Error> {
        self.0.len()
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> std::result::Result<(), std::io::Error> {
        self.0.read(offset, out)
    }

    fn set_len(&self, len: u64) -> std::result::Result<(), std::io::Error> {
        self.0.set_len(len)
    }

    fn sync_data(&self) -> std::result::Result<(), std::io::Error> {
        self.0.sync_data()
    }

    fn write(&self, offset: u64, data: &[u8]) -> std::result::Result<(), std::io::Error> {
        self.0.write(offset, data)
    }

    fn close(&self) -> std::result::Result<(), std::io::Error> {
        self.0.close()
    }

    fn try_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> LockResult<bool> {
        self.0.try_lock_range(start, end)
    }

    fn try_lock_shared_range(&self, start: Bound<u64>, end: Bound<u64>) -> LockResult<bool> {
        self.0.try_lock_shared_range(start, end)
    }

    fn lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> LockResult<()> {
        self.0.lock_range(start, end)
    }

    fn lock_shared_range(&self, start: Bound<u64>, end: Bound<u64>) -> LockResult<()> {
        self.0.lock_shared_range(start, end)
    }

    fn unlock_range(&self, start: Bound<u64>, end: Bound<u64>) -> LockResult<()> {
        self.0.unlock_range(start, end)
    }

    fn query_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> LockResult<bool> {
        self.0.query_lock_range(start, end)
    }
}

type LockResult<T> = std::result::Result<T, redb::BackendError>;

/// Opens (or creates) the redb database at `path`, or in memory.
pub(crate) fn open_database(path: Option<&Path>, opts: &Options) -> Result<Database> {
    let builder = builder(opts);
    let Some(path) = path else {
        return Ok(builder.create_with_backend(redb::backends::InMemoryBackend::new())?);
    };
    create_whole(path);
    // Where the file could not be made whole elsewhere, it is made here, owner-only as well,
    // before redb initialises it in place.
    match create_owner_only(path).map(drop) {
        Ok(()) => sync_dir_of(path).map_err(|e| Error::Io(format!("{}: {e}", path.display())))?,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(Error::Io(format!("{}: {e}", path.display()))),
    }
    check_magic(path)?;
    builder.create(path).map_err(|e| match Error::from(e) {
        Error::Corrupt(m) => Error::Corrupt(format!("{}: {m}", path.display())),
        Error::Locked(m) => Error::Locked(format!("{}: {m}", path.display())),
        other => other,
    })
}

/// Creates an empty redb file at `path` if there is none, under another name first, and links
/// it into place once redb has written it whole. redb writes its magic number last, so a process
/// killed while redb creates the file in place leaves a file that neither redb nor tessera will
/// open again; this way `path` either does not exist or is a whole database. If another process
/// links its file first, that one is used. Best effort: where the temporary file or the link
/// cannot be made (a file system without hard links), redb creates the file in place as before.
fn create_whole(path: &Path) {
    if !matches!(path.try_exists(), Ok(false)) {
        return;
    }
    let mut nonce = [0u8; 8];
    if getrandom::fill(&mut nonce).is_err() {
        return;
    }
    let mut name = path.as_os_str().to_owned();
    name.push(format!(
        ".creating-{}-{:016x}",
        std::process::id(),
        u64::from_le_bytes(nonce)
    ));
    let tmp = std::path::PathBuf::from(name);
    if create_owner_only(&tmp).is_ok() && Builder::new().create(&tmp).is_ok() {
        let linked = std::fs::hard_link(&tmp, path);
        if linked.is_ok() {
            let _ = sync_dir_of(path);
        }
    }
    let _ = std::fs::remove_file(&tmp);
}

/// Creates an empty file that only its owner may read and write (it will hold the store's
/// key: a new store, a backup, an export): redb then initialises a store in place. Fails if it
/// exists.
pub(crate) fn create_owner_only(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)
}

/// Writes the directory holding `path` to disk (the name of a file just created in it).
/// Only where directories can be synced (Unix); file systems that do not support it are left
/// alone, an I/O error is returned.
pub(crate) fn sync_dir_of(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        match std::fs::File::open(dir).and_then(|d| d.sync_all()) {
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::InvalidInput | std::io::ErrorKind::Unsupported
                ) =>
            {
                Ok(())
            }
            other => other,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = path;
        Ok(())
    }
}

/// Whether the database holds no store yet (nothing was ever committed to it).
pub(crate) fn is_new(db: &Database) -> Result<bool> {
    Ok(read_meta(db)?.is_none())
}

/// Present while an import fills a new store: a store whose import did not finish (killed
/// halfway) does not open as if it were complete.
const META_IMPORTING: &str = "importing";

/// Marks the store an import filled as complete, durably.
pub(crate) fn finish_import(db: &Database) -> Result<()> {
    let mut tx = db.begin_write()?;
    tx.set_durability(redb::Durability::Immediate)?;
    tx.open_table(META)?.remove(META_IMPORTING)?;
    tx.commit()?;
    Ok(())
}

/// Where a store's audit events start: after the last event of the store it was imported from
/// (0: at 1).
const META_EVENTS_BASE: &str = "events_base";

/// The sequence number the events of this store follow (see [`set_events_base`]).
pub(crate) fn events_base(
    meta: &impl redb::ReadableTable<&'static str, &'static [u8]>,
) -> Result<u64> {
    meta_u64(meta, META_EVENTS_BASE)
}

/// A little-endian `u64` of the `meta` table (0 if absent).
pub(crate) fn meta_u64(
    meta: &impl redb::ReadableTable<&'static str, &'static [u8]>,
    key: &str,
) -> Result<u64> {
    let v = meta.get(key)?;
    Ok(v.and_then(|v| <[u8; 8]>::try_from(v.value()).ok())
        .map_or(0, u64::from_le_bytes))
}

/// Makes a new store's audit events continue after `base` (an import), durably.
pub(crate) fn set_events_base(db: &Database, base: u64) -> Result<()> {
    let mut tx = db.begin_write()?;
    tx.set_durability(redb::Durability::Immediate)?;
    tx.open_table(META)?
        .insert(META_EVENTS_BASE, base.to_le_bytes().as_slice())?;
    tx.commit()?;
    Ok(())
}

/// Refuses a non-empty file that is not a redb database before the engine sees it.
fn check_magic(path: &Path) -> Result<()> {
    use std::io::Read;
    // Another process may be creating the file right now (the multi-process mode): while its
    // first bytes are zeros or a prefix of the magic number, wait for them (up to 2 s).
    for _ in 0..200 {
        let mut file = match std::fs::File::open(path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(Error::Io(format!("{}: {e}", path.display()))),
        };
        let mut head = Vec::with_capacity(REDB_MAGIC.len());
        (&mut file)
            .take(REDB_MAGIC.len() as u64)
            .read_to_end(&mut head)
            .map_err(|e| Error::Io(format!("{}: {e}", path.display())))?;
        if head.is_empty() || head == REDB_MAGIC {
            return Ok(());
        }
        let being_created = REDB_MAGIC.starts_with(&head) || head.iter().all(|&b| b == 0);
        if !being_created {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    Err(Error::NotAStore(format!(
        "{} is not a database file of this storage engine",
        path.display()
    )))
}

/// Checks the meta table of an opened database, creating the schema in an empty one, and returns
/// the hash key.
pub(crate) fn prepare(db: &Database, opts: &Options) -> Result<HashKey> {
    prepare_with(db, opts, None)
}

/// Like [`prepare`]; a new store takes `store_key` (an import keeps its tokens' hashes valid)
/// or draws a fresh one. Returns `Error::InvalidArgument` if `store_key` is given and the store
/// already exists.
pub(crate) fn prepare_with(
    db: &Database,
    opts: &Options,
    store_key: Option<&StoreKey>,
) -> Result<HashKey> {
    if let Some(meta) = read_meta(db)? {
        if store_key.is_some() {
            return Err(Error::InvalidArgument(
                "an import needs a new, empty store file".into(),
            ));
        }
        if meta.importing && !opts.importing {
            return Err(Error::NotAStore(
                "an import into this file did not finish: remove it and import again".into(),
            ));
        }
        // The key first: a wrong pepper must leave an older file as it was.
        let schema = meta.schema;
        let key = meta.into_key(opts)?;
        if schema < SCHEMA_VERSION {
            migrate(db)?;
        }
        return Ok(key);
    }
    let tx = db.begin_write()?;
    let existing = {
        let meta = tx.open_table(META)?;
        let found = meta.get(META_SCHEMA)?.is_some();
        drop(meta);
        found
    };
    if !existing {
        let others = tx
            .list_tables()?
            .filter(|t| redb::TableHandle::name(t) != "meta")
            .count();
        if others > 0 {
            return Err(Error::NotAStore(
                "the file is a database of the same engine, but not a tessera store".into(),
            ));
        }
        let store_key_given = store_key.is_some();
        let mut store_key = match store_key {
            Some(k) => k.0,
            None => {
                let mut k = [0u8; 32];
                getrandom::fill(&mut k)?;
                k
            }
        };
        let mode = u8::from(opts.pepper.is_some());
        let key = derive_key(&store_key, opts);
        {
            let mut meta = tx.open_table(META)?;
            meta.insert(META_SCHEMA, SCHEMA_VERSION.to_le_bytes().as_slice())?;
            meta.insert(META_STORE_KEY, store_key.as_slice())?;
            meta.insert(META_HASH_MODE, [mode].as_slice())?;
            meta.insert(META_PEPPER_CHECK, pepper_check(&key.key).as_slice())?;
            // A store made for an import is not complete until the import says so.
            if store_key_given {
                meta.insert(META_IMPORTING, [1u8].as_slice())?;
            }
        }
        each_table(&mut Create(&tx))?;
        token_text::wipe(&mut store_key);
    }
    tx.commit()?;
    read_meta(db)?
        .ok_or_else(|| Error::Internal("the schema was written but cannot be read".into()))?
        .into_key(opts)
}

/// Brings a file of an older schema version to this one, in one transaction (another process
/// may be doing the same: the second finds nothing to do).
fn migrate(db: &Database) -> Result<()> {
    let tx = db.begin_write()?;
    {
        let mut meta = tx.open_table(META)?;
        // Version 1 -> 2: the scope set table.
        tx.open_table(SCOPE_SETS)?;
        meta.insert(META_SCHEMA, SCHEMA_VERSION.to_le_bytes().as_slice())?;
    }
    tx.commit()?;
    Ok(())
}

/// Something done to every table of the schema, whatever its key and value types.
pub(crate) trait EachTable {
    /// Does it to one table.
    fn table<K: redb::Key + 'static, V: redb::Value + 'static>(
        &mut self,
        def: TableDefinition<'static, K, V>,
    ) -> Result<()>;
}

/// Runs `op` on every table of the schema: meta first, tokens last.
pub(crate) fn each_table(op: &mut impl EachTable) -> Result<()> {
    op.table(META)?;
    op.table(BY_SUBJECT)?;
    op.table(BY_TENANT)?;
    op.table(BY_DEADLINE)?;
    op.table(CHILDREN)?;
    op.table(EPOCHS)?;
    op.table(CLEANUP)?;
    op.table(EVENTS)?;
    op.table(SCOPE_SETS)?;
    op.table(TOKENS)
}

/// Creates the tables of a new store.
struct Create<'a>(&'a redb::WriteTransaction);

impl EachTable for Create<'_> {
    fn table<K: redb::Key + 'static, V: redb::Value + 'static>(
        &mut self,
        def: TableDefinition<'static, K, V>,
    ) -> Result<()> {
        self.0.open_table(def)?;
        Ok(())
    }
}

/// The per-store random key from which the secret-hash key is derived.
pub(crate) struct StoreKey(pub(crate) [u8; 32]);

impl Drop for StoreKey {
    fn drop(&mut self) {
        token_text::wipe(&mut self.0);
    }
}

/// The store key, hash mode and key check of an opened store.
pub(crate) fn key_material(db: &Database) -> Result<(StoreKey, u8, [u8; 16])> {
    let meta = read_meta(db)?.ok_or_else(|| Error::Internal("the store has no meta".into()))?;
    Ok((StoreKey(meta.store_key), meta.hash_mode, meta.pepper_check))
}

struct Meta {
    schema: u32,
    store_key: [u8; 32],
    hash_mode: u8,
    pepper_check: [u8; 16],
    importing: bool,
}

impl Drop for Meta {
    fn drop(&mut self) {
        token_text::wipe(&mut self.store_key);
    }
}

fn read_meta(db: &Database) -> Result<Option<Meta>> {
    let tx = db.begin_read()?;
    let table = match tx.open_table(META) {
        Ok(t) => t,
        Err(TableError::TableDoesNotExist(_)) => {
            return if tx.list_tables()?.next().is_some() {
                Err(Error::NotAStore(
                    "the file is a database of the same engine, but not a tessera store".into(),
                ))
            } else {
                Ok(None)
            };
        }
        Err(e) => return Err(e.into()),
    };
    let get = |name: &str| -> Result<Option<Vec<u8>>> {
        Ok(table.get(name)?.map(|v| v.value().to_vec()))
    };
    let Some(schema) = get(META_SCHEMA)? else {
        return Ok(None);
    };
    let corrupt = |what: &str| Error::Corrupt(format!("meta table: {what}"));
    let schema = u32::from_le_bytes(
        schema
            .try_into()
            .map_err(|_| corrupt("bad schema version"))?,
    );
    if schema > SCHEMA_VERSION {
        return Err(Error::NewerSchema {
            found: schema,
            supported: SCHEMA_VERSION,
        });
    }
    let store_key: [u8; 32] = get(META_STORE_KEY)?
        .and_then(|v| v.try_into().ok())
        .ok_or_else(|| corrupt("missing store key"))?;
    let hash_mode = get(META_HASH_MODE)?
        .and_then(|v| v.first().copied())
        .ok_or_else(|| corrupt("missing hash mode"))?;
    let pepper_check: [u8; 16] = get(META_PEPPER_CHECK)?
        .and_then(|v| v.try_into().ok())
        .ok_or_else(|| corrupt("missing key check"))?;
    Ok(Some(Meta {
        schema,
        store_key,
        hash_mode,
        pepper_check,
        importing: get(META_IMPORTING)?.is_some(),
    }))
}

impl Meta {
    fn into_key(self, opts: &Options) -> Result<HashKey> {
        // An older file was migrated by `prepare_with`.
        debug_assert!(self.schema <= SCHEMA_VERSION);
        match (self.hash_mode, opts.pepper.is_some()) {
            (0, true) => {
                return Err(Error::Pepper(
                    "this store was created without a pepper; open it without one".into(),
                ))
            }
            (1, false) => {
                return Err(Error::Pepper(
                    "this store was created with a pepper; open it with the same pepper".into(),
                ))
            }
            (0 | 1, _) => {}
            (m, _) => return Err(Error::Corrupt(format!("meta table: unknown hash mode {m}"))),
        }
        let key = derive_key(&self.store_key, opts);
        if !constant_time_eq(&pepper_check(&key.key), &self.pepper_check) {
            return Err(Error::Pepper(
                "the pepper does not match the one this store was created with".into(),
            ));
        }
        Ok(key)
    }
}

fn derive_key(store_key: &[u8; 32], opts: &Options) -> HashKey {
    match &opts.pepper {
        None => HashKey {
            key: blake3::derive_key("tessera 2026-11 token secret hash v1", store_key),
            version: 1,
        },
        Some(p) => {
            let mut h = blake3::Hasher::new_derive_key("tessera 2026-11 token secret hash v2");
            h.update(store_key);
            h.update(p.bytes());
            HashKey {
                key: *h.finalize().as_bytes(),
                version: 2,
            }
        }
    }
}

fn pepper_check(key: &[u8; 32]) -> [u8; 16] {
    let h = blake3::keyed_hash(key, b"tessera key check");
    let mut out = [0u8; 16];
    out.copy_from_slice(&h.as_bytes()[..16]);
    out
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
