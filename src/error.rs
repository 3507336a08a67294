//! Errors: one enum for the crate, whose messages say what to do.
//!
//! No message ever contains a token's text or secret: errors name tokens by their public id.

use std::fmt;
use std::io;

use crate::verify::Rejection;

/// Everything that can go wrong in tessera, except a token that does not verify (that is an
/// [`crate::Outcome`], not an error).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// An argument was out of bounds or ill-formed; the message says which and why.
    InvalidArgument(String),
    /// The token given to an operation that needs a valid token (renew, revoke by text) is not
    /// valid.
    Rejected(Rejection),
    /// No token has this id.
    NotFound,
    /// A limit would be exceeded (the per-subject cap with the refuse policy); the message says
    /// which.
    LimitReached(String),
    /// The file exists but is not a tessera store.
    NotAStore(String),
    /// The file is damaged; the message says where.
    Corrupt(String),
    /// Another process has the store open and the concurrency mode does not allow sharing it.
    Locked(String),
    /// The file was written by a newer version of tessera.
    NewerSchema {
        /// The schema version in the file.
        found: u32,
        /// The newest version this library understands.
        supported: u32,
    },
    /// The store was created with a pepper and none, or another one, was given (or the reverse).
    Pepper(String),
    /// The same file is already open in this process with other options.
    OptionsConflict(String),
    /// The disk is full. Reading and revoking may still work; see the message.
    DiskFull(String),
    /// An input/output error from the operating system. A store on a file or a backend does not
    /// stay broken by one: the next writes open its database again once the storage answers.
    Io(String),
    /// An error inside the storage engine.
    Storage(String),
    /// The store was closed. The Rust API cannot produce it ([`crate::Store::close`] takes the
    /// handle); the C ABI answers it for a closed handle (`TESSERA_CLOSED`).
    Closed,
    /// The handle was opened before `fork()` and used in the child; open the store again in the
    /// child.
    ForkedChild,
    /// The random source of the operating system failed.
    Random(String),
    /// A bug in tessera; please report it with the message.
    Internal(String),
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidArgument(m) => write!(f, "invalid argument: {m}"),
            Error::Rejected(r) => write!(f, "the token is not valid: {r}"),
            Error::NotFound => f.write_str("no token has this id"),
            Error::LimitReached(m) => write!(f, "limit reached: {m}"),
            Error::NotAStore(m) => write!(f, "not a tessera store: {m}"),
            Error::Corrupt(m) => write!(
                f,
                "the store is corrupt ({m}); restore it from a backup"
            ),
            Error::Locked(m) => write!(
                f,
                "the store is in use by another process ({m}); close it there, or open both with the multi-process concurrency mode"
            ),
            Error::NewerSchema { found, supported } => write!(
                f,
                "the store has schema version {found}, but this tessera understands up to {supported}: upgrade tessera"
            ),
            Error::Pepper(m) => write!(f, "pepper: {m}"),
            Error::OptionsConflict(m) => write!(
                f,
                "the store is already open in this process with other options: {m}"
            ),
            Error::DiskFull(m) => write!(f, "the disk is full: {m}"),
            Error::Io(m) => write!(f, "input/output error: {m}"),
            Error::Storage(m) => write!(f, "storage error: {m}"),
            Error::Closed => f.write_str("the store is closed"),
            Error::ForkedChild => f.write_str(
                "this handle was opened before fork() and cannot be used in the child process; open the store again in the child",
            ),
            Error::Random(m) => write!(f, "the operating system's random source failed: {m}"),
            Error::Internal(m) => write!(f, "internal error (a bug in tessera): {m}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        if e.kind() == io::ErrorKind::StorageFull || e.raw_os_error() == Some(28) {
            Error::DiskFull(e.to_string())
        } else {
            Error::Io(e.to_string())
        }
    }
}

impl From<getrandom::Error> for Error {
    fn from(e: getrandom::Error) -> Self {
        Error::Random(e.to_string())
    }
}

thread_local! {
    /// Set when an input/output error of the storage engine was converted on this thread (see
    /// [`take_engine_io`]).
    static ENGINE_IO: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Whether an input/output error of the storage engine (a failed read, write or sync, or the
/// refusal redb answers every later access with) was converted on this thread since the last
/// call. redb latches such an error, reads included: [`crate::Store`] then opens the database
/// again, also when the operation was a read that no write would follow.
pub(crate) fn take_engine_io() -> bool {
    ENGINE_IO.with(|f| f.replace(false))
}

impl From<redb::Error> for Error {
    fn from(e: redb::Error) -> Self {
        if matches!(e, redb::Error::Io(_) | redb::Error::PreviousIo) {
            ENGINE_IO.with(|f| f.set(true));
        }
        match e {
            redb::Error::Io(io) => Error::from(io),
            redb::Error::Corrupted(m) => Error::Corrupt(m),
            redb::Error::DatabaseAlreadyOpen | redb::Error::LockProtocolMismatch => {
                Error::Locked(e.to_string())
            }
            redb::Error::PreviousIo => Error::Io(
                "an earlier input/output error left this store's database unusable: the next operations open it again once the storage answers (at most once a second); durable changes are safe on disk".into(),
            ),
            redb::Error::UpgradeRequired(v) => Error::NotAStore(format!(

                "the file is a redb database of file format {v}, which this storage engine does not read"
            )),
            other => Error::Storage(other.to_string()),
        }
    }
}

impl From<redb::CursorError> for Error {
    fn from(e: redb::CursorError) -> Self {
        match e {
            redb::CursorError::UnorderedKey => {
                Error::Corrupt("a table hands out its rows out of order".into())
            }
            redb::CursorError::Storage(s) => Error::from(redb::Error::from(s)),
            other => Error::Storage(other.to_string()),
        }
    }
}

macro_rules! via_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for Error {
            fn from(e: $t) -> Self {
                Error::from(redb::Error::from(e))
            }
        }
    )*};
}

via_redb!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    redb::CompactionError,
    redb::SetDurabilityError
);
