"""The Python face of the binding: context managers, use after close, typed records and
outcomes, exceptions, secrets kept out of reprs, the manual clock."""

from __future__ import annotations

import dataclasses
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

import tessera

from conftest import HOUR, T0


def test_a_store_is_a_context_manager_that_closes(path: Path) -> None:
    with tessera.Store(path) as store:
        assert not store.closed
        t = store.issue_session("alice")
    assert store.closed
    assert "closed" in repr(store) and str(path) in repr(store)
    with pytest.raises(tessera.ClosedError):
        store.verify(t.token)


def test_a_closed_store_refuses_every_call(store: tessera.Store) -> None:
    t = store.issue_session("alice")
    store.close()
    store.close()  # closing twice is harmless
    calls = [
        lambda: store.issue_session("bob"),
        lambda: store.issue_api_key("acme"),
        lambda: store.verify(t.token),
        lambda: store.verify(t.token, scopes=["x"]),
        lambda: store.revoke(t.token),
        lambda: store.revoke_by_id(t.id),
        lambda: store.revoke_subject("alice"),
        lambda: store.revoke_tenant(""),
        lambda: store.renew(t.token, extend_by=HOUR),
        lambda: store.get(t.id),
        lambda: store.list_subject("alice"),
        lambda: store.list_tenant(""),
        lambda: store.list_api_keys(""),
        lambda: store.purge_batch(),
        lambda: store.purge_expired(),
        lambda: store.flush(),
        lambda: store.stats(),
        lambda: store.commits(),
        lambda: store.now(),
        lambda: store.background_error(),
        lambda: store.rotate(t.token),
        lambda: store.children(t.id),
        lambda: store.events(),
    ]
    for call in calls:
        with pytest.raises(tessera.ClosedError):
            call()
    with pytest.raises(tessera.ClosedError):
        with store:
            pass


def test_the_store_closes_when_the_block_raises(path: Path) -> None:
    with pytest.raises(RuntimeError):
        with tessera.Store(path) as store:
            raise RuntimeError("boom")
    assert store.closed
    with tessera.Store(path):  # released: opens again
        pass


def test_the_block_keeps_its_error_when_closing_fails_too(path: Path) -> None:
    def release(store: tessera.Store) -> None:
        # A handle released behind the store's back: closing it fails (as an I/O error would).
        tessera._native.lib.tessera_store_free(store._handle)

    with pytest.raises(tessera.InvalidHandle):
        with tessera.Store(path) as store:
            release(store)
    with pytest.raises(RuntimeError, match="boom") as raised:
        with tessera.Store(path) as store:
            release(store)
            raise RuntimeError("boom")
    assert store.closed
    if sys.version_info >= (3, 11):
        notes = getattr(raised.value, "__notes__", [])
        assert any("closing the store failed too: InvalidHandle" in n for n in notes), notes


def test_a_store_that_is_garbage_collected_releases_its_file(path: Path) -> None:
    store = tessera.Store(path)
    store.issue_session("alice")
    del store
    import gc

    gc.collect()
    with tessera.Store(path, session_prefix="x", api_key_prefix="y"):
        pass  # no OptionsConflict: the old handle is gone


def test_records_are_typed_and_frozen(store: tessera.Store) -> None:
    t = store.issue_session("alice", ttl=timedelta(minutes=5), idle_timeout=60_000,
                            max_lifetime=HOUR)
    r = t.record
    assert isinstance(r, tessera.Record) and isinstance(r.kind, tessera.Kind)
    assert r.created_at == datetime.fromtimestamp(T0 / 1000, tz=timezone.utc)
    assert r.created_at.tzinfo is not None
    assert r.idle_timeout == timedelta(minutes=1) and r.max_lifetime == timedelta(hours=1)
    assert r.expires_at == r.created_at + timedelta(minutes=5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.subject = "mallory"  # type: ignore[misc]
    assert isinstance(r.scopes, tuple) and isinstance(r.metadata, bytes)


def test_no_repr_shows_a_secret(store: tessera.Store) -> None:
    t = store.issue_session("alice")
    secret = t.token[4 + 22:]
    assert secret not in repr(t) and secret not in str(t)
    assert t.id in repr(t) and "redacted" in repr(t)
    assert secret not in repr(store.verify(t.token))
    cred = tessera.parse_header("Authorization", f"Bearer {t.token}")
    assert cred.token == t.token and secret not in repr(cred)
    with pytest.raises(tessera.TesseraError) as err:
        store.revoke(t.token[:-1] + ("A" if t.token[-1] != "A" else "B"))
    assert secret not in str(err.value)


def test_verify_returns_an_outcome_and_never_raises_for_a_bad_token(store: tessera.Store) -> None:
    outcome = store.verify("not a token")
    assert not outcome and outcome.rejection is tessera.Rejection.MALFORMED
    assert outcome.record is None and "malformed" in outcome.detail
    assert str(outcome.rejection) == "malformed"
    assert outcome.rejection.status == tessera.Status.MALFORMED
    assert store.verify(b"\x00\xff").rejection == tessera.Rejection.MALFORMED
    assert store.verify("").rejection == tessera.Rejection.MALFORMED
    # No token at all (a missing header): malformed too, not a TypeError (a 500).
    assert store.verify(None).rejection == tessera.Rejection.MALFORMED
    assert store.verify(None, scopes=["x"]).rejection == tessera.Rejection.MALFORMED
    # A client's token longer than any input is just as malformed (not a usage error, a 500).
    huge = "a" * (2**20 + 1)
    assert store.verify(huge).rejection == tessera.Rejection.MALFORMED
    assert store.verify(huge, scopes=["x"]).rejection == tessera.Rejection.MALFORMED
    with pytest.raises(tessera.Malformed):
        store.revoke(huge)


def test_the_longest_lifetimes_show_as_datetimes(store: tessera.Store) -> None:
    key = store.issue_api_key("acme", ttl=timedelta.max)
    assert key.record.expires_at.year == 9999
    session = store.issue_session(
        "alice", ttl=2**62, idle_timeout=2**62, max_lifetime=tessera.NEVER
    )
    assert session.record.expires_at.year == 9999
    assert session.record.idle_timeout > timedelta(days=365 * 8000)
    assert [r.id for r in store.list_api_keys("acme")] == [key.id]
    assert store.verify(key.token)


def test_exceptions_form_one_hierarchy_with_status_and_name(store: tessera.Store) -> None:
    with pytest.raises(tessera.TesseraError) as err:
        store.revoke("tss_garbage")
    e = err.value
    assert type(e) is tessera.Malformed and isinstance(e, tessera.Rejected)
    assert e.status == tessera.Status.MALFORMED == 1 and e.name == "malformed"
    assert str(e).endswith("(malformed)")
    for group, members in {
        tessera.Rejected: [tessera.Expired, tessera.Revoked, tessera.ReuseDetected],
        tessera.CredentialError: [tessera.UnknownScheme, tessera.CredentialTooLong],
        tessera.UsageError: [tessera.ClosedError, tessera.ForkedChild, tessera.InvalidArgument],
        tessera.StoreError: [tessera.Locked, tessera.NotAStore, tessera.PepperMismatch],
        tessera.LibraryFault: [tessera.PanicError, tessera.PoisonedError],
    }.items():
        assert all(issubclass(m, group) for m in members), group
    assert tessera.errors.error_for(999, "?").name == "unrecognized_status"


def test_durations_accept_timedelta_milliseconds_or_never(store: tessera.Store) -> None:
    assert store.issue_session("a", ttl=timedelta(seconds=2)).record.expires_at == \
        store.issue_session("b", ttl=2000).record.expires_at
    assert store.issue_session("c", ttl=tessera.NEVER, max_lifetime=tessera.NEVER).record.expires_at is None
    assert repr(tessera.NEVER) == "tessera.NEVER"
    with pytest.raises(tessera.InvalidArgument):
        store.issue_session("d", ttl=timedelta(seconds=-1))
    with pytest.raises(TypeError):
        store.issue_session("e", ttl=True)  # type: ignore[arg-type]


def test_the_manual_clock_moves_only_when_told(clock: tessera.Clock, store: tessera.Store) -> None:
    assert clock.now_ms() == T0 == (store.now() - datetime(1970, 1, 1, tzinfo=timezone.utc)) // timedelta(milliseconds=1)
    clock.advance(timedelta(seconds=1))
    clock.advance(1)
    assert clock.now_ms() == T0 + 1001 and store.now() == clock.now()
    clock.set(datetime(2030, 1, 1, tzinfo=timezone.utc))
    assert store.now() == datetime(2030, 1, 1, tzinfo=timezone.utc)
    clock.set(T0)  # backwards too
    assert clock.now_ms() == T0
    with pytest.raises(tessera.InvalidArgument):
        clock.advance(-1)
    with pytest.raises(ValueError):
        clock.set(datetime(2030, 1, 1))  # naive


def test_a_store_keeps_its_clock_after_the_python_clock_is_gone() -> None:
    clock = tessera.Clock(T0)
    store = tessera.Store.in_memory(clock=clock)
    t = store.issue_session("a", ttl=1000)
    clock.advance(1000)
    del clock
    assert store.verify(t.token).rejection == tessera.Rejection.EXPIRED
    store.close()


def test_credentials_are_found_in_every_seed_header_form() -> None:
    token = "tss_abc"
    forms = {
        ("Authorization", f"Token token={token}"): tessera.Scheme.TOKEN,
        ("Authorization", f'Token token="{token}"'): tessera.Scheme.TOKEN,
        ("Authorization", f"token {token}"): tessera.Scheme.TOKEN,
        ("Authorization", f"Bearer {token}"): tessera.Scheme.BEARER,
        ("Authorization", f"ApiKey {token}"): tessera.Scheme.API_KEY,
        ("Auth-Token", token): tessera.Scheme.BARE,
        ("X-Access-Token", token): tessera.Scheme.BARE,
    }
    for (name, value), scheme in forms.items():
        assert tessera.parse_header(name, value) == tessera.Credential(scheme, token)
    assert tessera.parse_authorization(f"Bearer {token}").scheme == tessera.Scheme.BEARER
    with pytest.raises(tessera.UnknownScheme):
        tessera.parse_authorization("Basic dXNlcjpwYXNz")
    with pytest.raises(ValueError):  # CredentialError is a ValueError
        tessera.parse_header("Cookie", "x")


def test_a_missing_header_is_an_empty_credential_not_a_type_error() -> None:
    # An anonymous request: the app passes environ.get(...) straight in, and must get the 401
    # of an empty header (CredentialEmpty), not a TypeError (a 500).
    environ: dict = {"HTTP_X_FORWARDED_FOR": "10.0.0.1"}
    with pytest.raises(tessera.CredentialEmpty):
        tessera.parse_authorization(environ.get("HTTP_AUTHORIZATION"))
    for name in ("Authorization", "Auth-Token", "X-Api-Key"):
        with pytest.raises(tessera.CredentialEmpty):
            tessera.parse_header(name, environ.get("HTTP_" + name.upper().replace("-", "_")))
        with pytest.raises(tessera.CredentialEmpty):
            tessera.parse_header(name, "")
    with pytest.raises(TypeError):  # a value that is there must still be text
        tessera.parse_authorization(42)  # type: ignore[arg-type]


def test_versions_are_reported() -> None:
    assert tessera.version().count(".") == 2
    assert tessera.abi_version() == tessera.ABI_VERSION
    assert tessera.__version__ == tessera.version()
