//! The HTTP credential parser: `parse_header` / `parse_authorization` on `name\\nvalue`.
#![no_main]

#[path = "../../tests/reliability/mod.rs"]
#[allow(dead_code, unused_imports)]
mod reliability;

libfuzzer_sys::fuzz_target!(|data: &[u8]| reliability::targets::header_parser(data));
