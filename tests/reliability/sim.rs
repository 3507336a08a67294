//! A simulated disk for redb: [`SimBackend`] keeps the file in memory and knows which bytes a
//! completed `sync_data` made durable. It can
//!
//! * record every mutating call (writes, `set_len`, syncs) in a log, from which crash images are
//!   built: the synced prefix, plus any subset of the unsynced writes, in any order, torn at
//!   512-byte sectors;
//! * fail the Nth call (read, write, `set_len`, `sync_data`) with `EIO` or `ENOSPC`, once or
//!   from then on;
//! * refuse to grow the file past a size, like a full disk (`ENOSPC`), while writes inside the
//!   file still succeed.

use std::io;
use std::sync::{Arc, Mutex, MutexGuard};

use super::Rng;

pub const EIO: i32 = 5;
pub const ENOSPC: i32 = 28;
pub const SECTOR: u64 = 512;

/// One mutating call, as the disk saw it.
#[derive(Debug, Clone)]
pub enum Op {
    Write(u64, Vec<u8>),
    SetLen(u64),
    Sync,
}

/// Which call fails, with what, and whether the disk stays broken.
#[derive(Debug, Clone, Copy)]
pub struct Fault {
    /// 1-based number of the failing call (reads, writes, `set_len`s and syncs are counted).
    pub at: u64,
    pub errno: i32,
    /// From `at` on, every call fails (for `ENOSPC`: every mutating call; reads still work).
    pub sticky: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Call {
    Read,
    Write,
    SetLen,
    Sync,
}

#[derive(Debug, Default)]
struct State {
    live: Vec<u8>,
    durable: Vec<u8>,
    /// Mutations since the last successful sync.
    pending: Vec<Op>,
    log: Option<Vec<Op>>,
    calls: u64,
    fault: Option<Fault>,
    injected: u64,
    /// Disk full: the file may not grow past this.
    max_len: Option<u64>,
    refused: u64,
    syncs: u64,
}

/// See the module documentation. Clones share the same disk.
#[derive(Debug, Clone, Default)]
pub struct SimBackend(Arc<Mutex<State>>);

pub fn apply(image: &mut Vec<u8>, op: &Op) {
    match op {
        Op::Write(offset, data) => {
            let end = *offset as usize + data.len();
            if image.len() < end {
                image.resize(end, 0);
            }
            image[*offset as usize..end].copy_from_slice(data);
        }
        Op::SetLen(len) => image.resize(*len as usize, 0),
        Op::Sync => {}
    }
}

/// Applies a random subset of a write's 512-byte sectors (by absolute offset): a torn write.
pub fn apply_torn(image: &mut Vec<u8>, op: &Op, rng: &mut Rng) -> bool {
    let Op::Write(offset, data) = op else {
        apply(image, op);
        return false;
    };
    let mut torn = false;
    let mut at = *offset;
    let end = offset + data.len() as u64;
    while at < end {
        let next = ((at / SECTOR) + 1) * SECTOR;
        let next = next.min(end);
        if rng.chance(1, 2) {
            let from = (at - offset) as usize;
            let to = (next - offset) as usize;
            apply(image, &Op::Write(at, data[from..to].to_vec()));
        } else {
            torn = true;
        }
        at = next;
    }
    torn
}

impl SimBackend {
    pub fn new() -> Self {
        SimBackend::default()
    }

    /// A disk holding `image`, all of it durable.
    pub fn from_image(image: &[u8]) -> Self {
        let s = SimBackend::default();
        {
            let mut st = s.state();
            st.live = image.to_vec();
            st.durable = image.to_vec();
        }
        s
    }

    /// Records every mutating call from now on.
    pub fn recording(self) -> Self {
        self.state().log = Some(Vec::new());
        self
    }

    pub fn set_fault(&self, fault: Option<Fault>) {
        self.state().fault = fault;
    }

    /// Disk full: growing the file past `len` fails with `ENOSPC` (`None`: no limit).
    pub fn set_max_len(&self, len: Option<u64>) {
        self.state().max_len = len;
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Calls counted so far (reads, writes, `set_len`s, syncs).
    pub fn calls(&self) -> u64 {
        self.state().calls
    }

    /// Faults injected so far.
    pub fn injected(&self) -> u64 {
        self.state().injected
    }

    /// Growths refused for a full disk so far.
    pub fn refused(&self) -> u64 {
        self.state().refused
    }

    pub fn syncs(&self) -> u64 {
        self.state().syncs
    }

    pub fn len_now(&self) -> u64 {
        self.state().live.len() as u64
    }

    /// Length of the log so far: a position to crash at.
    pub fn log_len(&self) -> usize {
        self.state().log.as_ref().map_or(0, Vec::len)
    }

    pub fn log(&self) -> Vec<Op> {
        self.state().log.clone().unwrap_or_default()
    }

    /// What survives a power loss now: the bytes of the last completed sync.
    pub fn durable_image(&self) -> Vec<u8> {
        self.state().durable.clone()
    }

    /// What survives the death of the process (the page cache survives): every write.
    pub fn live_image(&self) -> Vec<u8> {
        self.state().live.clone()
    }

    fn check(&self, st: &mut State, call: Call) -> io::Result<()> {
        st.calls += 1;
        if let Some(f) = st.fault {
            let hit = st.calls == f.at
                || (f.sticky && st.calls > f.at && (f.errno != ENOSPC || call != Call::Read));
            if hit {
                st.injected += 1;
                return Err(io::Error::from_raw_os_error(f.errno));
            }
        }
        Ok(())
    }

    fn record(st: &mut State, op: Op) {
        if let Some(log) = &mut st.log {
            log.push(op.clone());
        }
        if !matches!(op, Op::Sync) {
            st.pending.push(op);
        }
    }

    fn refuse_growth(st: &mut State, new_len: u64) -> io::Result<()> {
        if let Some(max) = st.max_len {
            if new_len > max && new_len > st.live.len() as u64 {
                st.refused += 1;
                return Err(io::Error::from_raw_os_error(ENOSPC));
            }
        }
        Ok(())
    }
}

impl redb::StorageBackend for SimBackend {
    fn len(&self) -> io::Result<u64> {
        Ok(self.state().live.len() as u64)
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> io::Result<()> {
        let mut st = self.state();
        self.check(&mut st, Call::Read)?;
        let start = offset as usize;
        let end = start + out.len();
        if end > st.live.len() {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "read past the end of the file",
            ));
        }
        out.copy_from_slice(&st.live[start..end]);
        Ok(())
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        let mut st = self.state();
        self.check(&mut st, Call::SetLen)?;
        Self::refuse_growth(&mut st, len)?;
        st.live.resize(len as usize, 0);
        Self::record(&mut st, Op::SetLen(len));
        Ok(())
    }

    fn sync_data(&self) -> io::Result<()> {
        let mut st = self.state();
        self.check(&mut st, Call::Sync)?;
        let pending = std::mem::take(&mut st.pending);
        for op in &pending {
            apply(&mut st.durable, op);
        }
        st.syncs += 1;
        Self::record(&mut st, Op::Sync);
        Ok(())
    }

    fn write(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        let mut st = self.state();
        self.check(&mut st, Call::Write)?;
        Self::refuse_growth(&mut st, offset + data.len() as u64)?;
        let op = Op::Write(offset, data.to_vec());
        apply(&mut st.live, &op);
        Self::record(&mut st, op);
        Ok(())
    }
}
