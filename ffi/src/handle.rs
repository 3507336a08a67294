//! Store handles: a registry of the open stores, keyed by the value of the `tessera_store*`
//! pointer, so that a handle is checked before it is used and never dereferenced.
//!
//! * The pointer given to C is a number that is never reused, not an address. A call looks it
//!   up in the registry: an unknown or freed handle is `TESSERA_INVALID_HANDLE` instead of
//!   undefined behaviour, a closed one is `TESSERA_CLOSED`, one opened before `fork()` and used
//!   in the child is `TESSERA_FORKED_CHILD`.
//! * Every call holds the registry's lock shared for its whole duration; `close`, `free` and
//!   `open` take it exclusively for a moment. So closing or freeing a handle waits for the calls
//!   in flight on it, and a call that starts afterwards answers `TESSERA_CLOSED` (or
//!   `TESSERA_INVALID_HANDLE`): closing races nothing. A shared lock costs one atomic operation
//!   per call.
//! * `fork()`: a `pthread_atfork` handler takes the lock exclusively before the fork (waiting
//!   for the calls in flight) and releases it in both processes after it, so the child never
//!   inherits a lock held by a thread that does not exist there; the child handler also moves
//!   the fork generation on, which marks every inherited handle.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Once, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use tessera::Store;

use crate::boundary::panic_fault;
use crate::status::{tessera_status, Fault};

use tessera_status::*;

/// An open store. Opaque: the pointer is a handle checked by the library, never an address to
/// dereference. Safe to share between threads: any number of threads may call any function on
/// one handle at the same time, `tessera_store_close` and `tessera_store_free` included (they
/// wait for the calls in flight; later calls answer `TESSERA_CLOSED`, or
/// `TESSERA_INVALID_HANDLE` once freed).
pub struct tessera_store {
    _private: [u8; 0],
}

struct Entry {
    /// `None` once closed.
    store: Option<Store>,
    /// The fork generation the handle was opened in.
    generation: u64,
    /// Set when a call on this handle panicked.
    poisoned: AtomicBool,
}

type Registry = BTreeMap<usize, Entry>;

static REGISTRY: RwLock<Registry> = RwLock::new(BTreeMap::new());
static NEXT_KEY: AtomicUsize = AtomicUsize::new(1);
static GENERATION: AtomicU64 = AtomicU64::new(0);

fn read() -> RwLockReadGuard<'static, Registry> {
    // Nothing panics while holding the lock exclusively; should it happen, the map is still
    // consistent (every change is a single insert or remove).
    REGISTRY.read().unwrap_or_else(PoisonError::into_inner)
}

fn write() -> RwLockWriteGuard<'static, Registry> {
    REGISTRY.write().unwrap_or_else(PoisonError::into_inner)
}

fn null_store() -> Fault {
    Fault::new(TESSERA_NULL_ARGUMENT, "the handle `store` is NULL")
}

fn invalid_handle() -> Fault {
    Fault::new(
        TESSERA_INVALID_HANDLE,
        "`store` is not a store handle of this library, or it was freed",
    )
}

fn closed() -> Fault {
    Fault::new(TESSERA_CLOSED, "the store handle was closed")
}

fn forked() -> Fault {
    tessera::Error::ForkedChild.into()
}

/// Registers an open store and returns its handle.
pub(crate) fn insert(store: Store) -> *mut tessera_store {
    watch_fork();
    let key = NEXT_KEY.fetch_add(1, Ordering::Relaxed);
    write().insert(
        key,
        Entry {
            store: Some(store),
            generation: GENERATION.load(Ordering::Relaxed),
            poisoned: AtomicBool::new(false),
        },
    );
    key as *mut tessera_store
}

/// Runs `f` with the store of a live handle, holding the registry lock shared.
pub(crate) fn with_store<T>(
    handle: *const tessera_store,
    f: impl FnOnce(&Store) -> Result<T, Fault>,
) -> Result<T, Fault> {
    if handle.is_null() {
        return Err(null_store());
    }
    let registry = read();
    let entry = registry
        .get(&(handle as usize))
        .ok_or_else(invalid_handle)?;
    let store = entry.store.as_ref().ok_or_else(closed)?;
    if entry.generation != GENERATION.load(Ordering::Relaxed) {
        return Err(forked());
    }
    if entry.poisoned.load(Ordering::Relaxed) {
        return Err(Fault::new(
            TESSERA_POISONED,
            "an earlier call on this store handle panicked; close it and open the store again",
        ));
    }
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(store))) {
        Ok(result) => result,
        Err(payload) => {
            entry.poisoned.store(true, Ordering::Relaxed);
            Err(panic_fault(payload.as_ref()))
        }
    }
}

/// Closes a handle: waits for the calls in flight, then closes the store (writing pending uses
/// if it is the last handle on its file). The handle stays registered, answering
/// `TESSERA_CLOSED`, until it is freed.
pub(crate) fn close(handle: *const tessera_store) -> Result<(), Fault> {
    if handle.is_null() {
        return Err(null_store());
    }
    let store = {
        let mut registry = write();
        let entry = registry
            .get_mut(&(handle as usize))
            .ok_or_else(invalid_handle)?;
        if entry.store.is_none() {
            return Err(closed());
        }
        if entry.generation != GENERATION.load(Ordering::Relaxed) {
            // The parent owns the file: leave the inherited store alone until it is freed.
            return Err(forked());
        }
        entry.store.take()
    };
    match store {
        Some(store) => store.close().map_err(Fault::from),
        None => Err(closed()),
    }
}

/// Forgets a handle, closing its store if it is open (errors are lost: call close first to see
/// them). In a forked child, the inherited store is released without touching the file.
/// Unknown handles are ignored.
pub(crate) fn free(handle: *const tessera_store) {
    if handle.is_null() {
        return;
    }
    let entry = write().remove(&(handle as usize));
    // Dropped outside the lock: dropping the last handle of a file writes pending uses.
    drop(entry);
}

thread_local! {
    /// The registry lock, held exclusively by the forking thread across `fork()`.
    static HELD_ACROSS_FORK: RefCell<Option<RwLockWriteGuard<'static, Registry>>> =
        const { RefCell::new(None) };
}

extern "C" fn before_fork() {
    let guard = write();
    HELD_ACROSS_FORK.with(|held| *held.borrow_mut() = Some(guard));
}

extern "C" fn after_fork_in_parent() {
    HELD_ACROSS_FORK.with(|held| drop(held.borrow_mut().take()));
}

extern "C" fn after_fork_in_child() {
    GENERATION.fetch_add(1, Ordering::Relaxed);
    HELD_ACROSS_FORK.with(|held| drop(held.borrow_mut().take()));
}

#[cfg(unix)]
extern "C" {
    fn pthread_atfork(
        prepare: Option<extern "C" fn()>,
        parent: Option<extern "C" fn()>,
        child: Option<extern "C" fn()>,
    ) -> std::ffi::c_int;
}

/// Installs the fork handlers once, when the first store is registered.
fn watch_fork() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        #[cfg(unix)]
        // SAFETY: the handlers only take or release the registry lock and bump an atomic
        // counter; they run on the forking thread, which holds no tessera lock at that moment
        // (no tessera call forks).
        unsafe {
            pthread_atfork(
                Some(before_fork),
                Some(after_fork_in_parent),
                Some(after_fork_in_child),
            );
        }
        #[cfg(not(unix))]
        let _ = (before_fork, after_fork_in_parent, after_fork_in_child);
    });
}
