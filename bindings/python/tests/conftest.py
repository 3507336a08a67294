"""Fixtures shared by the tests: a manual clock, stores in memory and on disk, the golden
vectors and the C header of the repository."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import pytest

import tessera

T0 = 1_700_000_000_000  # the manual clock's start, Unix milliseconds
SECOND = 1000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE
DAY = 24 * HOUR

REPO = Path(__file__).resolve().parents[3]
GOLDEN = REPO / "tests" / "vectors" / "golden.json"
HEADER = REPO / "include" / "tessera.h"


@pytest.fixture
def clock() -> tessera.Clock:
    return tessera.Clock(T0)


@pytest.fixture
def store(clock: tessera.Clock) -> Iterator[tessera.Store]:
    with tessera.Store.in_memory(clock=clock) as s:
        yield s


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "tokens.redb"


@pytest.fixture
def file_store(path: Path, clock: tessera.Clock) -> Iterator[tessera.Store]:
    with tessera.Store(path, clock=clock) as s:
        yield s


@pytest.fixture(scope="session")
def golden() -> dict:
    return json.loads(GOLDEN.read_text())


@pytest.fixture(scope="session")
def header() -> str:
    return HEADER.read_text()


ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def seal(signed: str) -> str:
    """`signed` (prefix, '_', id and secret) with its 6 base62 check digits: CRC-32 of the
    text, as src/token_text.rs computes it. Lets a test forge a well-formed token."""
    import zlib

    value, digits = zlib.crc32(signed.encode("ascii")), []
    for _ in range(6):
        value, d = divmod(value, 62)
        digits.append(ALPHABET[d])
    return signed + "".join(reversed(digits))


def with_secret_of(token: str, other: str) -> str:
    """`token`'s prefix and id with `other`'s secret, well-formed."""
    cut = len(token) - 72
    return seal(token[: cut + 22] + other[cut + 22 : cut + 66])
