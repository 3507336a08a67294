//! Sequences of C ABI calls with arbitrary, NULL, oversized and mutated inputs, closed, freed
//! and forged handles: every call returns its documented status.
#![no_main]

#[path = "../../tests/reliability/c_abi.rs"]
mod c_abi;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    c_abi::run(data);
});
