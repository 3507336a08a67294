"""Conversions between Python values and the C ABI's: texts, durations, instants."""

from __future__ import annotations

import ctypes
from datetime import datetime, timedelta, timezone
from typing import Optional, Union

from .errors import InvalidArgument

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MS = timedelta(milliseconds=1)
_US = timedelta(microseconds=1)
#: The Unix milliseconds of the first and the last instant a ``datetime`` can show.
DATETIME_MIN_MS = (datetime.min.replace(tzinfo=timezone.utc) - EPOCH) // _MS
DATETIME_MAX_MS = (datetime.max.replace(tzinfo=timezone.utc) - EPOCH) // _MS

#: The ranges of the C ABI's integer types. ctypes would silently wrap a Python int outside
#: them (``c_size_t(-1)`` is ``SIZE_MAX``, an ``int64_t`` of ``2**64 - 5`` is -5), so every
#: integer argument is checked against its type first.
INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
UINT32_MAX = 2**32 - 1
UINT64_MAX = 2**64 - 1
SIZE_MAX = 2 ** (8 * ctypes.sizeof(ctypes.c_size_t)) - 1


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

#: A duration: a :class:`datetime.timedelta` (rounded to the nearest millisecond, half up; a
#: positive one under half a millisecond is refused), or an ``int`` of milliseconds.
Duration = Union[timedelta, int]
#: An instant: an aware :class:`datetime.datetime` (floored to the millisecond, as the store's
#: clock counts), or an ``int`` of Unix milliseconds.
Instant = Union[datetime, int]


def text(value: Union[str, bytes], what: str) -> bytes:
    """UTF-8 bytes of a text argument; lone surrogates reach the library, which refuses them
    (:class:`tessera.InvalidUtf8`)."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass")
    raise TypeError(f"{what} must be str, not {type(value).__name__}")


def integer(value: int, what: str, low: int, high: int, ctype: str) -> int:
    """``value`` if it is an int (not a bool) in ``low..high``, the range of the C type
    ``ctype`` it is passed as; :class:`tessera.InvalidArgument` if it is outside (ctypes would
    wrap it), ``TypeError`` if it is no int."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{what} must be an int, not {type(value).__name__}")
    if not low <= value <= high:
        raise InvalidArgument(f"{what} is {value}; it must be in {low}..{high} (a {ctype})")
    return int(value)


def size(value: int, what: str) -> int:
    """A count or a size for a ``size_t`` argument: 0 to ``SIZE_MAX``."""
    return integer(value, what, 0, SIZE_MAX, "size_t")


def u64(value: int, what: str) -> int:
    """A ``uint64_t`` argument: 0 to 2**64 - 1."""
    return integer(value, what, 0, UINT64_MAX, "uint64_t")


def u32(value: int, what: str) -> int:
    """An enum number (``uint32_t``): 0 to 2**32 - 1 (the library judges which are valid)."""
    return integer(value, what, 0, UINT32_MAX, "uint32_t")


def i32(value: int, what: str) -> int:
    """An ``int32_t`` argument (a ``tessera_status``): -2**31 to 2**31 - 1."""
    return integer(value, what, INT32_MIN, INT32_MAX, "int32_t")


def duration_ms(value: Union[Duration, _Never], what: str) -> int:
    """Milliseconds for the C ABI (an ``int64_t``); :data:`NEVER` is
    ``TESSERA_DURATION_NONE`` (-1). Every duration is converted here, with the Ruby binding's
    rule: a timedelta is rounded to the nearest millisecond (half up: 1.5 ms is 2 ms). A
    negative one is refused before it is rounded (-0.4 ms is not 0 ms), and so is a positive
    one that rounds to 0 ms (0.4 ms is not "none": durations are counted in whole
    milliseconds)."""
    if value is NEVER:
        return -1
    if isinstance(value, timedelta):
        if value < timedelta(0):
            raise InvalidArgument(f"{what} is negative (use tessera.NEVER for none)")
        ms = (value // _US + 500) // 1000
        if ms == 0 and value:
            raise InvalidArgument(
                f"{what} is {value}, under half a millisecond: durations are counted in whole "
                "milliseconds"
            )
    elif isinstance(value, int) and not isinstance(value, bool):
        ms = value
    else:
        raise TypeError(
            f"{what} must be a timedelta, an int of milliseconds or tessera.NEVER, "
            f"not {type(value).__name__}"
        )
    if ms < 0:
        raise InvalidArgument(f"{what} is negative (use tessera.NEVER for none)")
    if ms > INT64_MAX:
        raise InvalidArgument(
            f"{what} is {ms} ms; a duration is at most {INT64_MAX} ms (an int64_t)"
        )
    return int(ms)


def instant_ms(value: Instant, what: str) -> int:
    """Unix milliseconds (an ``int64_t``) of an aware datetime, floored to the millisecond (as
    the store's clock counts: 0.9 ms into a millisecond is that millisecond, also before 1970),
    or of an int. Every instant is converted here."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise ValueError(f"{what} must be an aware datetime (e.g. tzinfo=timezone.utc)")
        return (value - EPOCH) // _MS
    if isinstance(value, int) and not isinstance(value, bool):
        return integer(value, what, INT64_MIN, INT64_MAX, "int64_t of Unix milliseconds")
    raise TypeError(f"{what} must be a datetime or an int of Unix milliseconds")


def to_datetime(ms: int) -> datetime:
    """The UTC instant of Unix milliseconds (exact)."""
    return EPOCH + timedelta(milliseconds=ms)


def to_timedelta(ms: int) -> timedelta:
    return timedelta(milliseconds=ms)
