//! Opening and using a damaged store file (mutations of a small store's bytes) returns errors,
//! never panics. Known core bugs are counted, not crashes, unless `TESSERA_FUZZ_STRICT=1`.
#![no_main]

#[path = "../../tests/reliability/mod.rs"]
mod reliability;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = reliability::targets::open_mutated(data);
});
