//! The record decoder: `decode_record` never panics, `record_round_trip` holds.
#![no_main]

#[path = "../../tests/reliability/mod.rs"]
mod reliability;

libfuzzer_sys::fuzz_target!(|data: &[u8]| reliability::targets::record_decoder(data));
