//! Operation sequences on an in-memory store, checked against a reference model.
#![no_main]

#[path = "../../tests/reliability/mod.rs"]
mod reliability;

libfuzzer_sys::fuzz_target!(|data: &[u8]| reliability::targets::operations(data));
