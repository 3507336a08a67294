"""Opening a store: new and existing files, the same path twice, files that are not stores,
damaged files, peppers, bad options, a file held by another process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import tessera

from conftest import HOUR


def test_a_missing_file_is_created_and_reopened_with_its_tokens(path: Path) -> None:
    assert not path.exists()
    with tessera.Store(path) as store:
        t = store.issue_session("alice")
    assert path.exists()
    with tessera.Store(str(path)) as store:
        assert store.verify(t.token).valid


def test_opening_the_same_path_twice_gives_the_same_store(path: Path) -> None:
    with tessera.Store(path) as one, tessera.Store(path.parent / "." / path.name) as two:
        t = two.issue_session("alice")
        assert one.verify(t.token).valid
        two.revoke(t.token)
        assert one.verify(t.token).rejection == tessera.Rejection.REVOKED
        assert one.commits() == two.commits()
        with pytest.raises(tessera.OptionsConflict):
            tessera.Store(path, session_prefix="a", api_key_prefix="b")
        two.close()
        assert one.verify(t.token).rejection == tessera.Rejection.REVOKED  # one still works


def test_a_file_that_is_not_a_store_gets_a_clear_error(tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_bytes(b"these are not tokens\n")
    with pytest.raises(tessera.NotAStore) as err:
        tessera.Store(notes)
    assert "not a tessera store" in str(err.value)
    assert isinstance(err.value, tessera.StoreError)
    assert notes.read_bytes() == b"these are not tokens\n"


def test_a_corrupt_file_gets_an_error_not_a_crash(path: Path) -> None:
    with tessera.Store(path) as store:
        for i in range(200):
            store.issue_session(f"u{i}")
    data = bytearray(path.read_bytes())
    for i in range(9, min(len(data), 9 + 64 * 1024)):
        data[i] ^= ((i * 31) & 0xFF) | 1
    path.write_bytes(bytes(data))
    with pytest.raises(tessera.StoreError):
        tessera.Store(path)


def test_peppered_stores_need_their_pepper(path: Path) -> None:
    pepper = b"a pepper of sixteen+ bytes"
    with tessera.Store(path, pepper=pepper) as store:
        t = store.issue_session("alice")
    with pytest.raises(tessera.PepperMismatch):
        tessera.Store(path)
    with pytest.raises(tessera.PepperMismatch) as err:
        tessera.Store(path, pepper=b"another pepper of 16+ bytes")
    assert "does not match" in str(err.value)
    with tessera.Store(path, pepper=pepper) as store:
        assert store.verify(t.token).valid
    with pytest.raises(tessera.InvalidArgument):
        tessera.Store(path, pepper=b"short")


@pytest.mark.parametrize(
    "options",
    [
        dict(cache_size=10),
        dict(session_prefix="same", api_key_prefix="same"),
        dict(session_prefix="has-dash"),
        dict(session_prefix=""),
        dict(concurrency=tessera.Concurrency.MULTI_PROCESS, durability=tessera.Durability.EVENTUAL),
        dict(purge_batch=0),
        dict(flush_interval=0),
        dict(session_ttl=0),
        dict(sweep_interval=10),
    ],
    ids=repr,
)
def test_invalid_options_are_refused_with_a_reason(path: Path, options: dict) -> None:
    with pytest.raises(tessera.InvalidArgument) as err:
        tessera.Store(path, **options)
    assert err.value.message
    assert not path.exists(), "a refused open creates no file"


def test_a_none_path_is_refused_not_taken_for_memory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # TESSERA_STORE unset: a store in memory would be each worker's own, lost on restart.
    monkeypatch.delenv("TESSERA_STORE", raising=False)
    monkeypatch.chdir(tmp_path)
    opens = [
        lambda: tessera.Store(os.environ.get("TESSERA_STORE")),  # type: ignore[arg-type]
        lambda: tessera.Store(None),  # type: ignore[arg-type]
        lambda: tessera.Store(path=None),  # type: ignore[arg-type]
        lambda: tessera.Store(None, concurrency=tessera.Concurrency.MULTI_PROCESS),  # type: ignore[arg-type]
    ]
    for open_store in opens:
        with pytest.raises(TypeError, match=r"tessera\.Store\.in_memory"):
            open_store()
    with pytest.raises(TypeError):
        tessera.Store()  # type: ignore[call-arg]
    # What os.fspath refuses is no file name either (no file named False or 42).
    for bad in (False, 42):
        with pytest.raises(TypeError):
            tessera.Store(bad)  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []
    with tessera.Store.in_memory() as store:
        assert store.path is None and "memory" in repr(store)


def test_a_store_in_memory_refuses_the_multi_process_mode() -> None:
    # Each process would have a store of its own: the library refuses it, through the binding.
    with pytest.raises(tessera.InvalidArgument, match="needs a file"):
        tessera.Store.in_memory(concurrency=tessera.Concurrency.MULTI_PROCESS)
    with tessera.Store.in_memory(concurrency=tessera.Concurrency.EXCLUSIVE) as store:
        assert store.verify(store.issue_session("alice").token)


def test_a_clock_of_the_wrong_kind_is_a_type_error(path: Path, clock: tessera.Clock) -> None:
    for bad in (clock.now(), clock.now_ms(), "now", object()):
        with pytest.raises(TypeError, match=r"tessera\.Clock"):
            tessera.Store.in_memory(clock=bad)
        with pytest.raises(TypeError, match=r"tessera\.Clock"):
            tessera.Store(path, clock=bad)  # type: ignore[arg-type]
    assert not path.exists(), "a refused open creates no file"


def test_a_path_with_a_nul_byte_is_an_invalid_argument(tmp_path: Path) -> None:
    with pytest.raises(tessera.InvalidArgument):
        tessera.Store(str(tmp_path / "a\0b"))


def test_custom_prefixes_name_the_tokens(path: Path) -> None:
    with tessera.Store(path, session_prefix="myapp", api_key_prefix="myapp_key") as store:
        assert store.issue_session("a").token.startswith("myapp_")
        key = store.issue_api_key("t")
        assert key.token.startswith("myapp_key_")
        assert store.verify(key.token).valid
    with tessera.Store.in_memory() as other:
        assert other.verify(key.token).rejection == tessera.Rejection.MALFORMED


HOLD = """
import sys, tessera
store = tessera.Store(sys.argv[1])
print("ready", flush=True)
sys.stdin.readline()
store.close()
"""


def test_a_store_open_in_another_process_is_locked(path: Path) -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        with pytest.raises(tessera.Locked) as err:
            tessera.Store(path)
        assert "another process" in str(err.value)
        # Sharing needs every process to ask for it: the holder opened it exclusively.
        with pytest.raises(tessera.Locked):
            tessera.Store(path, concurrency=tessera.Concurrency.MULTI_PROCESS)
    finally:
        assert child.stdin is not None
        child.stdin.write("\n")
        child.stdin.close()
        assert child.wait(timeout=30) == 0
    with tessera.Store(path) as store:  # once the other process is gone, it opens
        store.issue_session("alice", ttl=HOUR)
