//! The write journal: how durable writes cost one small sequential `fdatasync` instead of a
//! durable redb commit.
//!
//! In the exclusive mode on a file, write batches go into one redb write transaction that stays
//! open across them (see `write`), and each appends the rows it changed to `<store>.journal`; a
//! durable batch (every revocation, a durable issue) `fdatasync`s the journal before its callers
//! return. Verify sees the rows at once through an in-memory overlay. redb commits that
//! transaction at a checkpoint (durably, recording the last journal sequence number in the
//! `meta` table, then the journal starts afresh) and, not durably, when a reader other than
//! verify needs the file current. After a crash redb comes back at its last durable commit,
//! whose sequence number says where replay starts: every journaled batch after it is applied
//! again, in order, and the store is exactly as acknowledged. A checkpoint runs when the journal
//! passes [`CHECKPOINT_BYTES`] or [`CHECKPOINT_RECORDS`], and at close.
//!
//! Record: `magic u32 | payload length u32 | CRC-32 of payload u32 | payload`, payload =
//! `seq u64 | mutations`, mutation = `table u8 | op u8 (1 insert, 2 remove) | key length u16 |
//! key | [value length u32 | value]`. A torn or damaged tail ends replay: it was never
//! acknowledged, because acknowledgment waits for the `fdatasync`.
//!
//! In the multi-process mode other processes cannot read this process's journal, so every
//! commit there is a durable redb commit and no journal is kept.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use crate::sync::Mutex;
use redb::{
    Database, Durability, ReadableDatabase, ReadableTable, TableDefinition, WriteTransaction,
};

use crate::error::{Error, Result};
use crate::schema::{
    BY_DEADLINE, BY_SUBJECT, BY_TENANT, CHILDREN, CLEANUP, EPOCHS, EVENTS, META, SCOPE_SETS, TOKENS,
};

/// A checkpoint runs when the journal is larger than this...
pub const CHECKPOINT_BYTES: u64 = 8 * 1024 * 1024;
/// ...or holds this many records: the open write transaction keeps their pages (and the process
/// their rows, to apply again if the transaction is dropped) until the checkpoint commits them,
/// so this bounds the memory (one durable redb commit per this many batches).
pub const CHECKPOINT_RECORDS: u64 = 512;
/// The journal file is grown in steps of this size, so that a `fdatasync` after an append does
/// not also have to write the file's new length.
const PREALLOCATE: u64 = 4 * 1024 * 1024;

const MAGIC: u32 = 0x7453_4a31; // "tSJ1"
const META_SEQ: &str = "journal_seq";

/// Table numbers in journal records.
#[derive(Clone, Copy)]
#[repr(u8)]
pub(crate) enum T {
    Tokens = 1,
    BySubject = 2,
    ByTenant = 3,
    ByDeadline = 4,
    Children = 5,
    Epochs = 6,
    Cleanup = 7,
    Events = 8,
    ScopeSets = 9,
}

/// The mutations of one transaction, as they are made.
#[derive(Default)]
pub(crate) struct Log(Vec<u8>);

impl Log {
    pub(crate) fn insert(&mut self, t: T, key: &[u8], value: &[u8]) {
        // Values are rows (a record, an event) whose fields are bounded well below this: a
        // longer one is a bug, and must fail its batch (a panic in a batch does) rather than
        // write a record that replays as something else.
        let len = u32::try_from(value.len()).expect("a journal value longer than 4 GiB");
        self.head(t, 1, key);
        self.0.extend_from_slice(&len.to_le_bytes());
        self.0.extend_from_slice(value);
    }

    pub(crate) fn remove(&mut self, t: T, key: &[u8]) {
        self.head(t, 2, key);
    }

    fn head(&mut self, t: T, op: u8, key: &[u8]) {
        // Keys are ids or scope keys of checked names (see `raise_epoch`).
        let len = u16::try_from(key.len()).expect("a journal key longer than 64 KiB");
        self.0.push(t as u8);
        self.0.push(op);
        self.0.extend_from_slice(&len.to_le_bytes());
        self.0.extend_from_slice(key);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The token rows it writes, in order: `(id, Some(value))` for an insert, `(id, None)` for
    /// a removal.
    pub(crate) fn token_rows(&self) -> Result<Vec<Row<'_, 16>>> {
        let mut out = Vec::new();
        for m in Mutations(&self.0) {
            let (t, key, value) = m?;
            if t == T::Tokens as u8 {
                out.push((arr::<16>(key)?, value));
            }
        }
        Ok(out)
    }
}

/// A row change: key and value, `None` for a removal.
pub(crate) type Row<'a, const N: usize> = ([u8; N], Option<&'a [u8]>);

/// One mutation: table number, key and value (`None` for a removal).
type Mutation<'a> = (u8, &'a [u8], Option<&'a [u8]>);

/// The mutations of a record's payload.
struct Mutations<'a>(&'a [u8]);

impl<'a> Iterator for Mutations<'a> {
    type Item = Result<Mutation<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.0.is_empty() {
            return None;
        }
        let r = self.split();
        if r.is_err() {
            self.0 = &[];
        }
        Some(r)
    }
}

impl<'a> Mutations<'a> {
    fn split(&mut self) -> Result<Mutation<'a>> {
        let m = self.0;
        if m.len() < 4 {
            return Err(corrupt());
        }
        let (t, op) = (m[0], m[1]);
        let klen = u16::from_le_bytes([m[2], m[3]]) as usize;
        let rest = &m[4..];
        let key = rest.get(..klen).ok_or_else(corrupt)?;
        let rest = &rest[klen..];
        let (value, rest) = match op {
            1 => {
                let vlen = rest.get(..4).ok_or_else(corrupt)?;
                let vlen = u32::from_le_bytes([vlen[0], vlen[1], vlen[2], vlen[3]]) as usize;
                let v = rest.get(4..4 + vlen).ok_or_else(corrupt)?;
                (Some(v), &rest[4 + vlen..])
            }
            2 => (None, rest),
            _ => return Err(corrupt()),
        };
        self.0 = rest;
        Ok((t, key, value))
    }
}

/// A call of the journal's file (which the tests of the error paths fail).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Op {
    Write,
    Sync,
    SetLen,
}

/// The open journal of a store.
pub(crate) struct Journal {
    path: PathBuf,
    state: Mutex<State>,
    /// Calls of the file to fail, for the tests of the error paths.
    #[cfg(test)]
    faults: Mutex<Vec<(Op, u32)>>,
}

struct State {
    file: File,
    /// Bytes of records written.
    len: u64,
    /// Records written since the last checkpoint.
    records: u64,
    /// Bytes allocated to the file.
    allocated: u64,
    seq: u64,
    /// Whether records were written without a sync since the last one.
    unsynced: bool,
    /// Bytes of records that the last successful sync covered: what a power loss keeps (the
    /// tests' model of one).
    #[cfg(test)]
    synced: u64,
}

/// The journal file of the store at `store`.
pub(crate) fn path_of(store: &Path) -> PathBuf {
    let mut name = store.as_os_str().to_owned();
    name.push(".journal");
    PathBuf::from(name)
}

impl Journal {
    /// Opens the journal of `store`, replaying into `db` what its last durable commit lacks,
    /// then starts an empty journal.
    pub(crate) fn open(store: &Path, db: &Database) -> Result<Journal> {
        let path = path_of(store);
        let mut options = OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let existed = path.exists();
        let mut file = options.open(&path).map_err(|e| io(&path, e))?;
        if !existed {
            // The journal's name must reach the disk too: a revocation acknowledged after a
            // `fdatasync` of a file whose directory entry a power loss takes is lost.
            crate::schema::sync_dir_of(&path).map_err(|e| io(&path, e))?;
        }
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(|e| io(&path, e))?;
        let seq = replay(db, &path, &bytes)?;
        file.set_len(0).map_err(|e| io(&path, e))?;
        file.set_len(PREALLOCATE).map_err(|e| io(&path, e))?;
        file.seek(SeekFrom::Start(0)).map_err(|e| io(&path, e))?;
        file.sync_all().map_err(|e| io(&path, e))?;
        Ok(Journal {
            path,
            state: Mutex::new(State {
                file,
                len: 0,
                records: 0,
                allocated: PREALLOCATE,
                seq,
                unsynced: false,
                #[cfg(test)]
                synced: 0,
            }),
            #[cfg(test)]
            faults: Mutex::new(Vec::new()),
        })
    }

    /// Applies what a journal left next to the store by a process of the exclusive mode that
    /// ended without closing holds, for a process of the multi-process mode, which keeps no
    /// journal of its own; then empties it. Without this, the acknowledged changes only that
    /// journal held (revocations) were missing, and came back over newer ones when the store
    /// was next opened in the exclusive mode.
    pub(crate) fn drain(store: &Path, db: &Database) -> Result<()> {
        let path = path_of(store);
        let mut file = match OpenOptions::new().read(true).write(true).open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io(&path, e)),
        };
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(|e| io(&path, e))?;
        if bytes.iter().all(|&b| b == 0) {
            return Ok(());
        }
        replay(db, &path, &bytes)?;
        file.set_len(0)
            .and_then(|()| file.sync_all())
            .map_err(|e| io(&path, e))
    }

    /// Removes a journal next to a database that holds no store yet (nothing was ever committed
    /// to it): it was left by a store that is gone, and its changes belong to no store this one
    /// continues. Called before the store is made, so that a crash in between changes nothing;
    /// never removes the journal of a store another process made meanwhile.
    pub(crate) fn remove_if_new(store: &Path, db: &Database) -> Result<()> {
        if crate::schema::is_new(db)? {
            Self::remove_stale(store)?;
        }
        Ok(())
    }

    /// Removes the journal of the store at `store`, if any.
    pub(crate) fn remove_stale(store: &Path) -> Result<()> {
        let path = path_of(store);
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io(&path, e)),
        }
    }

    /// The sequence number the next transaction gets; record it in the transaction.
    pub(crate) fn next_seq(&self) -> u64 {
        self.state.lock().seq + 1
    }

    /// Writes the sequence number into the transaction's meta table.
    pub(crate) fn stamp(tx: &WriteTransaction, seq: u64) -> Result<()> {
        tx.open_table(META)?
            .insert(META_SEQ, seq.to_le_bytes().as_slice())?;
        Ok(())
    }

    /// Appends a committed transaction's mutations; `durable` waits for the disk. Returns
    /// whether a checkpoint is due.
    pub(crate) fn append(&self, seq: u64, log: &Log, durable: bool) -> Result<bool> {
        let mut st = self.state.lock();
        let mut payload = Vec::with_capacity(8 + log.0.len());
        payload.extend_from_slice(&seq.to_le_bytes());
        payload.extend_from_slice(&log.0);
        // A record's length field has 32 bits: a larger batch is not journaled (the caller
        // commits it durably in the store file instead, as when the journal cannot take it).
        let len = u32::try_from(payload.len()).map_err(|_| {
            Error::Internal("a batch too large for one journal record (4 GiB)".into())
        })?;
        let mut rec = Vec::with_capacity(12 + payload.len());
        rec.extend_from_slice(&MAGIC.to_le_bytes());
        rec.extend_from_slice(&len.to_le_bytes());
        rec.extend_from_slice(&crate::token_text::crc32(&payload).to_le_bytes());
        rec.extend_from_slice(&payload);
        let end = st.len + rec.len() as u64;
        if end > st.allocated {
            let grown = end.div_ceil(PREALLOCATE) * PREALLOCATE;
            self.fault(Op::SetLen)
                .and_then(|()| st.file.set_len(grown))
                .map_err(|e| io(&self.path, e))?;
            st.allocated = grown;
        }
        let mut written = self.fault(Op::Write).and_then(|()| st.file.write_all(&rec));
        if durable && written.is_ok() {
            written = self.sync(&mut st, end);
        }
        if let Err(e) = written {
            // The batch is refused: cut off what reached the file of its record (a complete one
            // would be replayed after a crash), best effort, and write the next one where it was.
            // The cut is synced too: after a failed sync the record's blocks may still reach
            // the disk, and a power loss would then keep the refused batch for replay.
            let (len, allocated) = (st.len, st.allocated);
            let _ = st.file.set_len(len);
            let _ = st.file.set_len(allocated);
            let _ = st.file.seek(SeekFrom::Start(len));
            let _ = self.sync(&mut st, len);
            return Err(io(&self.path, e));
        }
        st.len = end;
        st.records += 1;
        st.seq = seq;
        st.unsynced = !durable;
        Ok(st.len > CHECKPOINT_BYTES || st.records >= CHECKPOINT_RECORDS)
    }

    /// Syncs records written without a sync, if any: a durable batch that wrote nothing of its
    /// own (a revocation of a token already revoked) returns only once what it saw is durable.
    pub(crate) fn sync_pending(&self) -> Result<()> {
        let mut st = self.state.lock();
        if st.unsynced {
            let len = st.len;
            self.sync(&mut st, len).map_err(|e| io(&self.path, e))?;
            st.unsynced = false;
        }
        Ok(())
    }

    /// Records that sequence number `seq` was used (by a transaction that was not appended).
    pub(crate) fn advance(&self, seq: u64) {
        let mut st = self.state.lock();
        st.seq = st.seq.max(seq);
    }

    /// Whether the journal holds records not yet checkpointed.
    pub(crate) fn is_empty(&self) -> bool {
        self.state.lock().len == 0
    }

    /// After a durable redb commit: everything journaled is in the file; start afresh.
    pub(crate) fn truncate(&self) -> Result<()> {
        let mut st = self.state.lock();
        // Zeros over the old records (their magic numbers) keep a crash from replaying them; the
        // allocation stays.
        self.fault(Op::SetLen)
            .and_then(|()| st.file.set_len(0))
            .and_then(|()| st.file.seek(SeekFrom::Start(0)).map(drop))
            .map_err(|e| io(&self.path, e))?;
        // From here on the next record goes at the start, whatever fails below: one written
        // after zeros would be out of replay's reach.
        let allocate = st.allocated.min(PREALLOCATE);
        st.len = 0;
        st.records = 0;
        st.allocated = 0;
        self.fault(Op::SetLen)
            .and_then(|()| st.file.set_len(allocate))
            .map_err(|e| io(&self.path, e))?;
        st.allocated = allocate;
        self.sync(&mut st, 0).map_err(|e| io(&self.path, e))?;
        st.unsynced = false;
        Ok(())
    }

    /// Syncs the journal file, whose records end at `len` (tests keep that length as what a
    /// power loss would leave).
    fn sync(&self, st: &mut State, len: u64) -> std::io::Result<()> {
        self.fault(Op::Sync)?;
        st.file.sync_data()?;
        #[cfg(test)]
        {
            st.synced = len;
        }
        #[cfg(not(test))]
        let _ = len;
        Ok(())
    }

    /// Fails this call of the file if a test asked for it.
    #[cfg(test)]
    fn fault(&self, op: Op) -> std::io::Result<()> {
        let mut faults = self.faults.lock();
        let Some(i) = faults.iter().position(|(o, _)| *o == op) else {
            return Ok(());
        };
        if faults[i].1 > 0 {
            faults[i].1 -= 1;
            return Ok(());
        }
        faults.remove(i);
        Err(std::io::Error::from_raw_os_error(5))
    }

    #[cfg(not(test))]
    #[inline(always)]
    fn fault(&self, _op: Op) -> std::io::Result<()> {
        Ok(())
    }

    /// The batches that a database opened again after an I/O error lacks: the journal's records
    /// past its last durable commit (the write transaction that held them, and any commit that
    /// was not durable, went with the old database). They are applied again the way held batches
    /// are, in the next write transaction, which needs no room on the disk now.
    pub(crate) fn recover(&self, db: &Database) -> Result<Vec<Log>> {
        let mut st = self.state.lock();
        let len = st.len;
        let mut bytes = vec![0u8; usize::try_from(len).map_err(|_| corrupt())?];
        st.file
            .seek(SeekFrom::Start(0))
            .and_then(|_| st.file.read_exact(&mut bytes))
            .and_then(|()| st.file.seek(SeekFrom::Start(len)).map(drop))
            .map_err(|e| io(&self.path, e))?;
        let durable_seq = stamped_seq(&db.begin_read()?.open_table(META)?)?;
        let (durable_seq, todo) = records_after(durable_seq, &bytes);
        // A commit that reported an error may still have reached the file, stamped with a
        // sequence number this journal did not count as used: the next record goes past it.
        st.seq = st.seq.max(durable_seq);
        Ok(todo
            .into_iter()
            .map(|(_, muts)| Log(muts.to_vec()))
            .collect())
    }

    /// Removes the (empty) journal file at close.
    pub(crate) fn remove(&self) {
        let st = self.state.lock();
        if st.len == 0 {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

fn io(path: &Path, e: std::io::Error) -> Error {
    match Error::from(e) {
        Error::DiskFull(m) => Error::DiskFull(format!("{}: {m}", path.display())),
        Error::Io(m) => Error::Io(format!("{}: {m}", path.display())),
        other => other,
    }
}

/// Applies the records of `bytes` whose sequence number is past the store's; returns the last
/// sequence number in force. The store's sequence number is read inside the write transaction:
/// in the multi-process mode another process may replay the same journal first.
fn replay(db: &Database, path: &Path, bytes: &[u8]) -> Result<u64> {
    let mut tx = db.begin_write()?;
    let seq = stamped_seq(&tx.open_table(META)?)?;
    let (mut last, todo) = records_after(seq, bytes);
    if todo.is_empty() {
        tx.abort()?;
        return Ok(last);
    }
    if todo[0].0 != last + 1 {
        return Err(Error::Corrupt(format!(
            "{}: the journal does not continue the store (its first change is number {}, the \
             store's last is {last}: was the store replaced or restored from a backup?); move \
             the journal away to open the store as it is, without the journal's changes",
            path.display(),
            todo[0].0
        )));
    }
    tx.set_durability(Durability::Immediate)?;
    for (seq, muts) in todo {
        apply(&tx, muts)?;
        last = seq;
    }
    Journal::stamp(&tx, last)?;
    tx.commit()?;
    Ok(last)
}

/// The journal sequence number stamped in a `meta` table (0: none yet).
fn stamped_seq(meta: &impl ReadableTable<&'static str, &'static [u8]>) -> Result<u64> {
    crate::schema::meta_u64(meta, META_SEQ)
}

/// A journal record: its sequence number and its mutations.
type Record<'b> = (u64, &'b [u8]);

/// The whole records of `bytes` past the store's sequence number `durable_seq` (sequence number
/// and mutations), in order, with that number.
fn records_after(durable_seq: u64, bytes: &[u8]) -> (u64, Vec<Record<'_>>) {
    let mut records = Vec::new();
    let mut rest = bytes;
    while rest.len() >= 12 {
        let word =
            |at: usize| u32::from_le_bytes([rest[at], rest[at + 1], rest[at + 2], rest[at + 3]]);
        let (magic, len, crc) = (word(0), word(4) as usize, word(8));
        if magic != MAGIC || rest.len() < 12 + len || len < 8 {
            break;
        }
        let payload = &rest[12..12 + len];
        if crate::token_text::crc32(payload) != crc {
            break;
        }
        let mut s = [0u8; 8];
        s.copy_from_slice(&payload[..8]);
        records.push((u64::from_le_bytes(s), &payload[8..]));
        rest = &rest[12 + len..];
    }
    let todo = records
        .into_iter()
        .filter(|(s, _)| *s > durable_seq)
        .collect();
    (durable_seq, todo)
}

fn corrupt() -> Error {
    Error::Corrupt("the journal has a record that does not decode".into())
}

/// Applies the mutations of `log` to `tx` again (a transaction that replaces one dropped).
pub(crate) fn redo(tx: &WriteTransaction, log: &Log) -> Result<()> {
    apply(tx, &log.0)
}

fn apply(tx: &WriteTransaction, m: &[u8]) -> Result<()> {
    for mutation in Mutations(m) {
        let (t, key, value) = mutation?;
        match t {
            1 => bytes_table(tx, TOKENS, arr::<16>(key)?, value)?,
            2 => unit_table(tx, BY_SUBJECT, arr::<24>(key)?, value)?,
            3 => unit_table(tx, BY_TENANT, arr::<24>(key)?, value)?,
            4 => unit_table(tx, BY_DEADLINE, arr::<24>(key)?, value)?,
            5 => unit_table(tx, CHILDREN, arr::<32>(key)?, value)?,
            6 => {
                let k = std::str::from_utf8(key).map_err(|_| corrupt())?;
                let mut t = tx.open_table(EPOCHS)?;
                match value {
                    Some(v) => {
                        t.insert(k, i64::from_le_bytes(arr::<8>(v)?))?;
                    }
                    None => {
                        t.remove(k)?;
                    }
                }
            }
            7 => {
                let k = std::str::from_utf8(key).map_err(|_| corrupt())?;
                let mut t = tx.open_table(CLEANUP)?;
                match value {
                    Some(v) => {
                        t.insert(k, v)?;
                    }
                    None => {
                        t.remove(k)?;
                    }
                }
            }
            8 => {
                let k = u64::from_le_bytes(arr::<8>(key)?);
                let mut t = tx.open_table(EVENTS)?;
                match value {
                    Some(v) => {
                        t.insert(k, v)?;
                    }
                    None => {
                        t.remove(k)?;
                    }
                }
            }
            9 => bytes_table(tx, SCOPE_SETS, arr::<8>(key)?, value)?,
            _ => return Err(corrupt()),
        }
    }
    Ok(())
}

fn arr<const N: usize>(b: &[u8]) -> Result<[u8; N]> {
    <[u8; N]>::try_from(b).map_err(|_| corrupt())
}

fn bytes_table<const N: usize>(
    tx: &WriteTransaction,
    def: TableDefinition<&[u8; N], &[u8]>,
    key: [u8; N],
    value: Option<&[u8]>,
) -> Result<()> {
    let mut t = tx.open_table(def)?;
    match value {
        Some(v) => {
            t.insert(&key, v)?;
        }
        None => {
            t.remove(&key)?;
        }
    }
    Ok(())
}

fn unit_table<const N: usize>(
    tx: &WriteTransaction,
    def: TableDefinition<&[u8; N], ()>,
    key: [u8; N],
    value: Option<&[u8]>,
) -> Result<()> {
    let mut t = tx.open_table(def)?;
    match value {
        Some(_) => {
            t.insert(&key, ())?;
        }
        None => {
            t.remove(&key)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Error, IssueRequest, Options, Rejection, Store};

    /// Fails call `pass` (0: the next one) of `op` on the journal of `store`.
    fn fail(store: &Store, op: Op, pass: u32) {
        let inner = store.checked().unwrap();
        let journal = inner.journal.as_ref().expect("a journal");
        journal.faults.lock().push((op, pass));
    }

    fn faults_left(store: &Store) -> usize {
        let inner = store.checked().unwrap();
        inner.journal.as_ref().unwrap().faults.lock().len()
    }

    /// The store that a power loss now would leave, opened; `store` is closed.
    fn after_crash(store: Store, path: &Path) -> Store {
        let image = power_loss_image(&store, path, "crashed.redb");
        drop(store);
        Store::open(&image, Options::new()).unwrap()
    }

    /// Copies the files that a power loss now would leave, under `name`. The journal keeps only
    /// the records the last successful sync covered (a process killed now would leave the
    /// others too: they are in the page cache). The store file is copied as it is: the open
    /// transaction's pages are not in its last commit, which is durable.
    fn power_loss_image(store: &Store, path: &Path, name: &str) -> PathBuf {
        let image = path.with_file_name(name);
        std::fs::copy(path, &image).unwrap();
        std::fs::copy(path_of(path), path_of(&image)).unwrap();
        let st = store
            .checked()
            .unwrap()
            .journal
            .as_ref()
            .unwrap()
            .state
            .lock();
        let kept = OpenOptions::new()
            .write(true)
            .open(path_of(&image))
            .unwrap();
        kept.set_len(st.synced.min(st.len)).unwrap();
        image
    }

    /// A revocation whose journal record cannot be written or synced is made durable by a redb
    /// commit instead: it returns Ok and holds after a crash.
    #[test]
    fn a_journal_that_fails_falls_back_to_a_durable_commit() {
        for op in [Op::Write, Op::Sync] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("t.redb");
            let store = Store::open(&path, Options::new()).unwrap();
            let t = store.issue(&IssueRequest::session("a")).unwrap();
            let kept = store.issue(&IssueRequest::session("b")).unwrap();
            fail(&store, op, 0);
            assert_eq!(store.revoke(&t.token), Ok(1), "{op:?}");
            assert_eq!(faults_left(&store), 0, "{op:?}: the fault was met");
            // Durable as it returned, before any later write could sync it along.
            let image = power_loss_image(&store, &path, "at-once.redb");
            let at_once = Store::open(&image, Options::new()).unwrap();
            assert_eq!(
                at_once.verify(t.token.as_str()).unwrap().rejection(),
                Some(Rejection::Revoked),
                "{op:?}"
            );
            drop(at_once);
            let after = store.issue(&IssueRequest::session("c")).unwrap();
            let crashed = after_crash(store, &path);
            assert_eq!(
                crashed.verify(t.token.as_str()).unwrap().rejection(),
                Some(Rejection::Revoked),
                "{op:?}"
            );
            for ok in [&kept, &after] {
                assert!(
                    crashed.verify(ok.token.as_str()).unwrap().is_valid(),
                    "{op:?}"
                );
            }
        }
    }

    /// A checkpoint whose truncation of the journal fails halfway (the records cut, the file not
    /// grown back) must leave the next records where replay finds them.
    #[test]
    fn records_after_a_failed_truncation_are_replayed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.redb");
        let store = Store::open(&path, Options::new()).unwrap();
        let t = store.issue(&IssueRequest::session("a")).unwrap();
        // The cut succeeds, growing the file back fails.
        fail(&store, Op::SetLen, 1);
        store.checked().unwrap().checkpoint().unwrap();
        assert_eq!(faults_left(&store), 0, "the fault was met");
        assert_eq!(store.revoke(&t.token), Ok(1));
        let crashed = after_crash(store, &path);
        assert_eq!(
            crashed.verify(t.token.as_str()).unwrap().rejection(),
            Some(Rejection::Revoked)
        );
    }

    /// A commit stamped with a sequence number the journal never counted as used (one whose
    /// `commit` reported an error and still reached the file): after a reopen, the next record
    /// must go past it, or replay would skip it as already committed.
    #[test]
    fn recover_moves_the_sequence_past_the_file_s_last_commit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.redb");
        let db = Database::create(&path).unwrap();
        let tx = db.begin_write().unwrap();
        tx.open_table(META).unwrap();
        tx.commit().unwrap();
        let journal = Journal::open(&path, &db).unwrap();
        let mut log = Log::default();
        log.insert(T::Epochs, b"k", &7i64.to_le_bytes());
        let seq = journal.next_seq();
        journal.append(seq, &log, true).unwrap();
        // The file's last commit claims a later sequence number than the journal used.
        let tx = db.begin_write().unwrap();
        Journal::stamp(&tx, seq + 1).unwrap();
        tx.commit().unwrap();
        assert!(journal.recover(&db).unwrap().is_empty(), "nothing past it");
        assert_eq!(journal.next_seq(), seq + 2);
    }

    /// Copies the store's file and journal as a crash would leave them, under `name`.
    fn crash_image(path: &Path, name: &str) -> std::path::PathBuf {
        let image = path.with_file_name(name);
        std::fs::copy(path, &image).unwrap();
        std::fs::copy(path_of(path), path_of(&image)).unwrap();
        image
    }

    /// A store of the exclusive mode that ended without closing leaves changes only in its
    /// journal: a process of the multi-process mode applies them before anything else, and
    /// they never come back over its own changes later.
    #[test]
    fn a_multi_process_open_applies_what_a_crashed_journal_holds() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.redb");
        let store = Store::open(&path, Options::new()).unwrap();
        let a = store.issue(&IssueRequest::session("a")).unwrap();
        let b = store.issue(&IssueRequest::session("b")).unwrap();
        store.revoke(&a.token).unwrap();
        let image = crash_image(&path, "crashed.redb");
        drop(store);
        let shared = Options::new().concurrency(crate::Concurrency::MultiProcess);
        let store = Store::open(&image, shared).unwrap();
        assert_eq!(
            store.verify(a.token.as_str()).unwrap().rejection(),
            Some(Rejection::Revoked)
        );
        assert!(store.verify(b.token.as_str()).unwrap().is_valid());
        // A newer change of this mode, which the old journal must not undo.
        store.revoke(&b.token).unwrap();
        drop(store);
        let store = Store::open(&image, Options::new()).unwrap();
        for t in [&a, &b] {
            assert_eq!(
                store.verify(t.token.as_str()).unwrap().rejection(),
                Some(Rejection::Revoked)
            );
        }
    }

    /// A store file put back from a backup next to the journal of a later state: replaying
    /// that journal would apply changes onto a state they do not follow. The open refuses,
    /// saying what to do.
    #[test]
    fn a_journal_that_does_not_continue_the_store_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.redb");
        let store = Store::open(&path, Options::new()).unwrap();
        let a = store.issue(&IssueRequest::session("a")).unwrap();
        let backup = dir.path().join("backup.redb");
        store.backup(&backup).unwrap();
        // A checkpoint empties the journal: what follows starts past the backup's state.
        store.issue(&IssueRequest::session("b")).unwrap();
        store.checked().unwrap().checkpoint().unwrap();
        store.revoke(&a.token).unwrap();
        let image = crash_image(&path, "crashed.redb");
        drop(store);
        std::fs::copy(&backup, &image).unwrap();
        match Store::open(&image, Options::new()) {
            Err(Error::Corrupt(m)) => assert!(m.contains("move the journal away"), "{m}"),
            other => panic!("{other:?}"),
        }
        // As it says: without the journal, the store is the backup.
        std::fs::remove_file(path_of(&image)).unwrap();
        let store = Store::open(&image, Options::new()).unwrap();
        assert!(store.verify(a.token.as_str()).unwrap().is_valid());
    }

    /// A journal next to a path whose store was deleted belongs to no store: a new store there
    /// starts empty.
    #[test]
    fn a_new_store_does_not_replay_a_journal_left_by_a_deleted_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.redb");
        let store = Store::open(&path, Options::new()).unwrap();
        let a = store.issue(&IssueRequest::session("a")).unwrap();
        store
            .revoke_issued_before(crate::RevokeScope::Store, store.now())
            .unwrap();
        let image = crash_image(&path, "crashed.redb");
        drop(store);
        std::fs::remove_file(&image).unwrap();
        let stale = dir.path().join("stale.journal");
        std::fs::copy(path_of(&image), &stale).unwrap();
        for opts in [
            Options::new(),
            Options::new().concurrency(crate::Concurrency::MultiProcess),
        ] {
            let store = Store::open(&image, opts).unwrap();
            assert_eq!(store.stats().unwrap().all.total(), 0);
            assert_eq!(
                store.verify(a.token.as_str()).unwrap().rejection(),
                Some(Rejection::Unknown)
            );
            let b = store.issue(&IssueRequest::session("b")).unwrap();
            assert!(
                store.verify(b.token.as_str()).unwrap().is_valid(),
                "no epoch came in"
            );
            drop(store);
            std::fs::remove_file(&image).unwrap();
            let _ = std::fs::remove_file(path_of(&image));
            std::fs::copy(&stale, path_of(&image)).unwrap();
        }
    }

    /// A durable call that has nothing to write (a revocation of a token already revoked)
    /// still returns only once the writes before it are durable (it may have read them).
    #[test]
    fn a_durable_call_that_writes_nothing_syncs_what_came_before() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.redb");
        let opts = Options::new().durability(crate::IssueDurability::Eventual);
        let store = Store::open(&path, opts).unwrap();
        let a = store.issue(&IssueRequest::session("a")).unwrap();
        store.revoke(&a.token).unwrap();
        // Not synced: an issue of the eventual durability.
        let b = store.issue(&IssueRequest::session("b")).unwrap();
        fail(&store, Op::Sync, 0);
        // The sync fails: a durable commit of the store file stands in for it.
        assert_eq!(store.revoke(&a.token).unwrap(), 0);
        assert_eq!(faults_left(&store), 0, "the sync was attempted");
        let crashed = after_crash(store, &path);
        assert!(crashed.verify(b.token.as_str()).unwrap().is_valid());
    }

    /// A scope name too long for a name (and for the journal's keys) is refused, and the store
    /// goes on as before.
    #[test]
    fn a_cutoff_for_an_overlong_name_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.redb");
        let store = Store::open(&path, Options::new()).unwrap();
        let a = store.issue(&IssueRequest::session("a")).unwrap();
        for scope in [
            crate::RevokeScope::Subject("a".repeat(70_000)),
            crate::RevokeScope::Tenant("t".repeat(300)),
            crate::RevokeScope::Subject("line\nbreak".into()),
        ] {
            let got = store.revoke_issued_before(scope, store.now());
            assert!(matches!(got, Err(Error::InvalidArgument(_))), "{got:?}");
        }
        store.revoke(&a.token).unwrap();
        let crashed = after_crash(store, &path);
        assert_eq!(
            crashed.verify(a.token.as_str()).unwrap().rejection(),
            Some(Rejection::Revoked)
        );
    }
}
