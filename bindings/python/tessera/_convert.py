"""Conversions between Python values and the C ABI's: texts, durations, instants."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Optional, Union

from .errors import InvalidArgument

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MS = timedelta(milliseconds=1)


class _Never:
    """The type of :data:`NEVER`."""

    _instance: Optional["_Never"] = None

    def __new__(cls) -> "_Never":
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "tessera.NEVER"

    def __reduce__(self) -> str:
        return "NEVER"


#: Passed as a duration where "none" is meaningful: a token that never expires, no idle
#: timeout, no maximum lifetime, no sweeper. (Leaving a keyword out keeps the store's default.)
NEVER = _Never()

#: A duration: a :class:`datetime.timedelta`, or an ``int`` of milliseconds.
Duration = Union[timedelta, int]
#: An instant: an aware :class:`datetime.datetime`, or an ``int`` of Unix milliseconds.
Instant = Union[datetime, int]


def text(value: Union[str, bytes], what: str) -> bytes:
    """UTF-8 bytes of a text argument; lone surrogates reach the library, which refuses them
    (:class:`tessera.InvalidUtf8`)."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass")
    raise TypeError(f"{what} must be str, not {type(value).__name__}")


def duration_ms(value: Union[Duration, _Never], what: str) -> int:
    """Milliseconds for the C ABI; :data:`NEVER` is ``TESSERA_DURATION_NONE`` (-1)."""
    if value is NEVER:
        return -1
    if isinstance(value, timedelta):
        ms = value // _MS
    elif isinstance(value, int) and not isinstance(value, bool):
        ms = value
    else:
        raise TypeError(
            f"{what} must be a timedelta, an int of milliseconds or tessera.NEVER, "
            f"not {type(value).__name__}"
        )
    if ms < 0:
        raise InvalidArgument(f"{what} is negative (use tessera.NEVER for none)")
    return ms


def instant_ms(value: Instant, what: str) -> int:
    """Unix milliseconds of an aware datetime or an int."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"{what} must be an aware datetime (e.g. tzinfo=timezone.utc)")
        return (value - EPOCH) // _MS
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    raise TypeError(f"{what} must be a datetime or an int of Unix milliseconds")


def to_datetime(ms: int) -> datetime:
    """The UTC instant of Unix milliseconds (exact)."""
    return EPOCH + timedelta(milliseconds=ms)


def to_timedelta(ms: int) -> timedelta:
    return timedelta(milliseconds=ms)
