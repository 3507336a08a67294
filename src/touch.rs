//! Uses recorded by verify, held in memory and written in batches.
//!
//! Verify never writes. When it accepts a token it records "used at `now`" here; the store writes
//! these uses into `last_used_at` (and moves the idle deadline) later:
//!
//! * uses of tokens with an idle timeout are written by the background flusher at least every
//!   [`crate::Options::flush_interval`], in one commit for all of them: that interval is the
//!   bound on how stale an idle extension may be on disk (and so in another process);
//! * uses of other tokens never cause a commit of their own: they ride along with that commit, and
//!   are written by [`crate::Store::flush`] and at close (not with issues or revocations, whose
//!   latency they would add to). When more than [`MAX_PENDING`] of them wait, further ones are
//!   dropped: `last_used_at` of a token without idle timeout is advisory.
//!
//! Within this process an idle extension is seen at once: verify consults this buffer before it
//! declares a token idle.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::sync::Mutex;

use crate::clock::Timestamp;
use crate::token_text::TokenId;

/// Uses of tokens without idle timeout kept at most (about 2.5 MiB).
pub const MAX_PENDING: usize = 65_536;
const SHARDS: usize = 16;

/// A fast hash of a token id: ids are random, but ids that came from elsewhere (an import) need
/// not be, so every byte counts.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            self.0 = (self.0.rotate_left(29) ^ u64::from_le_bytes(w))
                .wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
}

type Map = HashMap<TokenId, Use, BuildHasherDefault<IdHasher>>;

/// One pending use.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Use {
    pub(crate) at: Timestamp,
    /// Whether the token has an idle timeout (its use must reach the disk within the interval).
    pub(crate) idle: bool,
}

#[repr(align(128))]
#[derive(Default)]
struct Shard(Mutex<Map>);

pub(crate) struct Touches {
    /// Uses of tokens with an idle timeout, which must reach the disk within the interval.
    idle: Box<[Shard]>,
    /// Uses of other tokens.
    plain: Box<[Shard]>,
    idle_len: AtomicUsize,
    plain_len: AtomicUsize,
    /// Uses of idle-timeout tokens that a batch took to write, until verify can see the rows it
    /// wrote ([`Self::settle`]): without them, a verify in between judged such a token by its
    /// stored last use, and could find it idle.
    in_flight: Mutex<Map>,
    in_flight_len: AtomicUsize,
    /// Uses (of any token) a batch took and has not settled yet: a flush that finds nothing
    /// pending must still wait for them ([`Self::writing`]).
    taken: AtomicUsize,
}

fn shards() -> Box<[Shard]> {
    (0..SHARDS).map(|_| Shard::default()).collect()
}

impl Touches {
    pub(crate) fn new() -> Self {
        Touches {
            idle: shards(),
            plain: shards(),
            idle_len: AtomicUsize::new(0),
            plain_len: AtomicUsize::new(0),
            in_flight: Mutex::new(Map::default()),
            in_flight_len: AtomicUsize::new(0),
            taken: AtomicUsize::new(0),
        }
    }

    fn side(&self, idle: bool) -> (&[Shard], &AtomicUsize) {
        if idle {
            (&self.idle, &self.idle_len)
        } else {
            (&self.plain, &self.plain_len)
        }
    }

    fn shard<'a>(shards: &'a [Shard], id: &TokenId) -> &'a Mutex<Map> {
        &shards[id.0[15] as usize % SHARDS].0
    }

    /// Records a use.
    pub(crate) fn record(&self, id: TokenId, u: Use) {
        let (shards, len) = self.side(u.idle);
        if !u.idle && len.load(Ordering::Relaxed) >= MAX_PENDING {
            return;
        }
        let mut map = Self::shard(shards, &id).lock();
        match map.get_mut(&id) {
            Some(prev) => {
                if u.at > prev.at {
                    prev.at = u.at;
                }
            }
            None => {
                map.insert(id, u);
                len.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// The latest pending use of `id`, if any (one being written counts until verify sees it).
    pub(crate) fn latest(&self, id: &TokenId) -> Option<Timestamp> {
        let waiting = [true, false].into_iter().find_map(|idle| {
            let (shards, len) = self.side(idle);
            if len.load(Ordering::Relaxed) == 0 {
                return None;
            }
            Self::shard(shards, id).lock().get(id).map(|u| u.at)
        });
        let writing = if self.in_flight_len.load(Ordering::Acquire) == 0 {
            None
        } else {
            self.in_flight.lock().get(id).map(|u| u.at)
        };
        waiting.max(writing)
    }

    /// Whether uses of idle-timeout tokens wait to be written.
    pub(crate) fn idle_pending(&self) -> bool {
        self.idle_len.load(Ordering::Acquire) > 0
    }

    /// How many uses wait.
    pub(crate) fn len(&self) -> usize {
        self.idle_len.load(Ordering::Relaxed) + self.plain_len.load(Ordering::Relaxed)
    }

    /// Whether a batch is writing uses it took (until its [`Self::settle`]).
    pub(crate) fn writing(&self) -> bool {
        self.taken.load(Ordering::Acquire) > 0
    }

    /// Whether anything waits.
    pub(crate) fn is_empty(&self) -> bool {
        !self.idle_pending() && self.plain_len.load(Ordering::Acquire) == 0
    }

    /// Takes up to `limit` pending uses, those of idle-timeout tokens first. Costs what it takes,
    /// not what waits.
    pub(crate) fn take(&self, limit: usize) -> Vec<(TokenId, Use)> {
        // Held while the uses leave their shards, so that `latest` finds each in one place or
        // the other.
        let mut in_flight = self.in_flight.lock();
        // Not zero before the first use leaves its shard: `latest` then looks here.
        self.in_flight_len
            .store(in_flight.len() + 1, Ordering::Release);
        let mut out = Vec::new();
        for idle in [true, false] {
            let (shards, len) = self.side(idle);
            for shard in shards.iter() {
                if out.len() >= limit || len.load(Ordering::Relaxed) == 0 {
                    break;
                }
                let mut map = shard.0.lock();
                let ids: Vec<TokenId> = map.keys().take(limit - out.len()).copied().collect();
                for id in ids {
                    if let Some(u) = map.remove(&id) {
                        // Counted as taken before it stops counting as pending: a flush that
                        // finds nothing pending meanwhile sees a batch writing, and waits for it.
                        self.taken.fetch_add(1, Ordering::Release);
                        len.fetch_sub(1, Ordering::Release);
                        out.push((id, u));
                    }
                }
            }
        }
        in_flight.extend(out.iter().filter(|(_, u)| u.idle).copied());
        self.in_flight_len.store(in_flight.len(), Ordering::Release);
        out
    }

    /// The batch that took `taken` uses is over: verify sees the rows it wrote, or
    /// [`Self::restore`] put them back.
    pub(crate) fn settle(&self, taken: usize) {
        if taken > 0 {
            self.taken.fetch_sub(taken, Ordering::Release);
        }
        if self.in_flight_len.load(Ordering::Acquire) == 0 {
            return;
        }
        let mut in_flight = self.in_flight.lock();
        in_flight.clear();
        self.in_flight_len.store(0, Ordering::Release);
    }

    /// Puts back uses that could not be written (their commit failed), unless newer ones came.
    pub(crate) fn restore(&self, uses: Vec<(TokenId, Use)>) {
        for (id, u) in uses {
            self.record(id, u);
        }
    }
}
