//! Store handles: a registry of the open stores, keyed by the value of the `tessera_store*`
//! pointer, so that a handle is checked before it is used and never dereferenced.
//!
//! * The pointer given to C is a number that is never reused, not an address. A call looks it
//!   up in the registry: an unknown or freed handle is `TESSERA_INVALID_HANDLE` instead of
//!   undefined behaviour, a closed one is `TESSERA_CLOSED`, one opened before `fork()` and used
//!   in the child is `TESSERA_FORKED_CHILD`.
//! * The registry's lock is held only to look a handle up (a shared lock, for the time of a map
//!   lookup and a reference count increment) or to add or remove one (exclusively, as briefly).
//!   It is never held during a call: a long call (a backup, a compaction, a write waiting for
//!   another process's file lock) holds up nothing on other handles, nor any open, close, free
//!   or fork.
//! * Each handle has its own lock: every call on the handle holds it shared for its whole
//!   duration, `close` and `free` take it exclusively for a moment. So closing or freeing a
//!   handle waits for the calls in flight on that handle (and on no other), and a call that
//!   starts afterwards answers `TESSERA_CLOSED` (or `TESSERA_INVALID_HANDLE`): closing races
//!   nothing.
//! * `fork()`: a `pthread_atfork` handler takes the registry's lock exclusively before the fork
//!   and releases it in both processes after it, so the child never inherits it held by a
//!   thread that does not exist there. The child handler also moves the fork generation on,
//!   which marks every inherited handle; the child never takes an inherited handle's own lock
//!   (a call in flight in the parent may have held it at the fork), it only reads the handle's
//!   atomics and, when freeing it, drops its reference. The core's own `atfork` handler takes
//!   the core's registry of open files; the two `prepare` handlers run in the reverse order of
//!   their installation (on Linux the core's first, this one being installed at load), so the
//!   two locks are taken in either order. That cannot deadlock because no other code holds
//!   either lock while taking the other (a
//!   handle's store is dropped outside this registry's lock), and a handle's lock is never held
//!   together with the registry's.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use tessera::Store;

use crate::boundary::panic_fault;
use crate::status::{tessera_status, Fault};

use tessera_status::*;

/// An open store. Opaque: the pointer is a handle checked by the library, never an address to
/// dereference. Safe to share between threads: any number of threads may call any function on
/// one handle at the same time, `tessera_store_close` and `tessera_store_free` included (they
/// wait for the calls in flight on this handle, and on no other; later calls answer
/// `TESSERA_CLOSED`, or `TESSERA_INVALID_HANDLE` once freed).
pub struct tessera_store {
    _private: [u8; 0],
}

/// The phases of a handle, in [`Slot::phase`].
const OPEN: u8 = 0;
const CLOSED: u8 = 1;
const FREED: u8 = 2;

/// One handle: its store behind the handle's own lock, and what a call checks without taking
/// that lock.
struct Slot {
    /// `None` once closed or freed. Calls hold the lock shared for their whole duration; close
    /// and free take it exclusively to take the store out.
    store: RwLock<Option<Store>>,
    /// `OPEN`, `CLOSED` or `FREED`; changed only with `store` locked exclusively, and never
    /// back to `OPEN`.
    phase: AtomicU8,
    /// The fork generation the handle was opened in.
    generation: u64,
    /// Set when a call on this handle panicked.
    poisoned: AtomicBool,
    /// How many closes and frees are waiting for the calls in flight (for the tests).
    #[cfg(test)]
    ending: AtomicUsize,
}

impl Slot {
    /// The fault of a handle that is no longer open, by its phase.
    fn gone(&self) -> Fault {
        match self.phase.load(Ordering::Acquire) {
            FREED => invalid_handle(),
            _ => closed(),
        }
    }

    /// The handle's lock, exclusively. Nothing panics while holding it (a panic of a call is
    /// caught inside the shared lock); should it happen, the slot is still consistent.
    fn lock_exclusive(&self) -> RwLockWriteGuard<'_, Option<Store>> {
        #[cfg(test)]
        self.ending.fetch_add(1, Ordering::SeqCst);
        let guard = self.store.write().unwrap_or_else(PoisonError::into_inner);
        #[cfg(test)]
        self.ending.fetch_sub(1, Ordering::SeqCst);
        guard
    }
}

type Registry = BTreeMap<usize, Arc<Slot>>;

static REGISTRY: RwLock<Registry> = RwLock::new(BTreeMap::new());
static NEXT_KEY: AtomicUsize = AtomicUsize::new(1);
static GENERATION: AtomicU64 = AtomicU64::new(0);

fn read() -> RwLockReadGuard<'static, Registry> {
    // Nothing panics while holding the lock; should it happen, the map is still consistent
    // (every change is a single insert or remove).
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

/// The slot of a handle: the registry's lock is held for the lookup only.
fn slot(handle: *const tessera_store) -> Result<Arc<Slot>, Fault> {
    if handle.is_null() {
        return Err(null_store());
    }
    let found = read().get(&(handle as usize)).cloned();
    found.ok_or_else(invalid_handle)
}

/// Registers an open store and returns its handle.
pub(crate) fn insert(store: Store) -> *mut tessera_store {
    watch_fork();
    let key = NEXT_KEY.fetch_add(1, Ordering::Relaxed);
    let slot = Arc::new(Slot {
        store: RwLock::new(Some(store)),
        phase: AtomicU8::new(OPEN),
        generation: GENERATION.load(Ordering::Relaxed),
        poisoned: AtomicBool::new(false),
        #[cfg(test)]
        ending: AtomicUsize::new(0),
    });
    write().insert(key, slot);
    key as *mut tessera_store
}

/// Runs `f` with the store of a live handle, holding that handle's lock shared (and not the
/// registry's).
pub(crate) fn with_store<T>(
    handle: *const tessera_store,
    f: impl FnOnce(&Store) -> Result<T, Fault>,
) -> Result<T, Fault> {
    let slot = slot(handle)?;
    if slot.phase.load(Ordering::Acquire) != OPEN {
        return Err(slot.gone());
    }
    // Checked before the handle's lock: in a forked child, a thread of the parent that does
    // not exist here may have held it at the fork.
    if slot.generation != GENERATION.load(Ordering::Relaxed) {
        return Err(forked());
    }
    if slot.poisoned.load(Ordering::Relaxed) {
        return Err(Fault::new(
            TESSERA_POISONED,
            "an earlier call on this store handle panicked; close it and open the store again",
        ));
    }
    // A panic of `f` is caught below, inside the lock: it is never poisoned by a call.
    let guard = slot.store.read().unwrap_or_else(PoisonError::into_inner);
    // Closed or freed while this call waited for the lock.
    let store = guard.as_ref().ok_or_else(|| slot.gone())?;
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(store))) {
        Ok(result) => result,
        Err(payload) => {
            slot.poisoned.store(true, Ordering::Relaxed);
            Err(panic_fault(payload.as_ref()))
        }
    }
}

/// Closes a handle: waits for the calls in flight on it, then closes the store (writing pending
/// uses if it is the last handle on its file). The handle stays registered, answering
/// `TESSERA_CLOSED`, until it is freed.
pub(crate) fn close(handle: *const tessera_store) -> Result<(), Fault> {
    let slot = slot(handle)?;
    if slot.phase.load(Ordering::Acquire) != OPEN {
        return Err(slot.gone());
    }
    if slot.generation != GENERATION.load(Ordering::Relaxed) {
        // The parent owns the file: leave the inherited store alone until it is freed.
        return Err(forked());
    }
    let store = {
        let mut guard = slot.lock_exclusive();
        let store = guard.take().ok_or_else(|| slot.gone())?;
        slot.phase.store(CLOSED, Ordering::Release);
        store
    };
    // Closed outside the lock: a call that waited for it answers `TESSERA_CLOSED` at once.
    store.close().map_err(Fault::from)
}

/// Forgets a handle, closing its store if it is open (errors are lost: call close first to see
/// them). In a forked child, the inherited store is released without touching the parent's
/// file. Unknown handles are ignored.
pub(crate) fn free(handle: *const tessera_store) {
    if handle.is_null() {
        return;
    }
    let Some(slot) = write().remove(&(handle as usize)) else {
        return;
    };
    if slot.generation != GENERATION.load(Ordering::Relaxed) {
        // An inherited handle: its lock may have been held at the fork by a thread that does
        // not exist here, so it is not taken. Dropping the last reference releases the store
        // (the core leaves a parent's file alone in a child); a reference held by such a
        // thread keeps it, leaked, which is all that can be done with it.
        drop(slot);
        return;
    }
    let store = {
        let mut guard = slot.lock_exclusive();
        slot.phase.store(FREED, Ordering::Release);
        guard.take()
    };
    // Dropped outside every lock: dropping the last handle of a file writes pending uses.
    drop(store);
}

/// A probe of `handle` (taken now, so that it outlives a free): whether a close or a free of
/// the handle waits for the calls in flight on it (for the tests).
#[cfg(test)]
pub(crate) fn waiting_for_calls(handle: *const tessera_store) -> impl Fn() -> bool {
    let found = read().get(&(handle as usize)).cloned();
    move || {
        found
            .as_ref()
            .is_some_and(|slot| slot.ending.load(Ordering::SeqCst) > 0)
    }
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

/// Installs the fork handlers once: when the library is loaded (on Linux, see `INSTALL_AT_LOAD`),
/// else when the first store is registered. A flag rather than a `Once`: a child forked while
/// another thread was inside a `Once` would find it running for ever, and hang in its first open.
fn watch_fork() {
    static INSTALLED: AtomicBool = AtomicBool::new(false);
    if INSTALLED.swap(true, Ordering::AcqRel) {
        return;
    }
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
}

/// Runs when the library is loaded, before any thread of the host can call it or fork around a
/// first registration.
#[cfg(target_os = "linux")]
#[used]
#[link_section = ".init_array"]
static INSTALL_AT_LOAD: extern "C" fn() = {
    extern "C" fn install() {
        watch_fork();
    }
    install
};
