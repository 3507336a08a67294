"""No secret in the store file (nor in the journal beside it), in a repr or in an error, nor
left in the binding's own copies handed to the library; a copied file without its pepper
verifies nothing."""

from __future__ import annotations

import shutil
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Dict, List, Tuple

import pytest

import tessera

from conftest import ALPHABET, HOUR, MINUTE, with_secret_of


def secret_bytes(token: str) -> bytes:
    """The 32 raw secret bytes of a token text (4 blocks of 11 base62 digits)."""
    body = token[-72:]
    digits = body[22:66]
    out = b""
    for i in range(0, 44, 11):
        value = 0
        for c in digits[i : i + 11]:
            value = value * 62 + ALPHABET.index(c)
        out += value.to_bytes(8, "big")
    return out


def test_the_store_files_hold_no_secret_in_any_form(path: Path) -> None:
    with tessera.Store(path) as store:
        issued = [
            store.issue_api_key("acme", scopes=["read"]) if i % 3 == 0 else store.issue_session(f"user{i}")
            for i in range(150)
        ]
        for t in issued[::5]:
            assert store.verify(t.token).valid
            store.revoke(t.token)
    files = b"".join(p.read_bytes() for p in path.parent.iterdir() if p.is_file())
    assert len(files) > 0
    for t in issued:
        raw = secret_bytes(t.token)
        assert len(raw) == 32
        assert raw not in files, "raw secret found"
        assert raw.hex().encode() not in files, "hex secret found"
        assert t.token[-72 + 22 : -6].encode() not in files, "base62 secret found"
        assert t.token.encode() not in files, "token text found"


def test_errors_never_show_a_secret(store: tessera.Store) -> None:
    t = store.issue_session("alice")
    secret = t.token[-72 + 22 : -6]
    shown = []
    for broken in (t.token[:-1] + "!", t.token + "0", t.token[:-2]):
        with pytest.raises(tessera.TesseraError) as err:
            store.revoke(broken)
        shown += [str(err.value), repr(err.value)]
        shown.append(store.verify(broken).detail)
    # Well-formed texts that name no token of this store: t's id with another token's secret
    # (bad secret), another store's token carrying t's secret (unknown token).
    other = store.issue_session("bob")
    with tessera.Store.in_memory() as elsewhere:
        stranger = elsewhere.issue_session("carol").token
    for wrong, rejection, error in (
        (with_secret_of(t.token, other.token), tessera.Rejection.BAD_SECRET, tessera.BadSecret),
        (with_secret_of(stranger, t.token), tessera.Rejection.UNKNOWN_TOKEN, tessera.UnknownToken),
    ):
        outcome = store.verify(wrong)
        assert outcome.rejection is rejection
        shown.append(outcome.detail)
        with pytest.raises(error) as err:
            store.revoke(wrong)
        shown += [str(err.value), repr(err.value)]
    secrets = (secret, other.token[-72 + 22 : -6])
    with pytest.raises(tessera.CredentialError) as cerr:
        tessera.parse_header("Authorization", f"Bearer {t.token} extra")
    shown.append(str(cerr.value))
    assert all(s not in text for s in secrets for text in shown), shown


def test_a_copied_file_without_its_pepper_verifies_nothing(tmp_path: Path) -> None:
    original, copy = tmp_path / "orig.redb", tmp_path / "copy.redb"
    pepper = b"the host's pepper, 16+ bytes"
    with tessera.Store(original, pepper=pepper) as store:
        t = store.issue_session("alice")
    shutil.copyfile(original, copy)
    for other in (None, b"a guessed pepper of 16+ bytes"):
        with pytest.raises(tessera.PepperMismatch):
            tessera.Store(copy, pepper=other)
    with tessera.Store(copy, pepper=pepper) as store:  # with it, the copy is the store
        assert store.verify(t.token).valid


class UncopiablePepper(bytearray):
    """A pepper a host keeps in a bytearray to wipe it, and that refuses to be turned into an
    immutable ``bytes``: such a copy could never be wiped."""

    def __bytes__(self) -> bytes:
        raise AssertionError("the pepper was copied into a bytes object, which cannot be wiped")


def test_a_bytearray_pepper_is_handed_over_without_a_copy_that_cannot_be_wiped(path: Path) -> None:
    # The pepper goes to the library without passing through bytes(), and the host's copy is
    # its own (the binding's own ctypes copy is wiped: see the test of it below).
    text = b"the host's pepper, 16+ bytes"
    pepper = UncopiablePepper(text)
    with tessera.Store(path, pepper=pepper) as store:
        t = store.issue_session("alice")
    assert pepper == text
    with tessera.Store(path, pepper=text) as store:  # the same pepper, as bytes
        assert store.verify(t.token).valid
    plain = bytearray(text)
    with tessera.Store(path, pepper=plain) as store:
        plain[:] = bytes(len(plain))  # the host wipes its copy: the store keeps the library's
        assert store.verify(t.token).valid
    with pytest.raises(tessera.PepperMismatch):
        tessera.Store(path, pepper=plain)


def spy_on_copies(monkeypatch: pytest.MonkeyPatch, maker: str) -> List[Tuple[Any, bytes]]:
    """Records every ctypes copy the binding makes with ``_native.<maker>`` (``buf`` or
    ``bytes_buf``), with the bytes it was made from: the memory handed to the library."""
    made: List[Tuple[Any, bytes]] = []
    real = getattr(tessera._native, maker)

    def recording(data: bytes) -> Tuple[Any, int]:
        ptr, n = real(data)
        made.append((ptr, bytes(data)))
        return ptr, n

    monkeypatch.setattr(tessera._native, maker, recording)
    return made


def test_the_bindings_copies_of_token_texts_are_wiped_after_each_call(
    store: tessera.Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    session = store.issue_session("alice", ttl=HOUR)
    key = store.issue_api_key("acme")
    child = store.issue_child(session.token, subject="bob")
    other = store.issue_session("dave")
    texts = {t.token.encode("ascii") for t in (session, key, child, other)}
    copies = spy_on_copies(monkeypatch, "buf")

    def left_behind(call: Callable[[], object]) -> List[bytes]:
        """Runs ``call`` and gives the copies of a token text it left unwiped in memory."""
        copies.clear()
        call()
        handed = [ptr for ptr, data in copies if data in texts]
        assert handed, "the call handed no token text to the library"
        return [bytes(ptr) for ptr in handed if bytes(ptr) != bytes(len(ptr))]

    def refused(call: Callable[[], object]) -> Callable[[], None]:
        def run() -> None:
            with pytest.raises(tessera.Rejected):
                call()
        return run

    calls: Dict[str, Callable[[], object]] = {
        "verify": lambda: store.verify(session.token),
        "verify with requirements": lambda: store.verify(session.token, tenant="acme", scopes=["x"]),
        "renew": lambda: store.renew(session.token, extend_by=HOUR),
        "issue_child": lambda: store.issue_child(session.token, subject="carol"),
        "roll": lambda: store.roll(key.token, grace=MINUTE),
        "rotate": lambda: store.rotate(other.token),
        "revoke": lambda: store.revoke(child.token),
        "a refused renew": refused(lambda: store.renew(child.token, extend_by=HOUR)),
        "a refused rotate": refused(lambda: store.rotate(child.token)),
    }
    for name, call in calls.items():
        assert left_behind(call) == [], f"{name} left a copy of a token text in memory"


def test_the_bindings_copy_of_the_pepper_is_wiped_after_the_open(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pepper = b"the host's pepper, 16+ bytes"
    copies = spy_on_copies(monkeypatch, "bytes_buf")
    with tessera.Store(path, pepper=pepper) as store:
        t = store.issue_session("alice")
    handed = [ptr for ptr, data in copies if data == pepper]
    assert handed and all(bytes(ptr) == bytes(len(pepper)) for ptr in handed)
    with tessera.Store(path, pepper=pepper) as store:
        assert store.verify(t.token).valid


def test_a_failing_request_does_not_spoil_the_others_in_its_batch(file_store: tessera.Store) -> None:
    def issue(i: int) -> str:
        try:
            # Every fourth request is invalid (a zero lifetime): refused alone.
            return file_store.issue_session(f"u{i}", ttl=0 if i % 4 == 0 else 60_000).token
        except tessera.InvalidArgument:
            return "refused"

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(issue, range(64)))
    assert results.count("refused") == 16
    assert all(file_store.verify(t).valid for t in results if t != "refused")
    assert file_store.stats().all.live == 48
