"""Finding the token in an HTTP request header, with the library's one parser (so every
language accepts exactly the same headers)."""

from __future__ import annotations

import ctypes
import enum
from dataclasses import dataclass, field
from typing import Optional, Union

from . import _native
from ._convert import text
from .errors import check


class Scheme(enum.IntEnum):
    """How a credential was presented (``tessera_scheme``)."""

    TOKEN = 1  # Authorization: Token token=... / Authorization: token ...
    BEARER = 2  # Authorization: Bearer ...
    API_KEY = 3  # Authorization: ApiKey ...
    BARE = 4  # Auth-Token, X-Access-Token, X-Auth-Token, X-Api-Key: the whole value


@dataclass(frozen=True)
class Credential:
    """A token found in a header (not yet checked against any store). ``repr`` hides it."""

    scheme: Scheme
    token: str = field(repr=False)


def _found(value: bytes, scheme: ctypes.c_uint32, off: ctypes.c_size_t, n: ctypes.c_size_t) -> Credential:
    token = value[off.value : off.value + n.value].decode("utf-8")
    return Credential(Scheme(scheme.value), token)


def _value(value: Optional[Union[str, bytes]]) -> bytes:
    """The bytes of a header value; a missing header (``None``) is the empty value."""
    return b"" if value is None else text(value, "value")


def parse_header(name: Union[str, bytes], value: Optional[Union[str, bytes]]) -> Credential:
    """The credential in one request header named ``name`` (case-insensitive): Authorization
    (``Token token=...``, quoted or not, ``token ...``, ``Bearer ...``, ``ApiKey ...``) or a
    bare header (``Auth-Token``, ``X-Access-Token``, ``X-Auth-Token``, ``X-Api-Key``).

    Raises a :class:`tessera.CredentialError` subclass when there is none: answer 401. A
    missing header (``None``, as ``environ.get("HTTP_AUTHORIZATION")`` gives it) is the empty
    value ``""``: :class:`tessera.CredentialEmpty`, not a ``TypeError``.
    """
    n = text(name, "name")
    v = _value(value)
    nb, nl = _native.buf(n)
    scheme, off, ln = ctypes.c_uint32(), ctypes.c_size_t(), ctypes.c_size_t()
    with _native.wiped(_native.buf(v)) as (vb, vl):
        check(
            _native.lib.tessera_parse_header(
                nb, nl, vb, vl, ctypes.byref(scheme), ctypes.byref(off), ctypes.byref(ln)
            )
        )
    return _found(v, scheme, off, ln)


def parse_authorization(value: Optional[Union[str, bytes]]) -> Credential:
    """The credential in the value of an ``Authorization`` header (as :func:`parse_header`;
    ``None``, no header, is :class:`tessera.CredentialEmpty`)."""
    v = _value(value)
    scheme, off, ln = ctypes.c_uint32(), ctypes.c_size_t(), ctypes.c_size_t()
    with _native.wiped(_native.buf(v)) as (vb, vl):
        check(
            _native.lib.tessera_parse_authorization(
                vb, vl, ctypes.byref(scheme), ctypes.byref(off), ctypes.byref(ln)
            )
        )
    return _found(v, scheme, off, ln)
