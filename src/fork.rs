//! Detecting use of a store in a child process after `fork()`.
//!
//! A handle copied into a child by `fork()` shares the parent's file and locks; using it there
//! would corrupt the store. Each store remembers the fork generation it was opened in, and an
//! `atfork` handler bumps the generation in every child, so the check on each call is one atomic
//! load (no `getpid` system call on the verify path).

use std::sync::atomic::{AtomicU64, Ordering};

static GENERATION: AtomicU64 = AtomicU64::new(0);

/// The current fork generation: changes in every child process.
pub(crate) fn generation() -> u64 {
    GENERATION.load(Ordering::Relaxed)
}

#[cfg(unix)]
extern "C" fn in_child() {
    GENERATION.fetch_add(1, Ordering::Relaxed);
}

#[cfg(unix)]
extern "C" {
    fn pthread_atfork(
        prepare: Option<extern "C" fn()>,
        parent: Option<extern "C" fn()>,
        child: Option<extern "C" fn()>,
    ) -> std::ffi::c_int;
}

/// Installs the `atfork` handler once per process.
pub(crate) fn watch() {
    #[cfg(unix)]
    {
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            // SAFETY: registers a handler that only performs an atomic increment, which is
            // async-signal-safe as a child handler must be.
            unsafe {
                pthread_atfork(None, None, Some(in_child));
            }
        });
    }
}
