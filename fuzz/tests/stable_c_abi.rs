//! The C ABI call-sequence target on a stable toolchain: random call sequences through the same
//! body as the cargo-fuzz target `c_abi`, for `TESSERA_FUZZ_SECONDS` seconds (default 2). Run
//! with `cargo test --manifest-path fuzz/Cargo.toml --no-default-features`.

#[path = "../../tests/reliability/c_abi.rs"]
mod c_abi;

use std::time::{Duration, Instant};

/// SplitMix64, seeded from `TESSERA_SEED` or the clock.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

#[test]
fn stable_fuzz_c_abi_call_sequences() {
    let seed = std::env::var("TESSERA_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    let budget = Duration::from_secs_f64(
        std::env::var("TESSERA_FUZZ_SECONDS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(2.0),
    );
    let mut rng = Rng(seed);
    let start = Instant::now();
    let (mut inputs, mut calls) = (0usize, 0usize);
    while inputs < 300 || start.elapsed() < budget {
        // Open a store and issue into it first most of the time, so that calls reach it.
        let mut data: Vec<u8> = if !rng.next().is_multiple_of(5) {
            vec![0, 3, 0, 4, 0, 3, 0, 0, 0]
        } else {
            Vec::new()
        };
        let n = (rng.next() % 300) as usize;
        data.extend((0..n).map(|_| rng.next() as u8));
        let result = std::panic::catch_unwind(|| c_abi::run(&data));
        match result {
            Ok(c) => calls += c,
            Err(_) => panic!(
                "C ABI call sequence failed (seed {seed}); input: {}",
                data.iter().map(|b| format!("{b:02x}")).collect::<String>()
            ),
        }
        inputs += 1;
    }
    eprintln!(
        "stable fuzz C ABI call sequences: {inputs} sequences, {calls} calls in {:.1} s, 0 \
         failures (seed {seed})",
        start.elapsed().as_secs_f64()
    );
}
