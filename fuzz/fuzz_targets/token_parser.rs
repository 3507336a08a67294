//! The token parser: `tessera::fuzzing::parse_token` and verify on arbitrary bytes.
#![no_main]

#[path = "../../tests/reliability/mod.rs"]
mod reliability;

libfuzzer_sys::fuzz_target!(|data: &[u8]| reliability::targets::token_parser(data));
