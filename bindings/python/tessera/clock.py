"""A manual clock for test suites: time moves only when the test moves it."""

from __future__ import annotations

import ctypes
from datetime import datetime
from typing import Optional

from . import _native
from ._convert import (
    DATETIME_MAX_MS,
    DATETIME_MIN_MS,
    Duration,
    Instant,
    duration_ms,
    instant_ms,
    integer,
    to_datetime,
)
from .errors import ClosedError, check


def _clock_ms(value: Instant, what: str) -> int:
    """Unix milliseconds a clock may read: what a ``datetime`` can show (years 1 to 9999), so
    that every time a store reads from it (a token's creation, ``Store.now``) converts back."""
    return integer(instant_ms(value, what), what, DATETIME_MIN_MS, DATETIME_MAX_MS,
                   "datetime in years 1 to 9999, in Unix milliseconds")


class Clock:
    """A clock that reads ``start`` until moved. Give it to a store (``Store(..., clock=c)``)
    and call :meth:`advance` instead of sleeping. Thread-safe; a store keeps using the clock
    after the Python object is gone.

    >>> clock = Clock(0)
    >>> clock.advance(1500)
    >>> clock.now_ms()
    1500
    """

    def __init__(self, start: Instant = 0) -> None:
        handle = _native.ClockP()
        check(_native.lib.tessera_clock_new(_clock_ms(start, "start"), ctypes.byref(handle)))
        self._handle: Optional["ctypes._Pointer[_native._Clock]"] = handle

    def _h(self) -> "ctypes._Pointer[_native._Clock]":
        if self._handle is None:
            raise ClosedError("the clock was released")
        return self._handle

    def advance(self, by: Duration) -> None:
        """Moves the clock forward by ``by`` (a timedelta, rounded to the nearest millisecond,
        half up, or milliseconds); not past the end of year 9999
        (:class:`tessera.InvalidArgument`)."""
        by_ms = duration_ms(by, "by")
        _clock_ms(self.now_ms() + by_ms, "the clock's time after advancing")
        check(_native.lib.tessera_clock_advance(self._h(), by_ms))

    def set(self, to: Instant) -> None:
        """Sets the clock to ``to`` (a datetime, floored to the millisecond, or Unix
        milliseconds), possibly backwards; an instant outside years 1 to 9999 is
        :class:`tessera.InvalidArgument`."""
        check(_native.lib.tessera_clock_set(self._h(), _clock_ms(to, "to")))

    def now_ms(self) -> int:
        """The clock's time in Unix milliseconds."""
        out = ctypes.c_int64()
        check(_native.lib.tessera_clock_now(self._h(), ctypes.byref(out)))
        return out.value

    def now(self) -> datetime:
        """The clock's time as an aware UTC datetime."""
        return to_datetime(self.now_ms())

    def __repr__(self) -> str:
        return f"Clock(now={self.now_ms()})" if self._handle is not None else "Clock(released)"

    # A Clock owns its handle: a copy would release it a second time (in ``__del__``). Share
    # the one object instead (it is thread-safe), or make a new Clock at ``now_ms()``.

    def __copy__(self) -> "Clock":
        raise TypeError("a tessera.Clock cannot be copied: share it, or make a new Clock")

    def __deepcopy__(self, memo: object) -> "Clock":
        raise TypeError("a tessera.Clock cannot be copied: share it, or make a new Clock")

    def __reduce_ex__(self, protocol: object) -> str:
        raise TypeError("a tessera.Clock cannot be pickled: make a new Clock in the other process")

    def __del__(self) -> None:
        handle, self._handle = getattr(self, "_handle", None), None
        if handle is not None and _native is not None:
            try:
                _native.lib.tessera_clock_free(handle)
            except Exception:  # interpreter shutdown
                pass
