//! Versions of the library and of its ABI.

use std::ffi::{c_char, CStr};

use crate::boundary::value;
use crate::TESSERA_ABI_VERSION;

const VERSION: &CStr =
    match CStr::from_bytes_with_nul(concat!(env!("CARGO_PKG_VERSION"), "\0").as_bytes()) {
        Ok(v) => v,
        Err(_) => panic!("the package version contains a NUL"),
    };

/// The version of the library, e.g. `"0.1.0"`: a static NUL-terminated string, never freed.
#[no_mangle]
pub extern "C" fn tessera_version() -> *const c_char {
    value(c"".as_ptr(), || VERSION.as_ptr())
}

/// The ABI version of the library. Compare it with `TESSERA_ABI_VERSION` from the header you
/// compiled against, and refuse to run on a mismatch.
#[no_mangle]
pub extern "C" fn tessera_abi_version() -> u32 {
    TESSERA_ABI_VERSION
}
