//! The [`Store`]: opening, sharing and closing a token store, and its public operations.

use std::fmt;
use std::mem::ManuallyDrop;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use crate::sync::{Condvar, Mutex, MutexGuard, RwLock};
use redb::{Database, ReadableDatabase};

use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::events::Event;
use crate::expiry::{Maintenance, PurgeBatch};
use crate::fork;
use crate::issue::{IssueRequest, Issued, Renewed};
use crate::journal::Journal;
use crate::lifecycle::{Child, MemEpochs, RevokeScope};
use crate::options::{Concurrency, Options};
use crate::record::{Kind, Record};
use crate::revoke::TokenRef;
use crate::schema::{self, HashKey};
use crate::storage::{Overlay, ReadTables, ScopeSets};
use crate::token_text::TokenId;
use crate::touch::Touches;
use crate::verify::{Outcome, Requirements, Snapshots};
use crate::write::{Commit, Pending, Writer};

/// An open token store. Cheap to clone (clones share one store) and safe to share between
/// threads. The store closes when its last clone is dropped or closed.
///
/// ```
/// use tessera::{IssueRequest, Options, Outcome, Store};
///
/// let store = Store::in_memory(Options::new())?;
/// let issued = store.issue(&IssueRequest::session("user-1"))?;
/// match store.verify(issued.token.as_str())? {
///     Outcome::Valid(record) => assert_eq!(record.subject.as_deref(), Some("user-1")),
///     Outcome::Invalid(why) => panic!("rejected: {why}"),
/// }
/// store.revoke(&issued.token)?;
/// assert!(!store.verify(issued.token.as_str())?.is_valid());
/// # Ok::<(), tessera::Error>(())
/// ```
#[derive(Clone)]
pub struct Store {
    pub(crate) inner: Arc<Inner>,
}

/// The shared state behind every clone of a [`Store`].
pub(crate) struct Inner {
    /// Not dropped in a forked child, whose copy must never touch the file. Transactions take
    /// the lock shared; compaction and the integrity check take it exclusively.
    pub(crate) db: ManuallyDrop<RwLock<Database>>,
    pub(crate) path: Option<PathBuf>,
    pub(crate) opts: Options,
    pub(crate) key: HashKey,
    /// Interned scope sets known to this process.
    pub(crate) sets: Arc<ScopeSets>,
    pub(crate) writer: Writer,
    pub(crate) touches: Touches,
    pub(crate) snapshots: ManuallyDrop<Snapshots>,
    pub(crate) maintenance: Maintenance,
    pub(crate) epochs: MemEpochs,
    /// The write journal (exclusive mode on a file only).
    pub(crate) journal: Option<Journal>,
    pub(crate) commits: AtomicU64,
    /// The write transaction kept open across journaled batches (see `write`). Not dropped in a
    /// forked child, like `db`.
    pub(crate) pending: ManuallyDrop<Mutex<Pending>>,
    /// Token rows of that transaction, for verify.
    pub(crate) overlay: Overlay,
    /// Opens the database again, on the same file or backend (after an I/O error, see
    /// `write`); none for a store in memory, which has nothing to open again.
    pub(crate) reopen: Option<Reopen>,
    /// Set while the database could not be opened again: operations try again first (at most
    /// once a second), and fail meanwhile.
    pub(crate) lost: AtomicBool,
    /// On a storage backend (no journal): a commit that was not durable (uses, eventual
    /// issues) happened since the last durable one. Its pages may be in redb's buffer only,
    /// until a durable commit (see `checkpoint`).
    pub(crate) unsynced: AtomicBool,
    fork_generation: u64,
}

/// How a store opens its database again.
pub(crate) struct Reopen {
    /// Whether the storage answers now (a read of the file's first bytes, a sync): no attempt is
    /// made while it does not. Probed at most once a second, like the attempts.
    pub(crate) probe: Box<dyn Fn() -> Result<()> + Send + Sync>,
    /// Opens it.
    pub(crate) open: Box<OpenFn>,
    /// When the storage was last probed: at most once a second (opening a large file that was
    /// not closed cleanly reads all of it).
    pub(crate) last: Mutex<Option<std::time::Instant>>,
}

/// Opens a database with the given options.
type OpenFn = dyn Fn(&Options) -> Result<Database> + Send + Sync;

impl Reopen {
    fn new(
        probe: impl Fn() -> Result<()> + Send + Sync + 'static,
        open: impl Fn(&Options) -> Result<Database> + Send + Sync + 'static,
    ) -> Reopen {
        Reopen {
            probe: Box::new(probe),
            open: Box::new(open),
            last: Mutex::new(None),
        }
    }
}

struct Entry {
    path: PathBuf,
    fork_generation: u64,
    store: Weak<Inner>,
}

/// Stores open in this process, by canonical path, so that a second open shares the first.
static OPEN: Mutex<Vec<Entry>> = Mutex::new(Vec::new());
/// Signalled when a store has closed and left `OPEN`.
static CLOSED: Condvar = Condvar::new();

thread_local! {
    /// The registry lock, held by the thread that forks from `prepare` to `parent`/`child`.
    static HELD_ACROSS_FORK: std::cell::RefCell<Option<MutexGuard<'static, Vec<Entry>>>> =
        const { std::cell::RefCell::new(None) };
}

/// Takes the registry lock before `fork()` (see `fork.rs`).
pub(crate) fn registry_before_fork() {
    let guard = OPEN.lock();
    HELD_ACROSS_FORK.with(|held| *held.borrow_mut() = Some(guard));
}

/// Releases the registry lock after `fork()`, in the parent and in the child (the same thread
/// runs the three handlers).
pub(crate) fn registry_after_fork() {
    HELD_ACROSS_FORK.with(|held| drop(held.borrow_mut().take()));
}

impl Store {
    /// Opens the store in the file at `path`, creating it if missing.
    ///
    /// Opening a path that is already open in this process returns the same store (an error if
    /// the options differ). The open runs under a process-wide lock, so that a second open of
    /// the same file finds the first: other opens, the close of a file's last handle and
    /// `fork()` (the `atfork` handler takes that lock) wait for it, seconds for the repair of a
    /// large file after a crash. Errors: [`Error::NotAStore`], [`Error::Corrupt`], [`Error::Locked`]
    /// (open in another process), [`Error::NewerSchema`], [`Error::Pepper`],
    /// [`Error::InvalidArgument`] for bad options, [`Error::OptionsConflict`] (the path is open
    /// in this process with other options), [`Error::Io`].
    pub fn open(path: impl AsRef<Path>, options: Options) -> Result<Store> {
        options.validate()?;
        fork::watch();
        let path = canonical(path.as_ref())?;
        let generation = fork::generation();
        let mine = |e: &Entry| e.path == path && e.fork_generation == generation;
        let mut open = OPEN.lock();
        // A store of this path whose last handle is going (its final flush and checkpoint run
        // on another thread) still holds the file: opening it now would find it locked by this
        // very process. Wait for it to close (bounded, should its close never come back).
        let waiting_since = std::time::Instant::now();
        while open.iter().any(|e| mine(e) && e.store.strong_count() == 0)
            && waiting_since.elapsed() < CLOSE_WAIT
        {
            open = CLOSED.wait_for(open, std::time::Duration::from_millis(50));
        }
        let existing = open
            .iter()
            .filter(|e| mine(e))
            .find_map(|e| e.store.upgrade());
        if let Some(inner) = existing {
            drop(open);
            // A close of the last other handle may have paused its background thread.
            inner.maintenance.resume_all();
            return match inner.opts.same_as(&options) {
                Ok(()) => Ok(Store { inner }),
                Err(why) => Err(Error::OptionsConflict(format!("{}: {why}", path.display()))),
            };
        }
        let inner = Arc::new(guarded(|| {
            let db = schema::open_database(Some(&path), &options)?;
            let (file, probed) = (path.clone(), path.clone());
            let reopen = Reopen::new(
                move || {
                    let mut head = [0u8; 512];
                    std::fs::File::open(&probed)
                        .and_then(|mut f| {
                            std::io::Read::read_exact(&mut f, &mut head)?;
                            f.sync_data()
                        })
                        .map_err(Error::from)
                },
                move |o| schema::open_database(Some(&file), o),
            );
            Inner::new(db, Some(path.clone()), options, Some(reopen))
        })?);
        open.push(Entry {
            path,
            fork_generation: generation,
            store: Arc::downgrade(&inner),
        });
        drop(open);
        Maintenance::start(&inner)?;
        Ok(Store { inner })
    }

    /// Opens a store on a custom redb storage backend: for tests of crash and fault behaviour
    /// (a backend that records writes, tears them, or fails them).
    ///
    /// After an I/O error that leaves the database unusable, the store opens it again on the
    /// same backend: the backend must then serve a new database after its `close`. Such a store
    /// keeps no journal, so what was committed without durability (recorded uses, issues with
    /// [`crate::IssueDurability::Eventual`]) goes with the old database, as in a crash.
    pub fn with_backend(backend: impl redb::StorageBackend, options: Options) -> Result<Store> {
        let backend = Arc::new(backend);
        let (shared, probed) = (backend.clone(), backend.clone());
        let reopen = Reopen::new(
            move || {
                let mut head = [0u8; 512];
                probed.read(0, &mut head)?;
                Ok(probed.sync_data()?)
            },
            move |o| schema::open_with_backend(schema::Shared(shared.clone()), o),
        );
        Store::unshared(
            options,
            |o| schema::open_with_backend(schema::Shared(backend), o),
            Some(reopen),
        )
    }

    /// Opens a store that lives in memory only, for tests and caches. Errors:
    /// [`Error::InvalidArgument`] for bad options, and for [`Concurrency::MultiProcess`] (a store
    /// in memory is this process's alone: each process would have its own).
    pub fn in_memory(options: Options) -> Result<Store> {
        if options.concurrency == Concurrency::MultiProcess {
            return Err(Error::InvalidArgument(
                "a store in memory is this process's alone: the multi-process mode needs a file \
                 (each process would have a store of its own)"
                    .into(),
            ));
        }
        Store::unshared(options, |o| schema::open_database(None, o), None)
    }

    /// A store without a path, so never shared by a second open.
    fn unshared(
        options: Options,
        open: impl FnOnce(&Options) -> Result<Database>,
        reopen: Option<Reopen>,
    ) -> Result<Store> {
        options.validate()?;
        fork::watch();
        let inner = Arc::new(guarded(|| {
            let db = open(&options)?;
            Inner::new(db, None, options, reopen)
        })?);
        Maintenance::start(&inner)?;
        Ok(Store { inner })
    }

    /// The shared state, unless this handle was inherited by a forked child.
    pub(crate) fn checked(&self) -> Result<&Inner> {
        self.inner()
    }

    /// Runs an operation on the shared state, once the database is open (after an I/O error
    /// that left it to be opened again, see `write`). A panic inside the storage engine (which
    /// a damaged file can cause) comes back as [`Error::Corrupt`] rather than unwinding into the
    /// host; nothing is lost by it, since a write either commits or does not.
    ///
    /// An operation that met an input/output error of the storage engine opens the database
    /// again before it returns (once the storage answers, at most once a second): redb latches
    /// a failed read as it does a failed write, and refuses every later access that misses its
    /// cache, so verifies would fail until some write happened to open it again.
    pub(crate) fn call<R>(&self, op: impl FnOnce(&Inner) -> Result<R>) -> Result<R> {
        let inner = self.inner()?;
        crate::error::take_engine_io();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            inner.usable()?;
            op(inner)
        }))
        .unwrap_or_else(|panic| Err(engine_panic(panic)));
        if result.is_err() && crate::error::take_engine_io() {
            // The operation's own error is what the caller sees; a failed attempt to open the
            // database again leaves the store to try again on the next operation (`lost`).
            let _ =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| inner.after_engine_io()));
        }
        result
    }

    fn inner(&self) -> Result<&Inner> {
        if self.inner.fork_generation != fork::generation() {
            return Err(Error::ForkedChild);
        }
        Ok(&self.inner)
    }

    /// Issues a token. The text in the result is the only copy of its secret.
    pub fn issue(&self, request: &IssueRequest) -> Result<Issued> {
        self.call(|inner| inner.issue(request))
    }

    /// Verifies a token text: an [`Outcome`] (never an error for a bad token; errors are storage
    /// faults). Malformed text is rejected without touching storage. Verifying most tokens
    /// writes nothing: uses (`last_used_at`, idle extensions) are recorded in memory and written
    /// in batches. Two cases write to the file, durably, before the answer: a use of a
    /// limited-use token is counted, and a rotated token presented after its grace window
    /// revokes its whole family ([`crate::Rejection::ReuseDetected`]).
    pub fn verify(&self, token: impl AsRef<[u8]>) -> Result<Outcome> {
        self.verify_text(token.as_ref(), &Requirements::new())
    }

    /// Verifies a token text and checks the request's [`Requirements`] (tenant, scopes).
    /// Requirements that no token can meet are an [`Error::InvalidArgument`] (see
    /// [`Requirements::check`]), whatever the token.
    pub fn verify_with(
        &self,
        token: impl AsRef<[u8]>,
        requirements: &Requirements,
    ) -> Result<Outcome> {
        requirements.check()?;
        self.verify_text(token.as_ref(), requirements)
    }

    /// A malformed text is answered before `call`, so before any storage access: a store that
    /// lost its storage (and would answer an I/O error, or try to open the file again) still
    /// says `Malformed` of it.
    fn verify_text(&self, text: &[u8], requirements: &Requirements) -> Result<Outcome> {
        let parsed = match self.inner()?.parse(text) {
            Ok(p) => p,
            Err(r) => return Ok(Outcome::Invalid(r)),
        };
        self.call(|inner| inner.verify(&parsed, requirements))
    }

    /// Extends a live token's expiry to `now + extend_by`, never past `created_at +
    /// max_lifetime` (nor its parent's expiry) and never shorter than it was. Counts as a use.
    /// Errors: [`Error::Rejected`] if the token is not valid ([`crate::Rejection::ReuseDetected`]
    /// for the text of a rotated token after its grace window: the family is revoked, as at
    /// verify), [`Error::NotFound`] for an unknown id, [`Error::InvalidArgument`] for a token
    /// that never expires or that was rotated or rolled (renew its successor).
    pub fn renew<'a>(
        &self,
        token: impl Into<TokenRef<'a>>,
        extend_by: Duration,
    ) -> Result<Renewed> {
        self.call(|inner| inner.renew(token.into(), extend_by))
    }

    /// Revokes one token, by its text (a logout: the secret must match) or its id, with its
    /// descendants and, for a rotated session, every generation of it linked by rotations (a
    /// logout with an older generation's token ends the session; a rolled API key's old and new
    /// keys stay apart). Returns the number of tokens revoked (0 if it already was). Durable
    /// when it returns.
    pub fn revoke<'a>(&self, token: impl Into<TokenRef<'a>>) -> Result<usize> {
        self.call(|inner| inner.revoke(token.into()))
    }

    /// Revokes every token of `subject` not revoked yet (in every tenant, of both kinds: API
    /// keys issued with this subject too), with their descendants, except `except` if given
    /// ("log out my other devices": its ancestors and the generations rotated from it are kept
    /// too, since revoking one would end it, and so are the generations it was rotated from
    /// while inside their grace window, which requests in flight from that device still
    /// carry). Returns how many were revoked, counting tokens already past a deadline and not
    /// purged yet (they become tombstones).
    pub fn revoke_subject(&self, subject: &str, except: Option<TokenId>) -> Result<usize> {
        self.call(|inner| inner.revoke_subject(subject, except))
    }

    /// Revokes every token of `tenant` not revoked yet, with their descendants (in any
    /// tenant). Returns how many were revoked, counting tokens already past a deadline and not
    /// purged yet.
    pub fn revoke_tenant(&self, tenant: &str) -> Result<usize> {
        self.call(|inner| inner.revoke_tenant(tenant))
    }

    /// Issues a child of `parent` (which must be valid), possibly for another tenant. Its
    /// expiry is clamped to the parent's (reported in [`Child::clamped`]); revoking the parent
    /// revokes it, in the same transaction, and an epoch that kills the parent
    /// ([`Store::revoke_issued_before`]) kills it. A limited-use parent spends one use on each
    /// child; the text of a rotated parent after its grace window is a reuse (the family is
    /// revoked, [`Error::Rejected`] with [`crate::Rejection::ReuseDetected`]).
    pub fn issue_child<'a>(
        &self,
        parent: impl Into<TokenRef<'a>>,
        request: &IssueRequest,
    ) -> Result<Child> {
        self.call(|inner| inner.issue_child(parent.into(), request))
    }

    /// The tokens derived from `parent`, whatever their state, oldest first: issued from it,
    /// or handed to it by the purge (the children of its idle parent, or of a generation of its
    /// session, removed).
    pub fn children(&self, parent: TokenId) -> Result<Vec<Record>> {
        self.call(|inner| {
            inner.settle()?;
            let db = inner.db.read();
            let tx = db.begin_read()?;
            let tables = ReadTables::new(&tx, &inner.sets)?;
            let mut out = Vec::new();
            for id in tables.children_of(&parent)? {
                if let Some(s) = tables.get(&id)? {
                    out.push(s.record);
                }
            }
            out.sort_by_key(|r| (r.created_at, r.id));
            Ok(out)
        })
    }

    /// Rotates a token: returns its successor, in the same family. The old token keeps working
    /// for [`Options::rotation_grace`]; a retry inside that window returns the same successor.
    /// Presenting the old token after the window is reuse: the whole family is revoked and the
    /// answer is [`Error::Rejected`] with [`crate::Rejection::ReuseDetected`]. The successor of a
    /// child never outlives the parent. A limited-use token is not rotated
    /// ([`Error::InvalidArgument`]: its successor would start its uses again).
    pub fn rotate(&self, token: impl AsRef<[u8]>) -> Result<Issued> {
        self.call(|inner| inner.rotate(token.as_ref()))
    }

    /// Rolls an API key: a new key with the same tenant, subject, scopes and label, and a
    /// lifetime of its own that starts now: it expires as long after the roll as the old key
    /// did after its issue (renewals included), within the old key's `max_lifetime` counted
    /// from the roll. `max_lifetime` bounds each key, not a chain of rolls: whoever holds a
    /// key's text can roll it. The old key keeps working for `grace` (zero: none; a grace under
    /// a millisecond is refused, [`Error::InvalidArgument`]), then expires (renewing it is
    /// refused). A limited-use key is not rolled ([`Error::InvalidArgument`]).
    pub fn roll<'a>(&self, key: impl Into<TokenRef<'a>>, grace: Duration) -> Result<Issued> {
        self.call(|inner| inner.roll(key.into(), grace))
    }

    /// Revokes every token issued strictly before `before` in `scope`, in a constant number of
    /// writes ("sign out everywhere after a password change", "a key leaked yesterday"). A
    /// rotated session's later generation counts as issued when its first generation was
    /// ([`crate::Record::family_created_at`]: it continues that session); a rolled API key as
    /// issued when it was rolled (a new key). The
    /// dead rows are removed later by the purge, each with its descendants (children die with
    /// their parent). An instant in the future also revokes the
    /// tokens issued until then (to include those issued in the current millisecond, pass
    /// `now + 1 ms`): an issue before it succeeds with a token that verify already answers
    /// "revoked" (epochs never go back). An instant more than
    /// [`crate::MAX_CUTOFF_AHEAD`] (a day) past the store's clock is refused
    /// ([`Error::InvalidArgument`]: a unit mistake would revoke every token of the scope for
    /// ever), and so is one before [`crate::EARLIEST_CUTOFF`] (2000) while the store's clock
    /// is past it (a time in seconds read as milliseconds is in January 1970: it would revoke
    /// nothing). The command-line tool refuses future instants.
    pub fn revoke_issued_before(&self, scope: RevokeScope, before: Timestamp) -> Result<()> {
        self.call(|inner| inner.revoke_before(scope, before))
    }

    /// Audit events after the cursor `since` (0 for the oldest kept), at most `limit`, oldest
    /// first. Pass the last event's `seq` to read on.
    pub fn events(&self, since: u64, limit: usize) -> Result<Vec<Event>> {
        self.call(|inner| {
            inner.settle()?;
            let db = inner.db.read();
            let tx = db.begin_read()?;
            ReadTables::new(&tx, &inner.sets)?
                .events_after(since, limit)?
                .into_iter()
                .map(|(seq, bytes)| crate::events::decode(seq, &bytes))
                .collect()
        })
    }

    /// The record of a token by id, whatever its state (revoked, expired), if it is still stored.
    pub fn get(&self, id: TokenId) -> Result<Option<Record>> {
        self.call(|inner| {
            inner.settle()?;
            let db = inner.db.read();
            let tx = db.begin_read()?;
            let mut found = ReadTables::new(&tx, &inner.sets)?
                .get(&id)?
                .map(|s| s.record);
            if let Some(r) = &mut found {
                inner.merge_pending_use(r);
            }
            Ok(found)
        })
    }

    /// The state of a token by id now (live, expired or revoked, epochs included), without
    /// counting a use; `None` if no token has this id.
    pub fn state(&self, id: TokenId) -> Result<Option<TokenState>> {
        self.call(|inner| {
            inner.settle()?;
            let db = inner.db.read();
            let tx = db.begin_read()?;
            let tables = ReadTables::new(&tx, &inner.sets)?;
            let Some(s) = tables.get(&id)? else {
                return Ok(None);
            };
            let mut r = s.record;
            inner.merge_pending_use(&mut r);
            let now = inner.opts.clock.now();
            inner.state_of(&tables, &r, now).map(Some)
        })
    }

    /// The live tokens of `subject` (every tenant), oldest first: a "your devices" page.
    pub fn list_subject(&self, subject: &str) -> Result<Vec<Record>> {
        self.call(|inner| {
            inner.settle()?;
            let db = inner.db.read();
            let tx = db.begin_read()?;
            let tables = ReadTables::new(&tx, &inner.sets)?;
            let tokens = tables.of_subject(subject)?;
            inner.live_records(&tables, tokens.into_iter().map(|s| s.record), None)
        })
    }

    /// The live tokens of `tenant`, of one kind or all, oldest first.
    pub fn list_tenant(&self, tenant: &str, kind: Option<Kind>) -> Result<Vec<Record>> {
        self.call(|inner| {
            inner.settle()?;
            let db = inner.db.read();
            let tx = db.begin_read()?;
            let tables = ReadTables::new(&tx, &inner.sets)?;
            let tokens = tables.of_tenant(tenant)?;
            inner.live_records(&tables, tokens.into_iter().map(|s| s.record), kind)
        })
    }

    /// The live API keys of `tenant`, oldest first.
    pub fn list_api_keys(&self, tenant: &str) -> Result<Vec<Record>> {
        self.list_tenant(tenant, Some(Kind::ApiKey))
    }

    /// Removes one batch (at most [`Options::purge_batch`]) of expired tokens and of revoked
    /// tokens past their retention.
    pub fn purge_batch(&self) -> Result<PurgeBatch> {
        self.call(|inner| inner.purge_batch())
    }

    /// Removes every expired token (and revoked tokens past retention), batch by batch. Returns
    /// how many were removed.
    pub fn purge_expired(&self) -> Result<usize> {
        self.call(|inner| inner.purge_all())
    }

    /// Writes every use recorded by verify (`last_used_at`, idle extensions) before this call.
    pub fn flush(&self) -> Result<()> {
        self.call(|inner| inner.flush_uses())
    }

    /// Counts of the stored tokens, by kind, tenant and state. Reads every row: meant for
    /// operators, not for a request path.
    pub fn stats(&self) -> Result<Stats> {
        self.call(|inner| {
            let now = inner.opts.clock.now();
            inner.settle()?;
            let db = inner.db.read();
            let tx = db.begin_read()?;
            let tables = ReadTables::new(&tx, &inner.sets)?;
            let mut stats = Stats {
                schema_version: schema::SCHEMA_VERSION,
                file_bytes: match &inner.path {
                    Some(p) => std::fs::metadata(p)?.len(),
                    None => 0,
                },
                due_for_purge: tables.count_due(now, inner.opts.keep())? as u64,
                ..Stats::default()
            };
            let mut after = None;
            loop {
                let batch = tables.all(after, 10_000)?;
                let Some(last) = batch.last() else { break };
                after = Some(last.record.id);
                for s in &batch {
                    let mut r = s.record.clone();
                    inner.merge_pending_use(&mut r);
                    let state = inner.state_of(&tables, &r, now)?;
                    stats.add(&r, state);
                }
            }
            Ok(stats)
        })
    }

    /// The current time by the store's clock.
    pub fn now(&self) -> Timestamp {
        self.inner.opts.clock.now()
    }

    /// The file of the store, or `None` in memory.
    pub fn path(&self) -> Option<&Path> {
        self.inner.path.as_deref()
    }

    /// How many writes this process has made on this store (for measuring that verifies do not
    /// write): write batches journaled, and redb commits (a batch without a journal, a
    /// checkpoint). With a journal, a batch that changed nothing (a sweep with nothing due)
    /// writes nothing and is not counted.
    pub fn commits(&self) -> u64 {
        self.inner.commits.load(Ordering::Relaxed)
    }

    /// The last error of the background thread (flushing uses, sweeping), if one happened since
    /// the last call.
    pub fn background_error(&self) -> Option<Error> {
        self.inner.maintenance.take_error()
    }

    /// Closes this handle. If it is the last one, pending uses are written, every write is made
    /// durable (on a storage backend, which keeps no journal, also those committed without
    /// durability), the file is closed, and any error doing so
    /// is returned (dropping the last handle does the same but cannot report errors). Of
    /// handles closed at once on several threads, the last to close reports.
    pub fn close(self) -> Result<()> {
        // Closes go one at a time, each dropping its handle before the next one looks: of two
        // handles closed at once, the second finds its handle alone and reports what closing
        // the store met (each seeing the other's handle, neither did, and the store closed in
        // a drop).
        let turn = Arc::clone(&self.inner.maintenance.closing);
        let _turn = turn.lock();
        let result = self.call(|inner| {
            // The background thread holds the store while it works: wait for it, or this
            // handle would not look like the last one, and the store would close on that
            // thread after this call returned (the file still locked, errors lost).
            inner.maintenance.pause();
            if Arc::strong_count(&self.inner) == 1 {
                inner.flush_uses()?;
                inner.checkpoint()?;
            } else {
                inner.maintenance.resume();
            }
            Ok(())
        });
        drop(self);
        result
    }
}

impl Drop for Store {
    /// As [`Store::close`] without its errors: the last handle waits for the background thread
    /// to finish its round (a sweep stops between batches), so that the store closes here,
    /// not later on that thread with the file still locked.
    fn drop(&mut self) {
        let inner = &self.inner;
        if inner.fork_generation != fork::generation() {
            // A forked child's copy: no background thread runs here.
            return;
        }
        // Other handles remain (the thread holds at most one reference besides this one):
        // nothing to wait for, and a sweep under way goes on.
        if Arc::strong_count(inner) > 2 {
            return;
        }
        inner.maintenance.pause();
        if Arc::strong_count(inner) > 1 {
            inner.maintenance.resume();
        }
    }
}

/// Whether a stored token is usable, revoked, or past a deadline (expired, idle or used up).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum TokenState {
    /// Valid now.
    Live,
    /// Past its expiry, idle timeout or uses, or replaced by a rotation whose grace window is
    /// over (presenting it is a reuse).
    Expired,
    /// Revoked (kept until its retention ends).
    Revoked,
}

/// Counts of one group of tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    /// Valid now.
    pub live: u64,
    /// Past a deadline (or a generation rotated past its grace window), waiting for the purge.
    pub expired: u64,
    /// Revoked, kept as tombstones until their retention ends.
    pub revoked: u64,
}

impl Counts {
    fn add(&mut self, state: TokenState) {
        match state {
            TokenState::Live => self.live += 1,
            TokenState::Expired => self.expired += 1,
            TokenState::Revoked => self.revoked += 1,
        }
    }

    /// All of them.
    pub fn total(&self) -> u64 {
        self.live + self.expired + self.revoked
    }
}

/// What a store holds: see [`Store::stats`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Stats {
    /// The schema version of the file.
    pub schema_version: u32,
    /// Size of the file in bytes (0 in memory).
    pub file_bytes: u64,
    /// Every stored token.
    pub all: Counts,
    /// By kind.
    pub by_kind: std::collections::BTreeMap<Kind, Counts>,
    /// By tenant.
    pub by_tenant: std::collections::BTreeMap<String, Counts>,
    /// Rows the purge would remove now.
    pub due_for_purge: u64,
}

impl Stats {
    fn add(&mut self, r: &Record, state: TokenState) {
        self.all.add(state);
        self.by_kind.entry(r.kind).or_default().add(state);
        self.by_tenant
            .entry(r.tenant.clone())
            .or_default()
            .add(state);
    }
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.inner.path)
            .field("options", &self.inner.opts)
            .finish_non_exhaustive()
    }
}

impl Inner {
    fn new(
        db: Database,
        path: Option<PathBuf>,
        opts: Options,
        reopen: Option<Reopen>,
    ) -> Result<Inner> {
        if let Some(p) = &path {
            Journal::remove_if_new(p, &db)?;
        }
        let key = schema::prepare(&db, &opts)?;
        let journal = match (&path, opts.concurrency) {
            (Some(p), Concurrency::Exclusive) => Some(Journal::open(p, &db)?),
            (Some(p), Concurrency::MultiProcess) => {
                Journal::drain(p, &db)?;
                None
            }
            (None, _) => None,
        };
        let epochs = MemEpochs::default();
        let sets = Arc::new(ScopeSets::new(&key.key));
        {
            let tx = db.begin_read()?;
            epochs.load(ReadTables::new(&tx, &sets)?.all_epochs()?);
        }
        Ok(Inner {
            epochs,
            journal,
            db: ManuallyDrop::new(RwLock::new(db)),
            path,
            key,
            sets,
            writer: Writer::default(),
            touches: Touches::new(),
            snapshots: ManuallyDrop::new(Snapshots::new(opts.concurrency)),
            maintenance: Maintenance::new(),
            commits: AtomicU64::new(0),
            pending: ManuallyDrop::new(Mutex::new(Pending::default())),
            overlay: Overlay::default(),
            reopen,
            lost: AtomicBool::new(false),
            unsynced: AtomicBool::new(false),
            fork_generation: fork::generation(),
            opts,
        })
    }

    /// Shows a use recorded in memory but not yet written.
    fn merge_pending_use(&self, r: &mut Record) {
        if let Some(at) = self.touches.latest(&r.id) {
            if r.last_used_at.is_none_or(|t| t < at) {
                r.last_used_at = Some(at);
            }
        }
    }

    /// The state of a stored record now, epochs read from `tables`.
    fn state_of(&self, tables: &ReadTables, r: &Record, now: Timestamp) -> Result<TokenState> {
        if r.revoked.is_some() {
            return Ok(TokenState::Revoked);
        }
        let get = |id: &TokenId| Ok(tables.get(id)?.map(|s| s.record));
        match crate::lifecycle::line_of(r, now, get, |a| {
            crate::lifecycle::killed(a, |k| tables.epoch(k))
        })? {
            crate::lifecycle::Line::Alive => {}
            crate::lifecycle::Line::Revoked => return Ok(TokenState::Revoked),
            crate::lifecycle::Line::Expired => return Ok(TokenState::Expired),
        }
        // Replaced by a rotation, its grace over: presenting it is a reuse, not a live session
        // (a session rotated hourly is one device, not one per generation).
        if crate::lifecycle::rotated_out(r, now) {
            return Ok(TokenState::Expired);
        }
        Ok(match self.judge_state(r, now) {
            Ok(()) => TokenState::Live,
            Err(crate::Rejection::Revoked) => TokenState::Revoked,
            Err(_) => TokenState::Expired,
        })
    }

    fn live_records(
        &self,
        tables: &ReadTables,
        records: impl Iterator<Item = Record>,
        kind: Option<Kind>,
    ) -> Result<Vec<Record>> {
        let now = self.opts.clock.now();
        let mut out = Vec::new();
        for mut r in records.filter(|r| kind.is_none_or(|k| r.kind == k)) {
            self.merge_pending_use(&mut r);
            if self.state_of(tables, &r, now)? == TokenState::Live {
                out.push(r);
            }
        }
        out.sort_by_key(|r| (r.created_at, r.id));
        Ok(out)
    }

    /// Writes the uses pending when it is called. Bounded by what waits now: verifies on other
    /// threads add uses meanwhile, and under load the buffer may never be empty (a flush that
    /// waited for that held the background thread, and a close, forever). One round more than
    /// needed, since uses of idle-timeout tokens recorded meanwhile are taken first.
    pub(crate) fn flush_uses(&self) -> Result<()> {
        let rounds = self.touches.len().div_ceil(crate::write::USES_PER_FLUSH) + 1;
        for round in 0..rounds {
            // Nothing waits, but another thread's batch may be writing uses it took (from
            // before this call): one job more queues behind that batch, and returns once it
            // is over (an error of it puts them back, for this job to write or report).
            if self.touches.is_empty() && (round > 0 || !self.touches.writing()) {
                break;
            }
            self.write(Commit::Uses, |_| Ok(()))?;
        }
        Ok(())
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if self.fork_generation != fork::generation() {
            // A copy inherited by a forked child: the file and its locks belong to the parent.
            return;
        }
        self.maintenance.stop();
        // Writing on the way out must not turn a panic elsewhere (or a damaged file that makes
        // the storage engine panic) into an abort of the process.
        if !std::thread::panicking() {
            let closed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                self.flush_uses().and_then(|()| self.checkpoint())
            }));
            if let (Ok(Ok(())), Some(j)) = (closed, &self.journal) {
                j.remove();
            }
        }
        let mut open = OPEN.lock();
        // After the storage engine panicked (a damaged file), its own drop may panic again on a
        // poisoned lock: that must not reach the host. What it held is then leaked.
        let (pending, snapshots, db) = (&mut self.pending, &mut self.snapshots, &mut self.db);
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            // SAFETY: each field is dropped exactly once, here, and never used afterwards. An open
            // transaction left by a failed checkpoint goes before the database (what it held is in
            // the journal).
            unsafe {
                ManuallyDrop::drop(pending);
                ManuallyDrop::drop(snapshots);
                ManuallyDrop::drop(db);
            }
        }));
        open.retain(|e| e.store.strong_count() > 0);
        drop(open);
        CLOSED.notify_all();
    }
}

/// How long an open waits for a store of the same path that is closing on another thread.
const CLOSE_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// Runs an open, turning a panic of the storage engine on a damaged file into an error.
pub(crate) fn guarded<T>(open: impl FnOnce() -> Result<T>) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(open))
        .unwrap_or_else(|panic| Err(engine_panic(panic)))
}

/// The error for a panic caught from the storage engine.
fn engine_panic(panic: Box<dyn std::any::Any + Send>) -> Error {
    let what = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic".into());
    Error::Corrupt(format!("the storage engine failed on this file ({what})"))
}

/// The canonical form of a store path whose file may not exist yet.
fn canonical(path: &Path) -> Result<PathBuf> {
    match std::fs::canonicalize(path) {
        Ok(p) => Ok(p),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let name = path.file_name().ok_or_else(|| {
                Error::InvalidArgument(format!("{} does not name a file", path.display()))
            })?;
            let parent = match path.parent() {
                Some(p) if !p.as_os_str().is_empty() => p,
                _ => Path::new("."),
            };
            let dir = std::fs::canonicalize(parent)
                .map_err(|e| Error::Io(format!("{}: {e}", parent.display())))?;
            Ok(dir.join(name))
        }
        Err(e) => Err(Error::Io(format!("{}: {e}", path.display()))),
    }
}
