"""Exceptions: one class per status of the C ABI, under :class:`TesseraError`.

The classes are grouped as the statuses are numbered:

* :class:`Rejected` (1-10): the token is not valid. :meth:`tessera.Store.verify` returns an
  :class:`tessera.Outcome` for these instead of raising; calls that need a valid token
  (``revoke``, ``renew``) raise them.
* :class:`NotFound` (20): no token has this id; :class:`LimitReached` (21): a per-subject cap
  refused a new token.
* :class:`CredentialError` (30-36): an HTTP header without a usable credential.
* :class:`UsageError` (100-106): a mistake of the caller (a closed store, a bad argument...).
* :class:`StoreError` (200-209): the store file or the system.
* :class:`LibraryFault` (300-302): a bug in tessera.

Every exception has ``status`` (a :class:`Status`) and ``name`` (its stable lower-case name,
e.g. ``"revoked"``); its message is the library's explanation, never a secret.
"""

from __future__ import annotations

import enum
from typing import Dict, Optional, Type


class Status(enum.IntEnum):
    """The statuses of the C ABI (``tessera_status``), with their stable numbers."""

    OK = 0
    MALFORMED = 1
    UNKNOWN_TOKEN = 2
    BAD_SECRET = 3
    EXPIRED = 4
    IDLE = 5
    REVOKED = 6
    EXHAUSTED = 7
    SCOPE_DENIED = 8
    TENANT_MISMATCH = 9
    REUSE_DETECTED = 10
    NOT_FOUND = 20
    LIMIT_REACHED = 21
    CREDENTIAL_EMPTY = 30
    UNSUPPORTED_HEADER = 31
    UNKNOWN_SCHEME = 32
    MISSING_TOKEN = 33
    UNTERMINATED_QUOTE = 34
    INVALID_CHARACTER = 35
    CREDENTIAL_TOO_LONG = 36
    NULL_ARGUMENT = 100
    INVALID_ARGUMENT = 101
    INVALID_UTF8 = 102
    BUFFER_TOO_SMALL = 103
    INVALID_HANDLE = 104
    CLOSED = 105
    FORKED_CHILD = 106
    NOT_A_STORE = 200
    CORRUPT = 201
    LOCKED = 202
    NEWER_SCHEMA = 203
    PEPPER = 204
    OPTIONS_CONFLICT = 205
    DISK_FULL = 206
    IO = 207
    STORAGE = 208
    RANDOM = 209
    INTERNAL = 300
    PANIC = 301
    POISONED = 302

    @property
    def name_text(self) -> str:
        """The stable lower-case name, as ``tessera_status_name`` gives it (``"revoked"``)."""
        return self.name.lower()


class TesseraError(Exception):
    """The base class of every error tessera raises."""

    #: The status this class stands for (None only for the base and group classes).
    status: Optional[Status] = None

    def __init__(self, message: str = "", status: Optional[int] = None) -> None:
        super().__init__(message)
        if status is not None:
            try:
                self.status = Status(status)
            except ValueError:
                self.code = status
        self.message = message

    @property
    def name(self) -> str:
        """The status's stable lower-case name (``"unrecognized_status"`` if unknown)."""
        return self.status.name_text if self.status is not None else "unrecognized_status"

    def __str__(self) -> str:
        return f"{self.message} ({self.name})" if self.message else self.name


# --- groups -------------------------------------------------------------------------------


class Rejected(TesseraError):
    """The token is not valid (statuses 1-10). Answer every one of them with the same 401,
    except :class:`ScopeDenied` and :class:`TenantMismatch` (a valid token, not allowed there):
    403."""


class CredentialError(TesseraError, ValueError):
    """An HTTP header carries no usable credential (statuses 30-36): answer 401."""


class UsageError(TesseraError):
    """A mistake of the caller (statuses 100-106)."""


class StoreError(TesseraError):
    """A problem with the store file or the system (statuses 200-209)."""


class LibraryFault(TesseraError):
    """A fault of the library itself (statuses 300-302): please report it."""


# --- one class per status -------------------------------------------------------------------


class Malformed(Rejected):
    """Not a token of this store's format; rejected without touching storage."""

    status = Status.MALFORMED


class UnknownToken(Rejected):
    """Well-formed, but no token has this id."""

    status = Status.UNKNOWN_TOKEN


class BadSecret(Rejected):
    """The id exists but the secret is wrong."""

    status = Status.BAD_SECRET


class Expired(Rejected):
    """Past its absolute expiry or its maximum lifetime."""

    status = Status.EXPIRED


class Idle(Rejected):
    """Unused for longer than its idle timeout."""

    status = Status.IDLE


class Revoked(Rejected):
    """Revoked."""

    status = Status.REVOKED


class Exhausted(Rejected):
    """A limited-use token whose uses are all spent."""

    status = Status.EXHAUSTED


class ScopeDenied(Rejected):
    """Valid, but without every required scope."""

    status = Status.SCOPE_DENIED


class TenantMismatch(Rejected):
    """Valid, but for another tenant than the required one."""

    status = Status.TENANT_MISMATCH


class ReuseDetected(Rejected):
    """An old token of a rotated family was presented after its grace window."""

    status = Status.REUSE_DETECTED


class NotFound(TesseraError, LookupError):
    """No stored token has this id."""

    status = Status.NOT_FOUND


class LimitReached(TesseraError):
    """A per-subject cap (with the refuse policy) refused a new token."""

    status = Status.LIMIT_REACHED


class CredentialEmpty(CredentialError):
    """The header value is empty or only whitespace."""

    status = Status.CREDENTIAL_EMPTY


class UnsupportedHeader(CredentialError):
    """This header does not carry a token."""

    status = Status.UNSUPPORTED_HEADER


class UnknownScheme(CredentialError):
    """The Authorization scheme is not Token, Bearer or ApiKey."""

    status = Status.UNKNOWN_SCHEME


class MissingToken(CredentialError):
    """A scheme but no token (``Bearer``, ``Token realm=x``)."""

    status = Status.MISSING_TOKEN


class UnterminatedQuote(CredentialError):
    """A quoted token has no closing quote."""

    status = Status.UNTERMINATED_QUOTE


class InvalidCharacter(CredentialError):
    """The token contains whitespace, a control character, a quote, a comma or a backslash."""

    status = Status.INVALID_CHARACTER


class CredentialTooLong(CredentialError):
    """The header value is longer than 4096 bytes."""

    status = Status.CREDENTIAL_TOO_LONG


class NullArgument(UsageError, ValueError):
    """A required pointer was NULL (a bug of the binding if you ever see it)."""

    status = Status.NULL_ARGUMENT


class InvalidArgument(UsageError, ValueError):
    """An argument is out of range or ill-formed; the message says which."""

    status = Status.INVALID_ARGUMENT


class InvalidUtf8(UsageError, ValueError):
    """A text argument is not valid UTF-8."""

    status = Status.INVALID_UTF8


class BufferTooSmall(UsageError):
    """A buffer was smaller than needed (a bug of the binding if you ever see it)."""

    status = Status.BUFFER_TOO_SMALL


class InvalidHandle(UsageError):
    """The store handle is not one the library knows (freed already)."""

    status = Status.INVALID_HANDLE


class ClosedError(UsageError):
    """The store was closed."""

    status = Status.CLOSED


class ForkedChild(UsageError):
    """The store was opened before ``fork()`` and used in the child: open it again there."""

    status = Status.FORKED_CHILD


class NotAStore(StoreError):
    """The file exists but is not a tessera store."""

    status = Status.NOT_A_STORE


class Corrupt(StoreError):
    """The store file is damaged."""

    status = Status.CORRUPT


class Locked(StoreError):
    """Another process has the store open and the concurrency mode does not allow sharing."""

    status = Status.LOCKED


class NewerSchema(StoreError):
    """The file was written by a newer version of tessera."""

    status = Status.NEWER_SCHEMA


class PepperMismatch(StoreError):
    """The store was created with a pepper and none, or another one, was given (or reverse)."""

    status = Status.PEPPER


class OptionsConflict(StoreError):
    """The same file is already open in this process with other options."""

    status = Status.OPTIONS_CONFLICT


class DiskFull(StoreError):
    """The disk is full."""

    status = Status.DISK_FULL


class IoError(StoreError):
    """An input/output error from the operating system."""

    status = Status.IO


class StorageError(StoreError):
    """An error inside the storage engine."""

    status = Status.STORAGE


class RandomError(StoreError):
    """The operating system's random source failed."""

    status = Status.RANDOM


class InternalError(LibraryFault):
    """A bug in tessera."""

    status = Status.INTERNAL


class PanicError(LibraryFault):
    """The library panicked (a bug); the call did nothing."""

    status = Status.PANIC


class PoisonedError(LibraryFault):
    """An earlier call on this store panicked; only close works on it."""

    status = Status.POISONED


#: The exception class of every status but OK.
BY_STATUS: Dict[Status, Type[TesseraError]] = {
    cls.status: cls
    for cls in (
        Malformed, UnknownToken, BadSecret, Expired, Idle, Revoked, Exhausted, ScopeDenied,
        TenantMismatch, ReuseDetected, NotFound, LimitReached, CredentialEmpty, UnsupportedHeader,
        UnknownScheme, MissingToken, UnterminatedQuote, InvalidCharacter, CredentialTooLong,
        NullArgument, InvalidArgument, InvalidUtf8, BufferTooSmall, InvalidHandle, ClosedError,
        ForkedChild, NotAStore, Corrupt, Locked, NewerSchema, PepperMismatch, OptionsConflict,
        DiskFull, IoError, StorageError, RandomError, InternalError, PanicError, PoisonedError,
    )
    if cls.status is not None
}


def error_for(status: int, message: str = "") -> TesseraError:
    """The exception for a status other than OK, carrying ``message``."""
    try:
        cls = BY_STATUS[Status(status)]
    except (ValueError, KeyError):
        return TesseraError(message or f"unrecognized status {status}", status)
    return cls(message)


def check(status: int) -> None:
    """Raises the exception of ``status`` (with the thread's last-error message) unless OK."""
    if status != 0:
        from . import _native

        raise error_for(status, _native.last_error_message())
