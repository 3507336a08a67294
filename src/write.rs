//! The write path: every change is a job run inside a write transaction, and concurrent jobs are
//! batched into one commit (group commit), so that throughput grows with the number of writers
//! while each caller still returns only once its change is committed.
//!
//! The first caller to find no batch running leads: it takes every queued job, runs them in one
//! transaction, commits, wakes their callers, and hands the lead to the first job that queued
//! meanwhile. A job that fails is taken out and the batch re-run without it, so one bad request
//! never spoils the others' transaction. Pending uses recorded by verify (see `touch`) ride along
//! with flush batches only.
//!
//! With a journal (the exclusive mode on a file), the write transaction stays open across
//! batches: a batch applies its jobs to it, appends their rows to the journal (whose `fdatasync`
//! makes them durable) and returns, and redb commits only at a checkpoint or when a reader other
//! than verify needs the file current (`settle`). Verify sees the uncommitted token rows through
//! the overlay (`storage::Overlay`). A per-batch redb commit cost about a third of a durable
//! write at 1,000,000 tokens (CPU per durable issue 170 µs with it, 110 µs without). If the open
//! transaction has to be dropped (a job failed halfway), a fresh one gets the journaled batches
//! it held applied again before the next batch runs.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::sync::{Condvar, Mutex};
use redb::{Database, Durability, StorageError, TransactionError, WriteTransaction};
use std::sync::RwLockReadGuard;

use crate::clock::Timestamp;
use crate::error::{Error, Result};
use crate::journal::{self, Journal, Log};
use crate::options::{Concurrency, IssueDurability, Options};
use crate::storage::WriteTables;
use crate::store::Inner;
use crate::token_text::TokenId;
use crate::touch::Use;

/// What a job sees: the tables of the batch's transaction and the batch's time.
pub(crate) struct Tx<'a, 't> {
    pub(crate) tables: WriteTables<'t>,
    pub(crate) now: Timestamp,
    pub(crate) inner: &'a Inner,
}

type JobFn = Box<dyn FnMut(&mut Tx<'_, '_>) -> Result<()> + Send>;

/// How a job wants its commit.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Commit {
    /// Durable before the call returns (revocations, durable issue).
    Durable,
    /// Per the issue durability option.
    Issue,
    /// Writing pending uses: never forces durability of its own.
    Uses,
    /// A durable commit of the store file itself, emptying the journal.
    Checkpoint,
}

struct Job {
    run: JobFn,
    durable: bool,
    flush: bool,
    checkpoint: bool,
    done: Arc<Done>,
}

impl Drop for Job {
    /// A job dropped by a panic that unwound its batch outside the guarded transaction answers
    /// with an error: its writer must not wait for ever. (A job that was answered is dropped as
    /// soon as it is.)
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.done.set(Signal::Finished(Err(Error::Internal(
                "a write batch was interrupted by a panic; whether it was committed is unknown"
                    .into(),
            ))));
        }
    }
}

enum Signal {
    Waiting,
    Lead,
    Finished(Result<()>),
}

struct Done {
    signal: Mutex<Signal>,
    cv: Condvar,
}

impl Done {
    fn set(&self, s: Signal) {
        *self.signal.lock() = s;
        self.cv.notify_one();
    }

    /// Waits for a result or for the lead.
    fn wait(&self) -> Option<Result<()>> {
        let mut g = self.signal.lock();
        loop {
            match std::mem::replace(&mut *g, Signal::Waiting) {
                Signal::Waiting => g = self.cv.wait(g),
                Signal::Lead => return None,
                Signal::Finished(r) => return Some(r),
            }
        }
    }

    fn try_finished(&self) -> Option<Result<()>> {
        let mut g = self.signal.lock();
        match std::mem::replace(&mut *g, Signal::Waiting) {
            Signal::Finished(r) => Some(r),
            other => {
                *g = other;
                None
            }
        }
    }
}

#[derive(Default)]
struct Queue {
    jobs: Vec<Job>,
    leading: bool,
}

/// The group-commit queue.
#[derive(Default)]
pub(crate) struct Writer {
    queue: Mutex<Queue>,
}

/// The write transaction kept open across journaled batches, and the journaled changes it holds
/// (to apply again into a fresh transaction if it is dropped without a commit).
#[derive(Default)]
pub(crate) struct Pending {
    wtx: Option<WriteTransaction>,
    logs: Vec<Log>,
}

/// Pending uses written by one flush batch. Other batches write none: each use is a record in a
/// random place of the tree, and a few of them riding along with a durable issue or revocation
/// made that write cost a third more (scattered pages written with it).
pub(crate) const USES_PER_FLUSH: usize = 100_000;

impl Inner {
    /// Runs `f` in a write transaction and returns its result once committed.
    pub(crate) fn write<R: Send + 'static>(
        &self,
        commit: Commit,
        mut f: impl FnMut(&mut Tx<'_, '_>) -> Result<R> + Send + 'static,
    ) -> Result<R> {
        let out: Arc<Mutex<Option<R>>> = Arc::new(Mutex::new(None));
        let slot = out.clone();
        let run: JobFn = Box::new(move |tx| {
            let r = f(tx)?;
            *slot.lock() = Some(r);
            Ok(())
        });
        self.submit(run, commit)?;
        let r = out.lock().take();
        r.ok_or_else(|| Error::Internal("a committed job left no result".into()))
    }

    fn submit(&self, run: JobFn, commit: Commit) -> Result<()> {
        let durable = match commit {
            Commit::Durable => true,
            Commit::Issue => self.opts.durability == IssueDurability::Durable,
            Commit::Uses => false,
            Commit::Checkpoint => true,
        } || self.opts.concurrency == Concurrency::MultiProcess;
        let done = Arc::new(Done {
            signal: Mutex::new(Signal::Waiting),
            cv: Condvar::new(),
        });
        let lead = {
            let mut q = self.writer.queue.lock();
            q.jobs.push(Job {
                run,
                durable,
                flush: commit == Commit::Uses,
                checkpoint: commit == Commit::Checkpoint,
                done: done.clone(),
            });
            !std::mem::replace(&mut q.leading, true)
        };
        if !lead {
            if let Some(r) = done.wait() {
                return r;
            }
        }
        loop {
            let batch = std::mem::take(&mut self.writer.queue.lock().jobs);
            // A panic outside the guarded transaction (every job of the batch has answered
            // with an error, see `Job`'s drop) must not take the lead with it: the writers
            // queued behind would wait for ever.
            let _ = catch_unwind(AssertUnwindSafe(|| self.run_batch(batch)));
            if let Some(r) = done.try_finished() {
                let mut q = self.writer.queue.lock();
                match q.jobs.first() {
                    Some(next) => next.done.set(Signal::Lead),
                    None => q.leading = false,
                }
                return r;
            }
        }
    }

    fn run_batch(&self, jobs: Vec<Job>) {
        #[cfg(test)]
        if tests::PANIC_IN_BATCH.with(|p| p.replace(false)) {
            panic!("a panic outside the guarded transaction (test)");
        }
        // Checkpoint jobs (a purge batch, an explicit checkpoint) commit the file itself, with
        // nothing journaled: the others go first, journaled as usual, so that a checkpoint
        // whose commit fails fails only the jobs that asked for one.
        let (checkpoints, others): (Vec<Job>, Vec<Job>) =
            jobs.into_iter().partition(|j| j.checkpoint);
        for group in [others, checkpoints] {
            self.run_group(group);
        }
    }

    fn run_group(&self, mut jobs: Vec<Job>) {
        while !jobs.is_empty() {
            let durable = jobs.iter().any(|j| j.durable);
            let checkpoint = jobs.iter().any(|j| j.checkpoint);
            let uses = if jobs.iter().any(|j| j.flush) {
                self.touches.take(USES_PER_FLUSH)
            } else {
                Vec::new()
            };
            // A panic inside the storage engine (a damaged file) must not leave the writers
            // waiting on this batch: it fails the batch like any storage error.
            let attempt = catch_unwind(AssertUnwindSafe(|| {
                self.try_batch(&mut jobs, durable, checkpoint, &uses)
            }))
            .unwrap_or_else(|_| {
                Err(Error::Corrupt(
                    "the storage engine failed while writing (a damaged file?)".into(),
                ))
            });
            match attempt {
                Ok(None) => {
                    // With a journal, snapshots are dropped when redb commits (`committed`):
                    // until then verify finds the batch's rows in the overlay.
                    if self.journal.is_none() {
                        self.snapshots.clear();
                    }
                    // The uses written are in the overlay or committed: verify sees them there.
                    self.touches.settle(uses.len());
                    for j in jobs.drain(..) {
                        j.done.set(Signal::Finished(Ok(())));
                    }
                }
                Ok(Some((i, e))) => {
                    let n = uses.len();
                    self.touches.restore(uses);
                    self.touches.settle(n);
                    let j = jobs.remove(i);
                    j.done.set(Signal::Finished(Err(e)));
                }
                Err(e) => {
                    let n = uses.len();
                    self.touches.restore(uses);
                    self.touches.settle(n);
                    for j in jobs.drain(..) {
                        j.done.set(Signal::Finished(Err(e.clone())));
                    }
                }
            }
        }
    }

    /// One attempt: `Ok(None)` committed, `Ok(Some(i, e))` job `i` failed and nothing was
    /// committed, `Err` the transaction itself failed.
    fn try_batch(
        &self,
        jobs: &mut [Job],
        durable: bool,
        checkpoint: bool,
        uses: &[(TokenId, Use)],
    ) -> Result<Option<(usize, Error)>> {
        if let Some(journal) = &self.journal {
            return self.try_journaled(journal, jobs, durable, checkpoint, uses);
        }
        // The shared lock is held for the whole transaction, so that compaction waits for it.
        let (_db, mut wtx) = self.open_write(&mut self.pending.lock())?;
        let durable = durable || checkpoint;
        wtx.set_durability(if durable {
            Durability::Immediate
        } else {
            Durability::None
        })?;
        let failed = run_jobs(self, &wtx, false, jobs, uses)?.0;
        if failed.is_some() {
            // The job's own error is what the caller needs; an abort that fails as well (a
            // poisoned transaction) adds nothing to it.
            let _ = wtx.abort();
            return Ok(failed);
        }
        if !durable {
            self.unsynced.store(true, Ordering::Relaxed);
        }
        wtx.commit()?;
        self.commits.fetch_add(1, Ordering::Relaxed);
        if durable {
            // Commits are made one at a time (by the batch's leader, or under compaction's
            // exclusive lock): none came between this one and the flag.
            self.unsynced.store(false, Ordering::Relaxed);
        }
        Ok(None)
    }

    /// One attempt with a journal: the batch goes into the open write transaction and the
    /// journal; redb commits at checkpoints.
    fn try_journaled(
        &self,
        journal: &Journal,
        jobs: &mut [Job],
        durable: bool,
        checkpoint: bool,
        uses: &[(TokenId, Use)],
    ) -> Result<Option<(usize, Error)>> {
        let mut pending = self.pending.lock();
        // The shared lock is held for the whole batch, so that compaction waits for it. The
        // transaction is taken out: if anything below fails, it is dropped (aborted) and the
        // next batch starts a fresh one from `pending.logs`.
        let (_db, wtx) = self.open_write(&mut pending)?;
        let seq = journal.next_seq();
        // A checkpoint is durable in the file itself: nothing to journal.
        let (failed, log) = run_jobs(self, &wtx, !checkpoint, jobs, uses)?;
        if let Some((_, e)) = &failed {
            // A request refused before this batch wrote anything (every write is logged) leaves
            // the transaction as it was: keep it, rather than apply every held batch again for
            // each refused request.
            let untouched = !checkpoint && log.as_ref().is_none_or(Log::is_empty);
            let refused = matches!(
                e,
                Error::InvalidArgument(_)
                    | Error::Rejected(_)
                    | Error::NotFound
                    | Error::LimitReached(_)
            );
            if untouched && refused {
                pending.wtx = Some(wtx);
            }
            return Ok(failed);
        }
        let log = log.unwrap_or_default();
        if checkpoint {
            self.commit_open(wtx, seq, &mut pending)?;
            journal.advance(seq);
            // Committed: the batch succeeded. A journal that could not be emptied holds only
            // records at or before the stamped sequence number, which replay skips; the next
            // checkpoint tries again.
            let _ = journal.truncate();
            return Ok(None);
        }
        if log.is_empty() {
            if durable {
                if let Err(e) = journal.sync_pending() {
                    // As for a record that cannot be synced: a durable redb commit of what the
                    // open transaction holds (the kernel reports a lost writeback once: the
                    // next sync could succeed behind a hole that stops replay).
                    self.commit_open(wtx, journal.next_seq() - 1, &mut pending)
                        .map_err(|_| e)?;
                    let _ = journal.truncate();
                    return Ok(None);
                }
            }
            pending.wtx = Some(wtx);
            return Ok(None);
        }
        match journal.append(seq, &log, durable) {
            Ok(due) => {
                self.commits.fetch_add(1, Ordering::Relaxed);
                // Held first: whatever happens next, the open transaction's replacement gets it.
                pending.logs.push(log);
                self.overlay
                    .record(pending.logs.last().expect("just pushed"))?;
                // From here on the batch is durable (in the journal) and succeeded, whatever the
                // checkpoint does: one that fails leaves the logs held, for the next batch to
                // apply again in a fresh transaction, and the journal as it is. So does one
                // that panics inside the storage engine: caught here, not by the batch's guard,
                // which would report a failure for changes that replay brings back.
                if !due {
                    pending.wtx = Some(wtx);
                } else if catch_unwind(AssertUnwindSafe(|| {
                    self.commit_open(wtx, seq, &mut pending)
                }))
                .is_ok_and(|committed| committed.is_ok())
                {
                    let _ = journal.truncate();
                }
            }
            // The journal cannot take it (a full disk?): a durable redb commit can.
            Err(e) => {
                self.commit_open(wtx, seq, &mut pending).map_err(|_| e)?;
                journal.advance(seq);
                let _ = journal.truncate();
            }
        }
        Ok(None)
    }

    /// Commits the open transaction durably, as of journal sequence `seq`; then the overlay
    /// and the held logs are no longer needed.
    fn commit_open(&self, wtx: WriteTransaction, seq: u64, pending: &mut Pending) -> Result<()> {
        self.commit_as_of(wtx, seq, Durability::Immediate, pending)
    }

    fn commit_as_of(
        &self,
        mut wtx: WriteTransaction,
        seq: u64,
        durability: Durability,
        pending: &mut Pending,
    ) -> Result<()> {
        wtx.set_durability(durability)?;
        Journal::stamp(&wtx, seq)?;
        wtx.commit()?;
        self.commits.fetch_add(1, Ordering::Relaxed);
        // Snapshots first (a verify holding an older one still finds the rows in the overlay),
        // then the overlay.
        self.snapshots.clear();
        self.overlay.clear();
        pending.logs.clear();
        Ok(())
    }

    /// Commits the batches the open transaction holds, if any, as of the last journal record:
    /// durably (then the journal is emptied), or not (the journal keeps them).
    fn commit_held(&self, pending: &mut Pending, durability: Durability) -> Result<()> {
        // The readers that settle, compaction and the integrity check read the database next.
        self.usable_locked(pending)?;
        let Some(journal) = &self.journal else {
            return Ok(());
        };
        // Nothing journaled is held (an open transaction has no changes), and nothing is to be
        // made durable: batches that `settle` committed without durability are durable in the
        // journal alone until a durable commit.
        if pending.logs.is_empty() && (matches!(durability, Durability::None) || journal.is_empty())
        {
            pending.wtx = None;
            return Ok(());
        }
        let (_db, wtx) = self.open_write(pending)?;
        self.commit_as_of(wtx, journal.next_seq() - 1, durability, pending)?;
        if matches!(durability, Durability::Immediate) {
            journal.truncate()?;
        }
        Ok(())
    }

    /// Commits the open transaction durably and empties the journal, with its lock held
    /// (compaction and the integrity check: the latter may roll back a commit that is not
    /// durable, so nothing journaled may depend on one).
    pub(crate) fn checkpoint_locked(&self, pending: &mut Pending) -> Result<()> {
        self.commit_held(pending, Durability::Immediate)
    }

    /// Commits the open transaction (not durably: the journal holds it), so that read
    /// transactions begun after this call see every batch that returned. Readers other than
    /// verify call it first.
    pub(crate) fn settle(&self) -> Result<()> {
        if self.journal.is_none() {
            return Ok(());
        }
        self.commit_held(&mut self.pending.lock(), Durability::None)
    }

    /// Makes everything durable in the store file itself and empties the journal.
    pub(crate) fn checkpoint(&self) -> Result<()> {
        let due = match &self.journal {
            // Nothing journaled since the last checkpoint: the file is already complete.
            Some(journal) => !journal.is_empty(),
            // Commits that were not durable (on a storage backend: the multi-process mode
            // commits every batch durably) wait in redb's buffer for a durable one, or for the
            // database's close, which cannot report a failure.
            None => self.unsynced.load(Ordering::Relaxed),
        };
        if !due {
            return Ok(());
        }
        self.write(Commit::Checkpoint, |_| Ok(()))
    }
}

/// The first job that failed (its index and error), and the rows a batch wrote.
type Ran = (Option<(usize, Error)>, Option<Log>);

/// Runs the pending uses and the jobs in `wtx`, up to the first job that fails. Returns that job
/// and its error, and the rows written (when `journaled`).
fn run_jobs(
    inner: &Inner,
    wtx: &WriteTransaction,
    journaled: bool,
    jobs: &mut [Job],
    uses: &[(TokenId, Use)],
) -> Result<Ran> {
    let mut tx = Tx {
        tables: WriteTables::open(wtx, &inner.sets, inner.opts.keep(), journaled)?,
        now: inner.opts.clock.now(),
        inner,
    };
    apply_uses(&mut tx, uses)?;
    let mut failed = None;
    for (i, job) in jobs.iter_mut().enumerate() {
        let r = catch_unwind(AssertUnwindSafe(|| (job.run)(&mut tx)))
            .unwrap_or_else(|_| Err(Error::Internal("a write job panicked".into())));
        if let Err(e) = r {
            failed = Some((i, e));
            break;
        }
    }
    Ok((failed, tx.tables.log.take()))
}

impl Inner {
    /// The database (its shared lock, held for the transaction, so that compaction waits for
    /// it) and a write transaction: the open one taken out of `pending`, or, if there is none
    /// (dropped after a failure), a fresh one; with a journal, not durable and holding the
    /// journaled batches of `pending.logs` again.
    ///
    /// redb latches an I/O error: from then on it refuses every write transaction until the
    /// database is opened again. Then the database is opened again here, on the same file or
    /// backend, and the journal applied to it, so that a transient error (a full disk that
    /// gets space back, a storage hiccup) does not stop revocations until the process restarts.
    fn open_write(
        &self,
        pending: &mut Pending,
    ) -> Result<(RwLockReadGuard<'_, Database>, WriteTransaction)> {
        self.usable_locked(pending)?;
        let mut reopened = false;
        loop {
            let db = self.db.read();
            if let Some(wtx) = pending.wtx.take() {
                return Ok((db, wtx));
            }
            match db.begin_write() {
                Ok(mut wtx) => {
                    if self.journal.is_some() {
                        wtx.set_durability(Durability::None)?;
                        for log in &pending.logs {
                            journal::redo(&wtx, log)?;
                        }
                    }
                    return Ok((db, wtx));
                }
                Err(TransactionError::Storage(StorageError::PreviousIo))
                    if !reopened && self.reopen.is_some() =>
                {
                    drop(db);
                    self.reopen_locked(pending)?;
                    reopened = true;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// After an operation met an input/output error of the storage engine: opens the database
    /// again (see [`Inner::open_write`]; at most once a second, once the storage answers), so
    /// that reads go on too without waiting for a write to do it.
    pub(crate) fn after_engine_io(&self) -> Result<()> {
        self.reopen_locked(&mut self.pending.lock())
    }

    /// Fails unless the database is open: after a failed attempt to open it again (see
    /// [`Inner::open_write`]), tries again first.
    pub(crate) fn usable(&self) -> Result<()> {
        if self.lost.load(Ordering::Acquire) {
            self.usable_locked(&mut self.pending.lock())?;
        }
        Ok(())
    }

    fn usable_locked(&self, pending: &mut Pending) -> Result<()> {
        if self.lost.load(Ordering::Acquire) {
            self.reopen_locked(pending)?;
        }
        Ok(())
    }

    /// Opens the database again, with the writers' lock held: the open transaction and the
    /// snapshots go with the old database; what the new one lacks of the journal (the batches
    /// the transaction held, and commits of the old one that were not durable) is held again,
    /// for the next transaction to apply (no room on the disk needed to reopen). If the file
    /// cannot be opened, the store stays closed to every operation (`lost`) until an attempt
    /// succeeds: an empty database in memory stands in meanwhile, never read or written.
    fn reopen_locked(&self, pending: &mut Pending) -> Result<()> {
        let Some(reopen) = &self.reopen else {
            return Ok(());
        };
        let lost = self.lost.load(Ordering::Acquire);
        {
            let mut last = reopen.last.lock();
            if last.is_some_and(|t| t.elapsed() < REOPEN_EVERY) {
                return if lost {
                    Err(unusable(Error::Io("the last attempt failed".into())))
                } else {
                    Ok(())
                };
            }
            *last = Some(std::time::Instant::now());
            if !lost && (reopen.probe)().is_err() {
                // Writes go on failing, with redb's error, until the storage answers.
                return Ok(());
            }
        }
        pending.wtx = None;
        let mut db = self.db.write();
        self.snapshots.clear();
        // A file takes one open database at a time: the old one goes first (redb writes nothing
        // more to a file it latched an I/O error for).
        let stand_in = crate::schema::open_database(None, &Options::new().cache_size(1 << 20))?;
        self.lost.store(true, Ordering::Release);
        drop(std::mem::replace(&mut *db, stand_in));
        // A damaged file can make the storage engine panic while it opens.
        let (fresh, held) = crate::store::guarded(|| {
            let fresh = (reopen.open)(&self.opts)?;
            let held = match &self.journal {
                Some(journal) => journal.recover(&fresh)?,
                None => Vec::new(),
            };
            for log in &held {
                log.token_rows()?;
            }
            Ok((fresh, held))
        })
        .map_err(unusable)?;
        *db = fresh;
        // What the file lacks is held again, as batches not yet committed are: verify finds it
        // in the overlay, and the next write transaction applies it first.
        self.overlay.clear();
        for log in &held {
            self.overlay.record(log)?;
        }
        pending.logs = held;
        self.lost.store(false, Ordering::Release);
        Ok(())
    }
}

/// At most one attempt to open the database again in this long.
const REOPEN_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

/// The error of an attempt to open the database again.
fn unusable(e: Error) -> Error {
    Error::Io(format!(
        "the store could not be opened again after an input/output error ({e}); operations \
         try again, at most once a second"
    ))
}

/// Writes pending uses into `last_used_at`, moving idle deadlines with them. In id order: the
/// uses of a flush are spread over the whole token tree, and one pass from left to right
/// rewrites each leaf once instead of evicting and reading it back (measured: 65,536 uses over
/// 1,000,000 tokens: 0.89 s unsorted, 0.59 s sorted).
fn apply_uses(tx: &mut Tx<'_, '_>, uses: &[(TokenId, Use)]) -> Result<()> {
    let mut order: Vec<&(TokenId, Use)> = uses.iter().collect();
    order.sort_unstable_by_key(|(id, _)| *id);
    for (id, u) in order {
        let old = match tx.tables.get(id) {
            Ok(Some(old)) => old,
            Ok(None) => continue,
            // A row that cannot be read (damaged) loses its use: failing here would fail every
            // write batched with it, and every later one, since a failed batch's uses go back to
            // be written with the next.
            Err(Error::Corrupt(_)) => continue,
            Err(e) => return Err(e),
        };
        // A revoked token keeps its uses too: verify records uses of valid tokens only, so each
        // came before the revocation, and the tombstone's purge deadline counts them.
        if old.record.last_used_at.is_some_and(|t| t >= u.at) {
            continue;
        }
        let mut new = old.clone();
        new.record.last_used_at = Some(u.at);
        tx.tables.put(Some(&old), &new)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    thread_local! {
        /// Makes the next batch led by this thread panic before it runs.
        pub(super) static PANIC_IN_BATCH: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    }

    /// A panic in a batch's leader outside the guarded transaction fails that batch's writes
    /// with an error and leaves the next writers a leader: before, the lead stayed taken and
    /// every later write waited for ever.
    #[test]
    fn a_panic_in_a_batch_s_leader_fails_its_batch_and_stops_no_later_write() {
        let store = Store::in_memory(Options::new()).unwrap();
        PANIC_IN_BATCH.with(|p| p.set(true));
        let hook = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let failed = store.issue(&IssueRequest::session("a"));
        std::panic::set_hook(hook);
        assert!(matches!(failed, Err(Error::Internal(_))), "{failed:?}");
        let (tx, rx) = std::sync::mpsc::channel();
        let other = store.clone();
        std::thread::spawn(move || {
            let _ = tx.send(
                other
                    .issue(&IssueRequest::session("b"))
                    .map(|t| t.record.id),
            );
        });
        let id = rx
            .recv_timeout(std::time::Duration::from_secs(30))
            .expect("a write after the panic waits for ever")
            .unwrap();
        assert!(store.get(id).unwrap().is_some());
        assert_eq!(store.revoke(id), Ok(1));
    }
    use crate::record::{Revocation, RevokeReason};
    use crate::{IssueRequest, Rejection, Store};

    /// Opening the database again (what a latched I/O error makes the next write do) keeps every
    /// acknowledged change: those a commit that was not durable held, and those only the journal
    /// and the dropped transaction held.
    #[test]
    fn opening_the_database_again_keeps_every_journaled_change() {
        reopen_keeps_everything(Options::new());
    }

    /// The same in the multi-process mode (no journal: every commit is durable).
    #[test]
    fn opening_the_database_again_keeps_everything_in_the_multi_process_mode() {
        reopen_keeps_everything(Options::new().concurrency(crate::Concurrency::MultiProcess));
    }

    fn reopen_keeps_everything(opts: Options) {
        let journaled = opts.concurrency == crate::Concurrency::Exclusive;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.redb");
        let store = Store::open(&path, opts.clone()).unwrap();
        let a = store.issue(&IssueRequest::session("a")).unwrap();
        let b = store.issue(&IssueRequest::session("b")).unwrap();
        // A reader other than verify: the open transaction is committed, not durably.
        assert_eq!(store.list_subject("a").unwrap().len(), 1);
        store.revoke(&a.token).unwrap();
        let c = store.issue(&IssueRequest::session("c")).unwrap();
        let inner = store.checked().unwrap();
        assert_eq!(!inner.pending.lock().logs.is_empty(), journaled);
        inner.reopen_locked(&mut inner.pending.lock()).unwrap();
        assert!(!inner.lost.load(Ordering::Acquire));
        let d = store.issue(&IssueRequest::session("d")).unwrap();
        let mut store = store;
        for round in 0..2 {
            assert_eq!(
                store.verify(a.token.as_str()).unwrap().rejection(),
                Some(Rejection::Revoked),
                "round {round}"
            );
            for t in [&b, &c, &d] {
                assert!(
                    store.verify(t.token.as_str()).unwrap().is_valid(),
                    "round {round}"
                );
            }
            assert_eq!(store.list_subject("c").unwrap().len(), 1, "round {round}");
            drop(store);
            store = Store::open(&path, opts.clone()).unwrap();
        }
    }

    /// Verifies, issues and revocations on several threads while the database is opened again
    /// and again (what a latched I/O error makes the next write do): no verify that starts after
    /// a revocation returned accepts the token, no call hangs, and the store reopened from its
    /// files holds every acknowledged change.
    #[test]
    fn opening_the_database_again_under_load_keeps_revocations() {
        use std::sync::atomic::AtomicBool;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.redb");
        let store = Store::open(&path, Options::new()).unwrap();
        let stop = AtomicBool::new(false);
        let revoked = std::sync::Mutex::new(Vec::<String>::new());
        let live = std::sync::Mutex::new(Vec::<String>::new());
        let mut reopens = 0;
        std::thread::scope(|s| {
            for w in 0..2 {
                let (store, stop, revoked, live) = (&store, &stop, &revoked, &live);
                s.spawn(move || {
                    let mut i = 0;
                    while !stop.load(Ordering::Relaxed) {
                        let t = store
                            .issue(&IssueRequest::session(format!("u{w}-{i}")))
                            .unwrap();
                        if i % 2 == 0 {
                            store.revoke(&t.token).unwrap();
                            revoked.lock().unwrap().push(t.token.as_str().to_owned());
                        } else {
                            live.lock().unwrap().push(t.token.as_str().to_owned());
                        }
                        i += 1;
                    }
                });
            }
            for _ in 0..2 {
                let (store, stop, revoked, live) = (&store, &stop, &revoked, &live);
                s.spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        let r = revoked.lock().unwrap().last().cloned();
                        if let Some(t) = r {
                            assert_eq!(
                                store.verify(t.as_str()).unwrap().rejection(),
                                Some(Rejection::Revoked)
                            );
                        }
                        let l = live.lock().unwrap().last().cloned();
                        if let Some(t) = l {
                            assert!(store.verify(t.as_str()).unwrap().is_valid());
                        }
                    }
                });
            }
            let inner = store.checked().unwrap();
            let started = std::time::Instant::now();
            while started.elapsed() < std::time::Duration::from_secs(2) {
                std::thread::sleep(std::time::Duration::from_millis(20));
                // Not once a second: as often as the test wants.
                *inner.reopen.as_ref().unwrap().last.lock() = None;
                inner.reopen_locked(&mut inner.pending.lock()).unwrap();
                reopens += 1;
            }
            stop.store(true, Ordering::Relaxed);
        });
        assert!(reopens > 10, "{reopens} reopens");
        let (revoked, live) = (revoked.into_inner().unwrap(), live.into_inner().unwrap());
        assert!(revoked.len() > 10 && live.len() > 10);
        drop(store);
        let store = Store::open(&path, Options::new()).unwrap();
        for t in &revoked {
            assert_eq!(
                store.verify(t.as_str()).unwrap().rejection(),
                Some(Rejection::Revoked)
            );
        }
        for t in &live {
            assert!(store.verify(t.as_str()).unwrap().is_valid());
        }
    }

    /// A job that writes and then fails drops the open transaction: its own write must vanish,
    /// and the journaled batches the transaction held must come back in the next one.
    #[test]
    fn a_job_failing_after_a_write_loses_its_write_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.redb");
        let store = Store::open(&path, Options::new()).unwrap();
        let a = store.issue(&IssueRequest::session("a")).unwrap();
        let b = store.issue(&IssueRequest::session("b")).unwrap();
        let id = a.record.id;
        let failed = store.checked().unwrap().write(Commit::Durable, move |tx| {
            let old = tx.tables.get(&id)?.expect("a is stored");
            let mut new = old.clone();
            new.record.revoked = Some(Revocation {
                at: tx.now,
                reason: RevokeReason::ById,
            });
            tx.tables.put(Some(&old), &new)?;
            Err::<(), _>(Error::InvalidArgument("refused after a write".into()))
        });
        assert!(
            matches!(failed, Err(Error::InvalidArgument(_))),
            "{failed:?}"
        );
        let c = store.issue(&IssueRequest::session("c")).unwrap();
        let mut store = store;
        for round in 0..2 {
            for t in [&a, &b, &c] {
                assert!(
                    store.verify(t.token.as_str()).unwrap().is_valid(),
                    "round {round}"
                );
                assert_eq!(store.get(t.record.id).unwrap().unwrap().revoked, None);
            }
            drop(store);
            store = Store::open(&path, Options::new()).unwrap();
        }
    }

    /// A use of a token whose row was damaged after the verify that recorded it is dropped: it
    /// failed every write batch that carried it, and, put back for the next one, every write
    /// after it.
    #[test]
    fn a_use_of_a_damaged_row_does_not_fail_the_writes_batched_with_it() {
        for opts in [
            Options::new(),
            Options::new().concurrency(crate::Concurrency::MultiProcess),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let opts = opts.flush_interval(std::time::Duration::from_secs(3600));
            let store = Store::open(dir.path().join("t.redb"), opts).unwrap();
            let idle = IssueRequest::session("a").idle_timeout(std::time::Duration::from_secs(60));
            let a = store.issue(&idle).unwrap();
            let b = store.issue(&IssueRequest::session("b")).unwrap();
            assert!(store.verify(a.token.as_str()).unwrap().is_valid());
            let id = a.record.id;
            store
                .checked()
                .unwrap()
                .write(Commit::Durable, move |tx| {
                    tx.tables.put_raw(&id, &[0xFF; 3])
                })
                .unwrap();
            assert_eq!(store.flush(), Ok(()));
            assert_eq!(store.revoke(&b.token), Ok(1));
            let c = store.issue(&IssueRequest::session("c")).unwrap();
            assert!(store.verify(c.token.as_str()).unwrap().is_valid());
            assert!(matches!(store.get(id), Err(Error::Corrupt(_))));
        }
    }

    /// A scope set first interned by a transaction that was dropped (its job failed) is written
    /// by the next transaction that needs it: the process knew the set, the file did not, and a
    /// token row naming it failed to decode after a restart.
    #[test]
    fn a_scope_set_interned_by_a_dropped_transaction_reaches_the_file() {
        for opts in [
            Options::new(),
            Options::new().concurrency(crate::Concurrency::MultiProcess),
        ] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("t.redb");
            let store = Store::open(&path, opts.clone()).unwrap();
            let req = IssueRequest::api_key("acme").scopes(["reports:read", "billing:write"]);
            let inner = store.checked().unwrap();
            let record = req
                .build(&inner.opts, crate::TokenId([7; 16]), inner.opts.clock.now())
                .unwrap();
            let failed = inner.write(Commit::Durable, move |tx| {
                let stored = crate::record::Stored {
                    record: record.clone(),
                    key_version: 0,
                    hash: [0; 32],
                };
                tx.tables.put(None, &stored)?;
                Err::<(), _>(Error::InvalidArgument("refused after a write".into()))
            });
            assert!(matches!(failed, Err(Error::InvalidArgument(_))));
            let key = store.issue(&req).unwrap();
            store.close().unwrap();
            let store = Store::open(&path, opts).unwrap();
            let outcome = store.verify(key.token.as_str()).unwrap();
            let scopes: Vec<&str> = outcome.record().expect("valid").scopes.iter().collect();
            assert_eq!(scopes.len(), 2, "{scopes:?}");
            assert!(scopes.contains(&"reports:read") && scopes.contains(&"billing:write"));
            assert!(store.get(crate::TokenId([7; 16])).unwrap().is_none());
        }
    }

    /// A verify while a flush batch writes the pending uses (its rows not yet visible) still
    /// counts the use that keeps an idle-timeout token alive: it was taken out of memory before
    /// its row could be read, and the token was judged idle in between.
    #[test]
    fn a_use_being_written_keeps_an_idle_token_alive_meanwhile() {
        for opts in [
            Options::new(),
            Options::new().concurrency(crate::Concurrency::MultiProcess),
        ] {
            let clock =
                crate::ManualClock::new(crate::Timestamp::from_unix_millis(1_795_392_000_000));
            let dir = tempfile::tempdir().unwrap();
            let store = Store::open(dir.path().join("t.redb"), opts.manual_clock(&clock)).unwrap();
            let minute = std::time::Duration::from_secs(60);
            let t = store
                .issue(&IssueRequest::session("a").idle_timeout(10 * minute))
                .unwrap();
            clock.advance(5 * minute);
            assert!(store.verify(t.token.as_str()).unwrap().is_valid());
            // Idle since its issue, not since its use.
            clock.advance(7 * minute);
            let text = t.token.as_str().to_owned();
            let seen = store
                .checked()
                .unwrap()
                .write(Commit::Uses, move |tx| {
                    let parsed = tx.inner.parse(text.as_bytes()).unwrap();
                    tx.inner.verify(&parsed, &crate::Requirements::new())
                })
                .unwrap();
            assert!(seen.is_valid(), "{seen:?}");
            assert!(store.verify(t.token.as_str()).unwrap().is_valid());
        }
    }
}
