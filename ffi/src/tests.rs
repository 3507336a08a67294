//! Rust tests of the shims that C cannot reach: version constants, a caught panic.

use super::*;

#[test]
fn version_constants_match_the_package_version() {
    let v = |s: &str| s.parse::<u32>().expect("a number");
    assert_eq!(TESSERA_VERSION_MAJOR, v(env!("CARGO_PKG_VERSION_MAJOR")));
    assert_eq!(TESSERA_VERSION_MINOR, v(env!("CARGO_PKG_VERSION_MINOR")));
    assert_eq!(TESSERA_VERSION_PATCH, v(env!("CARGO_PKG_VERSION_PATCH")));
    // SAFETY: a static NUL-terminated string.
    let text = unsafe { std::ffi::CStr::from_ptr(tessera_version()) };
    assert_eq!(text.to_str().ok(), Some(env!("CARGO_PKG_VERSION")));
}

#[test]
fn a_panic_becomes_a_status_and_poisons_the_handle() {
    let mut store = std::ptr::null_mut();
    // SAFETY: valid output pointer.
    assert_eq!(
        unsafe { tessera_store_open_in_memory(std::ptr::null(), &mut store) },
        tessera_status::TESSERA_OK
    );
    let s = boundary::status(|| {
        handle::with_store(store, |_| -> Result<(), _> { panic!("on purpose") })
    });
    assert_eq!(s, tessera_status::TESSERA_PANIC);
    let mut now = 0i64;
    // SAFETY: valid handle and output.
    assert_eq!(
        unsafe { tessera_now(store, &mut now) },
        tessera_status::TESSERA_POISONED
    );
    // SAFETY: valid handle.
    assert_eq!(
        unsafe { tessera_store_close(store) },
        tessera_status::TESSERA_OK
    );
    // SAFETY: last call on the handle.
    unsafe { tessera_store_free(store) };
}

#[test]
fn every_status_has_a_distinct_name() {
    let mut seen = std::collections::HashSet::new();
    for n in -1..400 {
        // SAFETY: a static NUL-terminated string.
        let name = unsafe { std::ffi::CStr::from_ptr(tessera_status_name(n)) };
        let name = name.to_str().expect("ASCII");
        if name != "unrecognized_status" {
            assert!(seen.insert(name.to_string()), "{name} twice");
        }
    }
    assert_eq!(seen.len(), 40);
}
