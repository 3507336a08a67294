"""The C ABI of libtessera, declared for ctypes. Private: use the ``tessera`` package.

Every function of ``include/tessera.h`` is declared here with its exact ``argtypes`` and
``restype`` (``tests/test_header.py`` checks this against the header). Inputs that are bytes
or text are ``(pointer, length)`` pairs: they are passed as ctypes arrays (see :func:`buf`),
never as ``c_char_p``, which would stop at a NUL byte; the empty text is a non-NULL pointer
with length 0, and NULL is passed only for an absent optional input (``None``).

The library is found in this order: the path in the ``TESSERA_LIB`` environment variable, then
the copy installed inside this package. A library whose ABI version is not
:data:`ABI_VERSION` is refused with an :class:`ImportError`.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
from ctypes import (
    CDLL,
    POINTER,
    Structure,
    c_bool,
    c_char,
    c_char_p,
    c_int32,
    c_int64,
    c_size_t,
    c_uint8,
    c_uint32,
    c_uint64,
    c_void_p,
)
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

#: The ABI version this binding was written for (``TESSERA_ABI_VERSION`` in the header).
ABI_VERSION = 1

# Constants of the header.
MAX_TOKEN_LEN = 105
TOKEN_BUF_LEN = 106
ID_LEN = 22
ID_BUF_LEN = 23
MAX_PREFIX_LEN = 32
MAX_NAME_LEN = 255
MAX_SCOPES = 64
MAX_CREDENTIAL_LEN = 4096
MAX_INPUT_LEN = 1048576
DEFAULT_CACHE_SIZE = 33554432
SCHEMA_VERSION = 2
DURATION_NONE = -1
ANY_KIND = 0


# Opaque handles: never dereferenced, only passed back.
class _Store(Structure):
    pass


class _Options(Structure):
    pass


class _Request(Structure):
    pass


class _Requirements(Structure):
    pass


class _Clock(Structure):
    pass


StoreP = POINTER(_Store)
OptionsP = POINTER(_Options)
RequestP = POINTER(_Request)
RequirementsP = POINTER(_Requirements)
ClockP = POINTER(_Clock)

# Enums of the header are 32-bit integers.
c_status = c_int32
c_kind = c_uint32
c_revoke_reason = c_uint32
c_scheme = c_uint32


class Str(Structure):
    """``tessera_str``: ``len`` bytes of UTF-8 at ``ptr`` (NULL when absent)."""

    _fields_ = [("ptr", POINTER(c_char)), ("len", c_size_t)]


class Record(Structure):
    """``tessera_record``."""

    _fields_ = [
        ("id", c_char * ID_BUF_LEN),
        ("kind", c_kind),
        ("tenant", Str),
        ("subject", Str),
        ("scopes", POINTER(Str)),
        ("scopes_len", c_size_t),
        ("label", Str),
        ("metadata", POINTER(c_uint8)),
        ("metadata_len", c_size_t),
        ("created_at", c_int64),
        ("has_expires_at", c_bool),
        ("expires_at", c_int64),
        ("has_idle_timeout", c_bool),
        ("idle_timeout_ms", c_int64),
        ("has_max_lifetime", c_bool),
        ("max_lifetime_ms", c_int64),
        ("has_last_used_at", c_bool),
        ("last_used_at", c_int64),
        ("has_deadline", c_bool),
        ("deadline", c_int64),
        ("uses", c_uint64),
        ("has_max_uses", c_bool),
        ("max_uses", c_uint64),
        ("has_parent", c_bool),
        ("parent", c_char * ID_BUF_LEN),
        ("has_family", c_bool),
        ("family", c_char * ID_BUF_LEN),
        ("has_successor", c_bool),
        ("successor", c_char * ID_BUF_LEN),
        ("replaced_at", c_int64),
        ("grace_until", c_int64),
        ("replacement", c_uint32),
        ("revoked", c_bool),
        ("revoked_at", c_int64),
        ("revoke_reason", c_revoke_reason),
    ]


class RecordList(Structure):
    """``tessera_record_list``."""

    _fields_ = [("records", POINTER(Record)), ("len", c_size_t)]


class Counts(Structure):
    """``tessera_counts``."""

    _fields_ = [("live", c_uint64), ("expired", c_uint64), ("revoked", c_uint64)]


class KindCounts(Structure):
    """``tessera_kind_counts``."""

    _fields_ = [("kind", c_kind), ("counts", Counts)]


class TenantCounts(Structure):
    """``tessera_tenant_counts``."""

    _fields_ = [("tenant", Str), ("counts", Counts)]


class Stats(Structure):
    """``tessera_stats``."""

    _fields_ = [
        ("schema_version", c_uint32),
        ("file_bytes", c_uint64),
        ("all", Counts),
        ("kinds", POINTER(KindCounts)),
        ("kinds_len", c_size_t),
        ("tenants", POINTER(TenantCounts)),
        ("tenants_len", c_size_t),
        ("due_for_purge", c_uint64),
    ]


class Event(Structure):
    """``tessera_event``."""

    _fields_ = [
        ("seq", c_uint64),
        ("at", c_int64),
        ("kind", c_uint32),
        ("has_token", c_bool),
        ("token", c_char * ID_BUF_LEN),
        ("reason", c_revoke_reason),
        ("scope", Str),
        ("count", c_uint64),
    ]


class EventList(Structure):
    """``tessera_event_list``."""

    _fields_ = [("events", POINTER(Event)), ("len", c_size_t)]


#: C structs of the header and their ctypes mirrors (checked field by field by the tests).
STRUCTS = {
    "tessera_str": Str,
    "tessera_record": Record,
    "tessera_record_list": RecordList,
    "tessera_counts": Counts,
    "tessera_kind_counts": KindCounts,
    "tessera_tenant_counts": TenantCounts,
    "tessera_stats": Stats,
    "tessera_event": Event,
    "tessera_event_list": EventList,
}

Text = POINTER(c_char)  # const char *, always with a length
Bytes = POINTER(c_uint8)  # const uint8_t *, always with a length

# name: (restype, argtypes). One line per function of include/tessera.h, in its order.
FUNCTIONS: Dict[str, Tuple[Any, List[Any]]] = {
    "tessera_status_name": (c_char_p, [c_int32]),
    "tessera_last_error_message": (c_char_p, []),
    "tessera_version": (c_char_p, []),
    "tessera_abi_version": (c_uint32, []),
    "tessera_store_open": (c_status, [Text, c_size_t, OptionsP, POINTER(StoreP)]),
    "tessera_store_open_in_memory": (c_status, [OptionsP, POINTER(StoreP)]),
    "tessera_store_close": (c_status, [StoreP]),
    "tessera_store_free": (None, [StoreP]),
    "tessera_issue": (
        c_status,
        [StoreP, RequestP, POINTER(c_char), c_size_t, POINTER(c_size_t), POINTER(POINTER(Record))],
    ),
    "tessera_verify": (c_status, [StoreP, Text, c_size_t, POINTER(POINTER(Record))]),
    "tessera_verify_with": (
        c_status,
        [StoreP, Text, c_size_t, RequirementsP, POINTER(POINTER(Record))],
    ),
    "tessera_renew": (
        c_status,
        [StoreP, Text, c_size_t, c_int64, POINTER(POINTER(Record)), POINTER(c_bool)],
    ),
    "tessera_renew_by_id": (
        c_status,
        [StoreP, Text, c_size_t, c_int64, POINTER(POINTER(Record)), POINTER(c_bool)],
    ),
    "tessera_revoke": (c_status, [StoreP, Text, c_size_t, POINTER(c_size_t)]),
    "tessera_revoke_by_id": (c_status, [StoreP, Text, c_size_t, POINTER(c_size_t)]),
    "tessera_revoke_subject": (
        c_status,
        [StoreP, Text, c_size_t, Text, c_size_t, POINTER(c_size_t)],
    ),
    "tessera_revoke_tenant": (c_status, [StoreP, Text, c_size_t, POINTER(c_size_t)]),
    "tessera_get": (c_status, [StoreP, Text, c_size_t, POINTER(POINTER(Record))]),
    "tessera_list_subject": (c_status, [StoreP, Text, c_size_t, POINTER(POINTER(RecordList))]),
    "tessera_list_tenant": (
        c_status,
        [StoreP, Text, c_size_t, c_uint32, POINTER(POINTER(RecordList))],
    ),
    "tessera_list_api_keys": (c_status, [StoreP, Text, c_size_t, POINTER(POINTER(RecordList))]),
    "tessera_purge_batch": (c_status, [StoreP, POINTER(c_size_t), POINTER(c_bool)]),
    "tessera_purge_expired": (c_status, [StoreP, POINTER(c_size_t)]),
    "tessera_flush": (c_status, [StoreP]),
    "tessera_store_stats": (c_status, [StoreP, POINTER(POINTER(Stats))]),
    "tessera_commits": (c_status, [StoreP, POINTER(c_uint64)]),
    "tessera_now": (c_status, [StoreP, POINTER(c_int64)]),
    "tessera_background_error": (c_status, [StoreP, POINTER(c_status)]),
    "tessera_backup": (c_status, [StoreP, Text, c_size_t, POINTER(c_uint64)]),
    "tessera_compact": (c_status, [StoreP, POINTER(c_bool)]),
    "tessera_check_integrity": (c_status, [StoreP, POINTER(c_bool)]),
    "tessera_issue_child": (
        c_status,
        [StoreP, Text, c_size_t, RequestP, POINTER(c_char), c_size_t, POINTER(c_size_t),
         POINTER(POINTER(Record)), POINTER(c_bool)],
    ),
    "tessera_issue_child_by_id": (
        c_status,
        [StoreP, Text, c_size_t, RequestP, POINTER(c_char), c_size_t, POINTER(c_size_t),
         POINTER(POINTER(Record)), POINTER(c_bool)],
    ),
    "tessera_children": (c_status, [StoreP, Text, c_size_t, POINTER(POINTER(RecordList))]),
    "tessera_rotate": (
        c_status,
        [StoreP, Text, c_size_t, POINTER(c_char), c_size_t, POINTER(c_size_t),
         POINTER(POINTER(Record))],
    ),
    "tessera_roll": (
        c_status,
        [StoreP, Text, c_size_t, c_int64, POINTER(c_char), c_size_t, POINTER(c_size_t),
         POINTER(POINTER(Record))],
    ),
    "tessera_roll_by_id": (
        c_status,
        [StoreP, Text, c_size_t, c_int64, POINTER(c_char), c_size_t, POINTER(c_size_t),
         POINTER(POINTER(Record))],
    ),
    "tessera_revoke_issued_before": (c_status, [StoreP, c_uint32, Text, c_size_t, c_int64]),
    "tessera_events": (c_status, [StoreP, c_uint64, c_size_t, POINTER(POINTER(EventList))]),
    "tessera_options_new": (c_status, [POINTER(OptionsP)]),
    "tessera_options_free": (None, [OptionsP]),
    "tessera_options_set_cache_size": (c_status, [OptionsP, c_size_t]),
    "tessera_options_set_durability": (c_status, [OptionsP, c_uint32]),
    "tessera_options_set_concurrency": (c_status, [OptionsP, c_uint32]),
    "tessera_options_set_prefixes": (c_status, [OptionsP, Text, c_size_t, Text, c_size_t]),
    "tessera_options_set_pepper": (c_status, [OptionsP, Bytes, c_size_t]),
    "tessera_options_set_clock": (c_status, [OptionsP, ClockP]),
    "tessera_options_set_session_ttl": (c_status, [OptionsP, c_int64]),
    "tessera_options_set_session_idle_timeout": (c_status, [OptionsP, c_int64]),
    "tessera_options_set_session_max_lifetime": (c_status, [OptionsP, c_int64]),
    "tessera_options_set_api_key_ttl": (c_status, [OptionsP, c_int64]),
    "tessera_options_set_flush_interval": (c_status, [OptionsP, c_int64]),
    "tessera_options_set_sweep_interval": (c_status, [OptionsP, c_int64]),
    "tessera_options_set_purge_batch": (c_status, [OptionsP, c_size_t]),
    "tessera_options_set_revoked_retention": (c_status, [OptionsP, c_int64]),
    "tessera_options_set_max_metadata_len": (c_status, [OptionsP, c_size_t]),
    "tessera_options_set_rotation_grace": (c_status, [OptionsP, c_int64]),
    "tessera_options_set_subject_cap": (c_status, [OptionsP, c_uint32, c_size_t, c_uint32]),
    "tessera_options_set_event_retention": (c_status, [OptionsP, c_size_t]),
    "tessera_clock_new": (c_status, [c_int64, POINTER(ClockP)]),
    "tessera_clock_advance": (c_status, [ClockP, c_int64]),
    "tessera_clock_set": (c_status, [ClockP, c_int64]),
    "tessera_clock_now": (c_status, [ClockP, POINTER(c_int64)]),
    "tessera_clock_free": (None, [ClockP]),
    "tessera_request_new_session": (c_status, [Text, c_size_t, POINTER(RequestP)]),
    "tessera_request_new_api_key": (c_status, [Text, c_size_t, POINTER(RequestP)]),
    "tessera_request_free": (None, [RequestP]),
    "tessera_request_set_tenant": (c_status, [RequestP, Text, c_size_t]),
    "tessera_request_set_subject": (c_status, [RequestP, Text, c_size_t]),
    "tessera_request_add_scope": (c_status, [RequestP, Text, c_size_t]),
    "tessera_request_set_label": (c_status, [RequestP, Text, c_size_t]),
    "tessera_request_set_metadata": (c_status, [RequestP, Bytes, c_size_t]),
    "tessera_request_set_ttl": (c_status, [RequestP, c_int64]),
    "tessera_request_set_idle_timeout": (c_status, [RequestP, c_int64]),
    "tessera_request_set_max_lifetime": (c_status, [RequestP, c_int64]),
    "tessera_request_set_max_uses": (c_status, [RequestP, c_uint64]),
    "tessera_requirements_new": (c_status, [POINTER(RequirementsP)]),
    "tessera_requirements_set_tenant": (c_status, [RequirementsP, Text, c_size_t]),
    "tessera_requirements_add_scope": (c_status, [RequirementsP, Text, c_size_t]),
    "tessera_requirements_free": (None, [RequirementsP]),
    "tessera_free": (None, [c_void_p]),
    "tessera_parse_header": (
        c_status,
        [Text, c_size_t, Text, c_size_t, POINTER(c_scheme), POINTER(c_size_t), POINTER(c_size_t)],
    ),
    "tessera_parse_authorization": (
        c_status,
        [Text, c_size_t, POINTER(c_scheme), POINTER(c_size_t), POINTER(c_size_t)],
    ),
}


def _library_file_name() -> str:
    if sys.platform == "darwin":
        return "libtessera.dylib"
    if sys.platform == "win32":
        return "tessera.dll"
    return "libtessera.so"


def _candidates() -> List[Path]:
    env = os.environ.get("TESSERA_LIB")
    if env:
        return [Path(env)]
    return [Path(__file__).resolve().parent / _library_file_name()]


def _load() -> Tuple[CDLL, Path]:
    paths = _candidates()
    errors = []
    for path in paths:
        if not path.exists():
            errors.append(f"{path}: no such file")
            continue
        try:
            lib = CDLL(str(path))
        except OSError as e:
            errors.append(f"{path}: {e}")
            continue
        return lib, path
    raise ImportError(
        "tessera: cannot load libtessera ("
        + "; ".join(errors)
        + "). Reinstall the package (pip install bindings/python builds it) or set TESSERA_LIB "
        "to the path of libtessera."
    )


def _declare(lib: CDLL) -> None:
    missing = []
    for name, (restype, argtypes) in FUNCTIONS.items():
        try:
            fn = getattr(lib, name)
        except AttributeError:
            missing.append(name)
            continue
        fn.restype = restype
        fn.argtypes = argtypes
    if missing:
        raise ImportError(
            "tessera: the library lacks functions this binding needs: " + ", ".join(missing)
        )


def _check_abi(lib: CDLL, path: Path) -> None:
    lib.tessera_abi_version.restype = c_uint32
    lib.tessera_abi_version.argtypes = []
    found = lib.tessera_abi_version()
    if found != ABI_VERSION:
        raise ImportError(
            f"tessera: {path} has ABI version {found}, this binding needs {ABI_VERSION}; "
            "install a matching libtessera (or unset TESSERA_LIB)"
        )


lib, LIBRARY_PATH = _load()
_check_abi(lib, LIBRARY_PATH)
_declare(lib)


def buf(data: bytes) -> Tuple[Any, int]:
    """A ``(pointer, length)`` pair for a C input: a ctypes copy of ``data``.

    Empty data is a non-NULL pointer with length 0: the empty text, which the library tells
    apart from an absent optional input (``None, 0``, NULL with length 0). The array is
    accepted where the header says ``const char *`` or ``const uint8_t *``.
    """
    n = len(data)
    if n == 0:
        return (c_char * 1)(), 0
    return (c_char * n).from_buffer_copy(data), n


def bytes_buf(data: Union[bytes, bytearray]) -> Tuple[Any, int]:
    """As :func:`buf`, for ``const uint8_t *`` inputs: the ctypes copy is the only one made (a
    bytearray is copied as it is, not through an immutable ``bytes`` first)."""
    n = len(data)
    if n == 0:
        return (c_uint8 * 1)(), 0
    return (c_uint8 * n).from_buffer_copy(data), n


def optional_buf(data: Optional[bytes]) -> Tuple[Any, int]:
    """As :func:`buf` for an optional text: None is NULL with length 0 ("none")."""
    return (None, 0) if data is None else buf(data)


@contextlib.contextmanager
def wiped(pair: Tuple[Any, int]) -> Iterator[Tuple[Any, int]]:
    """Lends the ``(pointer, length)`` pair of a secret input (a token text, a pepper), made by
    :func:`buf` or :func:`bytes_buf`, to the ``with`` block, and zeroes that ctypes copy
    (``ctypes.memset``) when the block ends, however it ends: the library keeps no pointer to
    an input, and the copy would otherwise stay in the heap, secret, until the memory is
    reused. Every secret input goes through here. Only this copy is wiped: the ``str`` or
    ``bytes`` it was made from belongs to Python, which cannot wipe it."""
    ptr, n = pair
    try:
        yield ptr, n
    finally:
        ctypes.memset(ptr, 0, n)


def last_error_message() -> str:
    raw = lib.tessera_last_error_message()
    return raw.decode("utf-8", "replace") if raw else ""


def status_name(status: int) -> str:
    raw = lib.tessera_status_name(status)
    return raw.decode("ascii") if raw else "unrecognized_status"


def text_of(s: Str) -> Optional[str]:
    """The text of a ``tessera_str``, or None when absent (``ptr`` NULL)."""
    if not s.ptr:
        return None
    return ctypes.string_at(s.ptr, s.len).decode("utf-8")


def id_of(raw: bytes) -> str:
    return raw.split(b"\0", 1)[0].decode("ascii")


def strings(ptr: Any, n: int) -> Sequence[str]:
    return tuple(text_of(ptr[i]) or "" for i in range(n))
