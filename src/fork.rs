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
    crate::store::registry_after_fork();
}

/// Holds the registry of open stores across `fork()`, so that a child never inherits it locked
/// by a thread that does not exist there.
#[cfg(unix)]
extern "C" fn before_fork() {
    crate::store::registry_before_fork();
}

#[cfg(unix)]
extern "C" fn in_parent() {
    crate::store::registry_after_fork();
}

#[cfg(unix)]
extern "C" {
    fn pthread_atfork(
        prepare: Option<extern "C" fn()>,
        parent: Option<extern "C" fn()>,
        child: Option<extern "C" fn()>,
    ) -> std::ffi::c_int;
}

/// Installs the `atfork` handler once per process. A flag rather than a `Once`: a child forked
/// while another thread was inside a `Once` would find it running for ever, and hang in its
/// first open. The price: a thread that finds another installing the handler goes on without
/// waiting, so a `fork()` in that instant (the first opens of a process, racing) is not
/// watched.
pub(crate) fn watch() {
    #[cfg(unix)]
    {
        static INSTALLED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
        if INSTALLED.swap(true, Ordering::AcqRel) {
            return;
        }
        // SAFETY: the handlers take and release one lock and bump an atomic counter; the
        // lock is taken in `prepare` and released in both `parent` and `child`, as
        // `pthread_atfork` intends.
        unsafe {
            pthread_atfork(Some(before_fork), Some(in_parent), Some(in_child));
        }
    }
}
