//! Opening and using a damaged store file (mutations of a small store's bytes) returns errors,
//! never panics: a panic that reaches the caller is a crash.
//!
//! The base image is built once per process from a fresh store (random ids and secrets), so a
//! crash input reproduces only with the same base; `stable_fuzz_open_a_damaged_store` in
//! `tests/reliability_fuzz_stable.rs` runs the same target on a fixed seed.
#![no_main]

#[path = "../../tests/reliability/mod.rs"]
mod reliability;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    static QUIET: std::sync::Once = std::sync::Once::new();
    // libfuzzer-sys's panic hook aborts on every panic, even one caught: the store catches the
    // storage engine's panics on a damaged file (they become `Error::Corrupt`), so the hook goes,
    // and only a panic that reaches this caller is a crash.
    QUIET.call_once(|| std::panic::set_hook(Box::new(|_| {})));
    if let reliability::targets::Damaged::Panicked(m) = reliability::targets::open_mutated(data) {
        eprintln!("a damaged file made the store panic: {m}");
        std::process::abort();
    }
});
