"""What the store returns: token records, issued tokens, verify outcomes, statistics."""

from __future__ import annotations

import ctypes
import enum
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Dict, List, Optional, Tuple

from . import _native
from ._convert import to_datetime, to_timedelta
from .errors import Status


class Kind(enum.IntEnum):
    """What a token is for (``tessera_kind``)."""

    SESSION = 1
    API_KEY = 2


class RevokeReason(enum.IntEnum):
    """Why a token was revoked (``tessera_revoke_reason``)."""

    NONE = 0
    LOGOUT = 1
    BY_ID = 2
    SUBJECT = 3
    TENANT = 4
    CASCADE = 5  # its parent (or an ancestor) was revoked
    REUSE = 6  # an old token of its rotation family was reused after its grace window
    CAP_EVICTION = 7  # evicted to keep its subject under the per-subject cap


class Replacement(enum.IntEnum):
    """How a token was replaced (``tessera_replacement``)."""

    NONE = 0
    ROTATED = 1  # Store.rotate: the old secret works until the grace window ends
    ROLLED = 2  # Store.roll: the old API key works until the grace period ends


class CapPolicy(enum.IntEnum):
    """What a per-subject cap does when a new token would exceed it."""

    REFUSE = 1  # the issue raises LimitReached
    EVICT_OLDEST = 2
    EVICT_LEAST_RECENTLY_USED = 3


class EventKind(enum.IntEnum):
    """What an audit event tells (``tessera_event_kind``)."""

    ISSUED = 1
    RENEWED = 2
    ROTATED = 3
    ROLLED = 4
    REVOKED = 5
    REVOKED_BEFORE = 6
    USED = 7
    PURGED = 8


class Rejection(str, enum.Enum):
    """Why a token is not valid; the value is the status's stable name."""

    MALFORMED = "malformed"
    UNKNOWN_TOKEN = "unknown_token"
    BAD_SECRET = "bad_secret"
    EXPIRED = "expired"
    IDLE = "idle"
    REVOKED = "revoked"
    EXHAUSTED = "exhausted"
    SCOPE_DENIED = "scope_denied"
    TENANT_MISMATCH = "tenant_mismatch"
    REUSE_DETECTED = "reuse_detected"

    @property
    def status(self) -> Status:
        return Status[self.name]

    def __str__(self) -> str:
        return self.value


_REJECTIONS = {r.status.value: r for r in Rejection}


@dataclass(frozen=True)
class Record:
    """Everything the store knows about a token, except its secret.

    Times are aware UTC datetimes, durations timedeltas; ``None`` means "has none".
    """

    id: str
    kind: Kind
    tenant: str
    subject: Optional[str]
    scopes: Tuple[str, ...]
    label: Optional[str]
    metadata: bytes
    created_at: datetime
    expires_at: Optional[datetime]
    idle_timeout: Optional[timedelta]
    max_lifetime: Optional[timedelta]
    last_used_at: Optional[datetime]
    deadline: Optional[datetime]
    uses: int
    max_uses: Optional[int]
    parent: Optional[str]
    #: The id of the first token of its family, for a successor, rotated or rolled (None for
    #: every other token, the first generation included).
    family: Optional[str]
    #: The id of the token that replaced it (rotation or roll), if any.
    successor: Optional[str]
    replaced_at: Optional[datetime]
    #: Until when the replaced token keeps working.
    grace_until: Optional[datetime]
    replacement: Replacement
    revoked: bool
    revoked_at: Optional[datetime]
    revoke_reason: RevokeReason

    @classmethod
    def _from_c(cls, r: _native.Record) -> "Record":
        def when(flag: bool, ms: int) -> Optional[datetime]:
            return to_datetime(ms) if flag else None

        metadata = (
            ctypes.string_at(r.metadata, r.metadata_len) if r.metadata and r.metadata_len else b""
        )
        return cls(
            id=_native.id_of(r.id),
            kind=_enum(Kind, r.kind),
            tenant=_native.text_of(r.tenant) or "",
            subject=_native.text_of(r.subject),
            scopes=tuple(_native.strings(r.scopes, r.scopes_len)),
            label=_native.text_of(r.label),
            metadata=metadata,
            created_at=to_datetime(r.created_at),
            expires_at=when(r.has_expires_at, r.expires_at),
            idle_timeout=to_timedelta(r.idle_timeout_ms) if r.has_idle_timeout else None,
            max_lifetime=to_timedelta(r.max_lifetime_ms) if r.has_max_lifetime else None,
            last_used_at=when(r.has_last_used_at, r.last_used_at),
            deadline=when(r.has_deadline, r.deadline),
            uses=r.uses,
            max_uses=r.max_uses if r.has_max_uses else None,
            parent=_native.id_of(r.parent) if r.has_parent else None,
            family=_native.id_of(r.family) if r.has_family else None,
            successor=_native.id_of(r.successor) if r.has_successor else None,
            replaced_at=when(r.has_successor, r.replaced_at),
            grace_until=when(r.has_successor, r.grace_until),
            replacement=_enum(Replacement, r.replacement),
            revoked=bool(r.revoked),
            revoked_at=to_datetime(r.revoked_at) if r.revoked else None,
            revoke_reason=_enum(RevokeReason, r.revoke_reason),
        )


def _enum(cls: Any, value: int) -> Any:
    """The member of the enum ``cls`` for ``value``, or the number itself if the library is
    newer than this binding."""
    try:
        return cls(value)
    except ValueError:
        return value


def take_record(ptr: "ctypes._Pointer[_native.Record]") -> Record:
    """Copies a library-allocated record into a :class:`Record` and frees it."""
    try:
        return Record._from_c(ptr.contents)
    finally:
        _native.lib.tessera_free(ptr)


def take_list(ptr: "ctypes._Pointer[_native.RecordList]") -> List[Record]:
    """Copies a library-allocated record list and frees it."""
    try:
        lst = ptr.contents
        return [Record._from_c(lst.records[i]) for i in range(lst.len)]
    finally:
        _native.lib.tessera_free(ptr)


@dataclass(frozen=True)
class Issued:
    """A token just issued: its text (the only copy of its secret) and its record.

    ``repr()`` never shows the secret. Hand ``token`` to its holder and never log it.
    """

    token: str = field(repr=False)
    record: Record
    #: For a child token: whether its expiry was cut to its parent's.
    clamped: bool = False

    @property
    def id(self) -> str:
        return self.record.id

    def __repr__(self) -> str:
        return f"Issued(id={self.record.id!r}, kind={self.record.kind.name}, token=<redacted>)"

    __str__ = __repr__


@dataclass(frozen=True)
class Outcome:
    """The answer of :meth:`tessera.Store.verify`: valid with a record, or a rejection.

    True in a boolean context when valid. ``detail`` is the library's explanation of a
    rejection, for logs: answer every rejection with the same 401, except ``SCOPE_DENIED`` and
    ``TENANT_MISMATCH`` (a valid token, not allowed there): 403.
    """

    record: Optional[Record] = None
    rejection: Optional[Rejection] = None
    detail: str = ""

    @property
    def valid(self) -> bool:
        return self.rejection is None

    def __bool__(self) -> bool:
        return self.valid

    @classmethod
    def _rejected(cls, status: int, detail: str) -> Optional["Outcome"]:
        rejection = _REJECTIONS.get(status)
        return cls(rejection=rejection, detail=detail) if rejection is not None else None


@dataclass(frozen=True)
class Renewal:
    """The answer of a renewal: the record as it is now, and whether the maximum lifetime cut
    the new expiry short."""

    record: Record
    capped: bool


@dataclass(frozen=True)
class Purge:
    """One purge batch: how many rows it removed, and whether more were due."""

    removed: int
    more: bool


@dataclass(frozen=True)
class Counts:
    """Counts of one group of tokens."""

    live: int
    expired: int
    revoked: int

    @classmethod
    def _from_c(cls, c: _native.Counts) -> "Counts":
        return cls(live=c.live, expired=c.expired, revoked=c.revoked)


@dataclass(frozen=True)
class Stats:
    """What a store holds (:meth:`tessera.Store.stats`)."""

    schema_version: int
    file_bytes: int
    all: Counts
    kinds: Dict[Kind, Counts]
    tenants: Dict[str, Counts]
    due_for_purge: int

    @classmethod
    def _take(cls, ptr: "ctypes._Pointer[_native.Stats]") -> "Stats":
        try:
            s = ptr.contents
            return cls(
                schema_version=s.schema_version,
                file_bytes=s.file_bytes,
                all=Counts._from_c(s.all),
                kinds={
                    _enum(Kind, s.kinds[i].kind): Counts._from_c(s.kinds[i].counts)
                    for i in range(s.kinds_len)
                },
                tenants={
                    (_native.text_of(s.tenants[i].tenant) or ""): Counts._from_c(
                        s.tenants[i].counts
                    )
                    for i in range(s.tenants_len)
                },
                due_for_purge=s.due_for_purge,
            )
        finally:
            _native.lib.tessera_free(ptr)


@dataclass(frozen=True)
class Event:
    """One audit event: what happened to which token (by id), never a secret."""

    seq: int
    at: datetime
    kind: EventKind
    token: Optional[str]
    reason: RevokeReason
    #: For REVOKED_BEFORE: "store", "tenant:<t>" or "subject:<s>".
    scope: Optional[str]
    #: For PURGED: how many tokens.
    count: int

    @classmethod
    def _from_c(cls, e: _native.Event) -> "Event":
        return cls(
            seq=e.seq,
            at=to_datetime(e.at),
            kind=_enum(EventKind, e.kind),
            token=_native.id_of(e.token) if e.has_token else None,
            reason=_enum(RevokeReason, e.reason),
            scope=_native.text_of(e.scope),
            count=e.count,
        )


def take_events(ptr: "ctypes._Pointer[_native.EventList]") -> List[Event]:
    """Copies a library-allocated event list and frees it."""
    try:
        lst = ptr.contents
        return [Event._from_c(lst.events[i]) for i in range(lst.len)]
    finally:
        _native.lib.tessera_free(ptr)
