//! Shared machinery of the reliability tests (`tests/reliability_*.rs`): a seeded random source,
//! the token text format re-implemented from its documentation (to forge tokens with chosen
//! secrets), a simulated storage backend that records, tears and fails I/O, and a workload with
//! the checker of what a store must hold after a crash or a fault.
//!
//! Every test prints counts. Short versions run by default (CI); `TESSERA_RELIABILITY_LONG=1`
//! runs the long ones. `TESSERA_SEED=<n>` replays a run (each test prints its seed).
#![allow(dead_code)]

pub mod forge;
pub mod model;
pub mod sim;
pub mod targets;
pub mod workload;

use std::time::{SystemTime, UNIX_EPOCH};

/// Whether the long versions were asked for.
pub fn long() -> bool {
    std::env::var("TESSERA_RELIABILITY_LONG").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// `short` in CI, `long` with `TESSERA_RELIABILITY_LONG=1` (or `soak`).
pub fn scale<T>(short: T, long_value: T) -> T {
    if long() {
        long_value
    } else {
        short
    }
}

/// Whether the soak sizes were asked for (`TESSERA_RELIABILITY_LONG=soak`, by `scripts/soak`).
pub fn soak() -> bool {
    std::env::var("TESSERA_RELIABILITY_LONG").is_ok_and(|v| v == "soak")
}

/// Like [`scale`], with a third size for `scripts/soak`.
pub fn scale3<T>(short: T, long_value: T, soak_value: T) -> T {
    if soak() {
        soak_value
    } else {
        scale(short, long_value)
    }
}

/// The seed of a test: `TESSERA_SEED` if set, else the clock. Printed so a failure can be
/// replayed.
pub fn seed(test: &str) -> u64 {
    let s = std::env::var("TESSERA_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        });
    eprintln!("{test}: seed {s} (replay with TESSERA_SEED={s})");
    s
}

/// SplitMix64: small, fast, seedable; good enough to pick test inputs (never for secrets).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    pub fn index(&mut self, n: usize) -> usize {
        self.below(n as u64) as usize
    }

    /// True with probability `num / den`.
    pub fn chance(&mut self, num: u64, den: u64) -> bool {
        self.below(den) < num
    }

    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }

    /// Up to `max - 1` random bytes.
    pub fn bytes_upto(&mut self, max: usize) -> Vec<u8> {
        let n = self.index(max);
        self.bytes(n)
    }

    pub fn bytes(&mut self, n: usize) -> Vec<u8> {
        let mut v = vec![0; n];
        self.fill(&mut v);
        v
    }
}

/// Percentile (0..=100) of sorted values.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p / 100.0).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}
