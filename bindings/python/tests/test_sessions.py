"""Sessions: issue, verify, logout, sign out everywhere, expiry, idle timeout, renewal."""

from __future__ import annotations

from datetime import timedelta

import pytest

import tessera

from conftest import DAY, HOUR, MINUTE, T0, with_secret_of


def test_a_new_session_verifies_and_returns_its_record(store: tessera.Store) -> None:
    login = store.issue_session(
        "alice", tenant="acme", label="Firefox on Linux", metadata=b"\x00device\xff",
        scopes=["read", "write"], ttl=timedelta(hours=1),
    )
    assert login.token.startswith("tss_") and len(login.token) == 4 + 72
    outcome = store.verify(login.token)
    assert outcome and outcome.valid and outcome.rejection is None
    r = outcome.record
    assert r is not None
    assert (r.id, r.kind, r.tenant, r.subject) == (login.id, tessera.Kind.SESSION, "acme", "alice")
    assert r.scopes == ("read", "write") and r.label == "Firefox on Linux"
    assert r.metadata == b"\x00device\xff"
    assert r.created_at == tessera.Clock(T0).now()
    assert r.expires_at == r.created_at + timedelta(hours=1) == r.deadline
    assert r.revoked is False and r.revoke_reason == tessera.RevokeReason.NONE
    assert r.revoked_at is None and r.parent is None and r.max_uses is None
    assert login.record.id in login.token  # the id is public and inside the text


def test_a_token_of_bytes_verifies_like_its_text(store: tessera.Store) -> None:
    login = store.issue_session("alice")
    assert store.verify(login.token.encode("ascii")).valid


def test_logging_out_one_device_leaves_the_others_valid(store: tessera.Store) -> None:
    phone = store.issue_session("bob", label="phone")
    laptop = store.issue_session("bob", label="laptop")
    assert store.revoke(phone.token) == 1
    assert store.verify(phone.token).rejection == tessera.Rejection.REVOKED
    assert store.verify(laptop.token).valid
    assert [r.label for r in store.list_subject("bob")] == ["laptop"]


def test_revoking_twice_is_harmless_and_the_reason_is_kept(store: tessera.Store) -> None:
    t = store.issue_session("carol")
    assert store.revoke(t.token) == 1
    assert store.revoke(t.token) == 0
    assert store.revoke_by_id(t.id) == 0
    r = store.get(t.id)
    assert r is not None and r.revoked and r.revoke_reason == tessera.RevokeReason.LOGOUT
    assert r.revoked_at == tessera.Clock(T0).now()


def test_logout_with_a_wrong_secret_revokes_nothing(store: tessera.Store) -> None:
    t = store.issue_session("dan")
    other = store.issue_session("dan")
    forged = with_secret_of(t.token, other.token)
    assert forged != t.token and forged[:26] == t.token[:26]
    assert store.verify(forged).rejection == tessera.Rejection.BAD_SECRET
    with pytest.raises(tessera.BadSecret):
        store.revoke(forged)
    with pytest.raises(tessera.Malformed):
        store.revoke(t.token[:-1] + ("A" if t.token[-1] != "A" else "B"))
    assert store.verify(t.token).valid and store.verify(other.token).valid


def test_log_out_my_other_devices_keeps_the_current_one(store: tessera.Store) -> None:
    current = store.issue_session("erin", tenant="acme")
    others = [store.issue_session("erin", tenant=t) for t in ("acme", "globex", "")]
    assert store.revoke_subject("erin", except_id=current.id) == 3
    assert store.verify(current.token).valid
    assert all(store.verify(o.token).rejection == tessera.Rejection.REVOKED for o in others)
    assert store.revoke_subject("erin") == 1
    assert store.get(current.id).revoke_reason == tessera.RevokeReason.SUBJECT  # type: ignore[union-attr]


def test_a_session_expires_at_its_ttl_to_the_millisecond(store: tessera.Store, clock: tessera.Clock) -> None:
    t = store.issue_session("erin", ttl=HOUR)
    clock.advance(HOUR - 1)
    assert store.verify(t.token).valid
    clock.advance(1)
    assert store.verify(t.token).rejection == tessera.Rejection.EXPIRED
    assert store.list_subject("erin") == []


def test_an_idle_token_dies_after_its_idle_timeout_while_its_ttl_is_far(
    store: tessera.Store, clock: tessera.Clock
) -> None:
    t = store.issue_session("frank", ttl=DAY, idle_timeout=30 * MINUTE)
    for _ in range(9):  # used every 20 minutes: alive for hours
        clock.advance(20 * MINUTE)
        assert store.verify(t.token).valid
    clock.advance(30 * MINUTE)
    assert store.verify(t.token).rejection == tessera.Rejection.IDLE


def test_idle_extensions_survive_a_flush_and_a_reopen(path, clock: tessera.Clock) -> None:  # type: ignore[no-untyped-def]
    with tessera.Store(path, clock=clock) as store:
        t = store.issue_session("gina", idle_timeout=30 * MINUTE)
        clock.advance(20 * MINUTE)
        assert store.verify(t.token).valid
        used_at = store.now()
        store.flush()
    with tessera.Store(path, clock=clock) as store:
        r = store.get(t.id)
        assert r is not None and r.last_used_at == used_at
        clock.advance(20 * MINUTE)
        assert store.verify(t.token).valid


def test_verifying_never_commits_for_tokens_without_idle_timeout(
    file_store: tessera.Store, clock: tessera.Clock
) -> None:
    tokens = [file_store.issue_session(f"u{i}") for i in range(20)]
    before = file_store.commits()
    for _ in range(10):
        clock.advance(MINUTE)
        assert all(file_store.verify(t.token).valid for t in tokens)
    assert file_store.commits() == before
    # The uses are not lost: the next write carries them.
    last = file_store.now()
    file_store.flush()
    assert file_store.get(tokens[7].id).last_used_at == last  # type: ignore[union-attr]


def test_a_renewed_token_never_outlives_its_max_lifetime(store: tessera.Store, clock: tessera.Clock) -> None:
    t = store.issue_session("ivy", ttl=HOUR, max_lifetime=2 * HOUR)
    clock.advance(30 * MINUTE)
    renewal = store.renew(t.token, extend_by=HOUR)
    assert not renewal.capped
    assert renewal.record.expires_at == tessera.Clock(T0 + 90 * MINUTE).now()
    clock.advance(59 * MINUTE)
    renewal = store.renew(t.token, extend_by=timedelta(hours=5))
    assert renewal.capped and renewal.record.expires_at == tessera.Clock(T0 + 2 * HOUR).now()
    clock.advance(31 * MINUTE - 1)
    assert store.verify(t.token).valid
    clock.advance(1)
    assert store.verify(t.token).rejection == tessera.Rejection.EXPIRED
    with pytest.raises(tessera.Expired):
        store.renew(t.token, extend_by=HOUR)


def test_renewing_by_id_works_and_unknown_ids_are_not_found(store: tessera.Store) -> None:
    t = store.issue_session("jack", ttl=HOUR)
    assert store.renew_by_id(t.id, extend_by=2 * HOUR).record.id == t.id
    with pytest.raises(tessera.NotFound):
        store.renew_by_id("0" * 22, extend_by=HOUR)
    with pytest.raises(tessera.InvalidArgument):
        store.renew_by_id("not an id", extend_by=HOUR)
    with pytest.raises(tessera.InvalidArgument):
        store.renew(t.token, extend_by=0)


def test_a_session_that_never_expires_cannot_be_renewed(store: tessera.Store) -> None:
    t = store.issue_session("kim", ttl=tessera.NEVER, max_lifetime=tessera.NEVER)
    assert t.record.expires_at is None and t.record.max_lifetime is None
    with pytest.raises(tessera.InvalidArgument):
        store.renew(t.token, extend_by=HOUR)


def test_revoking_a_tenant_revokes_its_sessions_and_keys_only(store: tessera.Store) -> None:
    a1 = store.issue_session("u1", tenant="acme")
    a2 = store.issue_api_key("acme")
    g = store.issue_session("u1", tenant="globex")
    assert store.revoke_tenant("acme") == 2
    assert not store.verify(a1.token) and not store.verify(a2.token)
    assert store.verify(g.token)
    assert store.get(a2.id).revoke_reason == tessera.RevokeReason.TENANT  # type: ignore[union-attr]


def test_a_subject_is_the_same_user_across_tenants(store: tessera.Store) -> None:
    store.issue_session("lee", tenant="acme")
    store.issue_session("lee", tenant="globex")
    assert sorted(r.tenant for r in store.list_subject("lee")) == ["acme", "globex"]


def test_bad_requests_get_clear_errors_and_store_nothing(store: tessera.Store) -> None:
    with pytest.raises(tessera.InvalidArgument) as err:
        store.issue_session("")
    assert "subject" in str(err.value)
    with pytest.raises(tessera.InvalidArgument):
        store.issue_session("x" * 256)
    with pytest.raises(tessera.InvalidArgument):
        store.issue_session("mo", scopes=["has space"])
    with pytest.raises(tessera.InvalidArgument):
        store.issue_session("mo", scopes=[f"s{i}" for i in range(65)])
    with pytest.raises(tessera.InvalidArgument):
        store.issue_session("mo", metadata=b"x" * 5000)
    with pytest.raises(tessera.InvalidArgument):
        store.issue_session("mo", ttl=0)
    with pytest.raises(tessera.InvalidArgument):
        store.issue_session("mo", ttl=-5)
    with pytest.raises(tessera.InvalidArgument):
        store.issue_session("mo", max_uses=0)
    with pytest.raises(tessera.InvalidUtf8):
        store.issue_session("\udcff")
    with pytest.raises(TypeError):
        store.issue_session("mo", scopes="read")  # one string is not a list of scopes
    with pytest.raises(TypeError):
        store.issue_session("mo", ttl=1.5)  # type: ignore[arg-type]
    assert store.stats().all == tessera.Counts(live=0, expired=0, revoked=0)


def test_invalid_argument_is_also_a_value_error(store: tessera.Store) -> None:
    with pytest.raises(ValueError):
        store.issue_session("")
