//! Operation sequences on an in-memory store, checked against a reference model.
#![no_main]

#[path = "../../tests/reliability/mod.rs"]
#[allow(dead_code, unused_imports)]
mod reliability;

libfuzzer_sys::fuzz_target!(|data: &[u8]| reliability::targets::operations(data));
