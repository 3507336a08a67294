//! Rust tests of the shims that C cannot reach: version constants, a caught panic, a call held
//! open on one handle while others are used.

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

#[test]
fn a_token_longer_than_any_input_is_malformed_not_a_usage_error() {
    let store = open_in_memory();
    let huge = vec![b'a'; TESSERA_MAX_INPUT_LEN + 1];
    let t = huge.as_ptr().cast::<std::ffi::c_char>();
    let mut n = 0usize;
    // SAFETY: valid handle; the buffer is readable for its length; optional output NULL.
    unsafe {
        assert_eq!(
            tessera_verify(store, t, huge.len(), std::ptr::null_mut()),
            tessera_status::TESSERA_MALFORMED
        );
        assert_eq!(
            tessera_revoke(store, t, huge.len(), &mut n),
            tessera_status::TESSERA_MALFORMED
        );
        // NULL with that length is still the host's mistake.
        assert_ne!(
            tessera_verify(store, std::ptr::null(), huge.len(), std::ptr::null_mut()),
            tessera_status::TESSERA_MALFORMED
        );
        assert_eq!(tessera_store_close(store), tessera_status::TESSERA_OK);
        tessera_store_free(store);
    }
}

/// Opens a store in memory with the default options.
fn open_in_memory() -> *mut tessera_store {
    let mut store = std::ptr::null_mut();
    // SAFETY: valid output pointer.
    let s = unsafe { tessera_store_open_in_memory(std::ptr::null(), &mut store) };
    assert_eq!(s, tessera_status::TESSERA_OK);
    store
}

/// Holds a call open on handle A, ends A with `end` (close or free) on another thread, and
/// checks that calls on handle B, and opening, closing and freeing other handles, go on while
/// `end` waits for the call on A; then that `end` finished only after that call.
///
/// Nothing here depends on timing when the handles are independent: the call on A is held open
/// by a channel, and the probe `handle::waiting_for_calls` says when `end` waits for it. The
/// timeout only turns a stall (the calls on B waiting for the call on A, which is released only
/// afterwards) into a failure instead of a hung test.
fn calls_on_other_handles_go_on_while_a_handle_ends(
    end: fn(usize) -> tessera_status,
    then: tessera_status,
) {
    use std::sync::mpsc;
    use std::thread;
    use tessera_status::*;

    let a = open_in_memory() as usize;
    let b = open_in_memory() as usize;
    let mut request = std::ptr::null_mut();
    // SAFETY: valid text and output.
    let s = unsafe { tessera_request_new_session(c"bob".as_ptr(), 3, &mut request) };
    assert_eq!(s, tessera_status::TESSERA_OK);
    let mut token = [0 as std::ffi::c_char; TESSERA_TOKEN_BUF_LEN];
    let mut token_len = 0usize;
    // SAFETY: live handles, a buffer of the required size.
    let s = unsafe {
        tessera_issue(
            b as *const tessera_store,
            request,
            token.as_mut_ptr(),
            token.len(),
            &mut token_len,
            std::ptr::null_mut(),
        )
    };
    assert_eq!(s, tessera_status::TESSERA_OK);
    // SAFETY: live request, not used afterwards.
    unsafe { tessera_request_free(request) };

    // A long call on A (a backup, a compaction, a wait for another process's lock), held open
    // until released.
    let (entered_tx, entered_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let long_call = thread::spawn(move || {
        boundary::status(|| {
            handle::with_store(a as *const tessera_store, |_| {
                entered_tx.send(()).expect("the test waits");
                release_rx.recv().expect("the test releases the call");
                Ok(())
            })
        })
    });
    entered_rx.recv().expect("the call on A started");
    let waiting = handle::waiting_for_calls(a as *const tessera_store);
    let ending = thread::spawn(move || end(a));
    while !waiting() {
        thread::yield_now();
    }

    let (done_tx, done_rx) = mpsc::channel();
    let others = thread::spawn(move || {
        // SAFETY: a live handle, the token text issued above, live outputs.
        let verified = unsafe {
            tessera_verify(
                b as *const tessera_store,
                token.as_ptr(),
                token_len,
                std::ptr::null_mut(),
            )
        };
        let c = open_in_memory();
        // SAFETY: a live handle, closed then freed once.
        let closed = unsafe { tessera_store_close(c) };
        // SAFETY: as above.
        unsafe { tessera_store_free(c) };
        done_tx.send((verified, closed)).expect("the test waits");
    });
    let answered = done_rx.recv_timeout(std::time::Duration::from_secs(60));
    let ended_early = ending.is_finished();
    release_tx.send(()).expect("the call on A waits");
    assert_eq!(
        answered,
        Ok((TESSERA_OK, TESSERA_OK)),
        "calls on other handles waited for a call in flight on handle A"
    );
    assert!(!ended_early, "handle A ended before its call in flight");
    others.join().expect("no panic");
    assert_eq!(long_call.join().expect("no panic"), TESSERA_OK);
    assert_eq!(ending.join().expect("no panic"), TESSERA_OK);

    let mut now = 0i64;
    // SAFETY: a handle closed or freed above (looked up, never dereferenced); a live output.
    assert_eq!(
        unsafe { tessera_now(a as *const tessera_store, &mut now) },
        then
    );
    // SAFETY: each handle freed once more (a second free is ignored).
    unsafe {
        tessera_store_free(a as *mut tessera_store);
        tessera_store_free(b as *mut tessera_store);
    }
}

#[test]
fn closing_a_handle_waits_for_its_calls_only() {
    calls_on_other_handles_go_on_while_a_handle_ends(
        // SAFETY: a handle is looked up, never dereferenced.
        |a| unsafe { tessera_store_close(a as *mut tessera_store) },
        tessera_status::TESSERA_CLOSED,
    );
}

#[test]
fn freeing_a_handle_waits_for_its_calls_only() {
    calls_on_other_handles_go_on_while_a_handle_ends(
        |a| {
            // SAFETY: a handle is looked up, never dereferenced.
            unsafe { tessera_store_free(a as *mut tessera_store) };
            tessera_status::TESSERA_OK
        },
        tessera_status::TESSERA_INVALID_HANDLE,
    );
}

/// An output pointer that is not aligned for its type (a field of a packed C struct) is written
/// like any other (through an unaligned write: an aligned one there is undefined behaviour,
/// which Miri reports).
#[test]
fn outputs_that_are_not_aligned_are_written() {
    let store = open_in_memory();
    let mut words = [0u64; 2];
    let at = words
        .as_mut_ptr()
        .cast::<u8>()
        .wrapping_add(1)
        .cast::<i64>();
    assert_ne!(at as usize % std::mem::align_of::<i64>(), 0);
    // SAFETY: a live handle; `at` points to 8 writable bytes.
    let s = unsafe { crate::tessera_now(store, at) };
    assert_eq!(s, tessera_status::TESSERA_OK);
    // SAFETY: as above.
    let got = unsafe { at.read_unaligned() };
    assert!(got > 1_600_000_000_000, "{got}");
    // SAFETY: a live handle, freed once.
    unsafe { crate::tessera_store_free(store) };
}
