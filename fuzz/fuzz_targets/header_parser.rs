//! The HTTP credential parser: `parse_header` / `parse_authorization` on `name\\nvalue`.
#![no_main]

#[path = "../../tests/reliability/mod.rs"]
mod reliability;

libfuzzer_sys::fuzz_target!(|data: &[u8]| reliability::targets::header_parser(data));
