"""tessera: an embeddable token store (Python binding over libtessera's C ABI).

>>> import tessera
>>> with tessera.Store.in_memory() as store:
...     login = store.issue_session("alice", tenant="acme", ttl=3_600_000)
...     outcome = store.verify(login.token)
...     print(outcome.valid, outcome.record.subject)
...     store.revoke(login.token)
...     print(store.verify(login.token).rejection)
True alice
1
revoked

Errors are subclasses of :class:`TesseraError`, one per status of the C ABI; a rejected token
is not an error for :meth:`Store.verify`, which returns an :class:`Outcome`.
"""

from __future__ import annotations

from . import _convert, _native
from ._convert import NEVER, Duration, Instant
from .clock import Clock
from .credentials import Credential, Scheme, parse_authorization, parse_header
from .errors import (
    BadSecret,
    BufferTooSmall,
    ClosedError,
    Corrupt,
    CredentialEmpty,
    CredentialError,
    CredentialTooLong,
    DiskFull,
    Exhausted,
    Expired,
    ForkedChild,
    Idle,
    InternalError,
    InvalidArgument,
    InvalidCharacter,
    InvalidHandle,
    InvalidUtf8,
    IoError,
    LibraryFault,
    LimitReached,
    Locked,
    Malformed,
    MissingToken,
    NewerSchema,
    NotAStore,
    NotFound,
    NullArgument,
    OptionsConflict,
    PanicError,
    PepperMismatch,
    PoisonedError,
    RandomError,
    Rejected,
    Revoked,
    ReuseDetected,
    ScopeDenied,
    Status,
    StorageError,
    StoreError,
    TenantMismatch,
    TesseraError,
    UnknownScheme,
    UnknownToken,
    UnsupportedHeader,
    UnterminatedQuote,
    UsageError,
)
from .records import (
    CapPolicy,
    Counts,
    Event,
    EventKind,
    Issued,
    Kind,
    Outcome,
    Purge,
    Record,
    Rejection,
    Renewal,
    Replacement,
    RevokeReason,
    Stats,
)
from .store import Concurrency, Durability, Store

#: The ABI version this binding needs; the library's must be equal (checked at import).
ABI_VERSION: int = _native.ABI_VERSION
#: The longest token text, in bytes.
MAX_TOKEN_LEN: int = _native.MAX_TOKEN_LEN
#: The length of a token id.
ID_LEN: int = _native.ID_LEN


def version() -> str:
    """The version of the loaded libtessera, e.g. ``"0.1.0"``."""
    return str(_native.lib.tessera_version().decode("ascii"))


def abi_version() -> int:
    """The ABI version of the loaded libtessera (equal to :data:`ABI_VERSION`)."""
    return int(_native.lib.tessera_abi_version())


def status_name(status: int) -> str:
    """The stable lower-case name of a status number (``"unrecognized_status"`` if none).

    A number outside the C type ``tessera_status`` (an ``int32_t``) raises
    :class:`InvalidArgument` instead of being wrapped (``2**32 + 6`` is not 6, ``"revoked"``).
    """
    return _native.status_name(_convert.i32(status, "status"))


__version__ = "0.1.0"

__all__ = [
    "ABI_VERSION", "ID_LEN", "MAX_TOKEN_LEN", "NEVER", "Duration", "Instant",
    "version", "abi_version", "status_name",
    "Store", "Durability", "Concurrency", "Clock",
    "Record", "Issued", "Outcome", "Rejection", "Renewal", "Purge", "Stats", "Counts", "Kind",
    "RevokeReason", "Replacement", "CapPolicy", "Event", "EventKind", "Credential", "Scheme", "parse_header", "parse_authorization",
    "Status", "TesseraError", "Rejected", "CredentialError", "UsageError", "StoreError",
    "LibraryFault", "Malformed", "UnknownToken", "BadSecret", "Expired", "Idle", "Revoked",
    "Exhausted", "ScopeDenied", "TenantMismatch", "ReuseDetected", "NotFound", "LimitReached",
    "CredentialEmpty", "UnsupportedHeader", "UnknownScheme", "MissingToken",
    "UnterminatedQuote", "InvalidCharacter", "CredentialTooLong", "NullArgument",
    "InvalidArgument", "InvalidUtf8", "BufferTooSmall", "InvalidHandle", "ClosedError",
    "ForkedChild", "NotAStore", "Corrupt", "Locked", "NewerSchema", "PepperMismatch",
    "OptionsConflict", "DiskFull", "IoError", "StorageError", "RandomError", "InternalError",
    "PanicError", "PoisonedError",
]
