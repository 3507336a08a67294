"""API keys: never expiring by default, scopes and tenants required at verify, listing."""

from __future__ import annotations

import pytest

import tessera

from conftest import HOUR, MINUTE


def test_an_api_key_never_expires_unless_asked(store: tessera.Store, clock: tessera.Clock) -> None:
    key = store.issue_api_key("acme", label="BI export", scopes=["reports:read"])
    assert key.token.startswith("tsk_")
    assert key.record.kind == tessera.Kind.API_KEY and key.record.expires_at is None
    assert key.record.subject is None and key.record.tenant == "acme"
    clock.advance(10 * 365 * 24 * HOUR)
    assert store.verify(key.token).valid
    short = store.issue_api_key("acme", ttl=MINUTE)
    clock.advance(MINUTE)
    assert store.verify(short.token).rejection == tessera.Rejection.EXPIRED


def test_a_default_api_key_ttl_applies_to_keys_that_do_not_say(clock: tessera.Clock) -> None:
    with tessera.Store.in_memory(clock=clock, api_key_ttl=HOUR) as store:
        key = store.issue_api_key("acme")
        forever = store.issue_api_key("acme", ttl=tessera.NEVER)
        clock.advance(HOUR)
        assert store.verify(key.token).rejection == tessera.Rejection.EXPIRED
        assert store.verify(forever.token).valid


def test_scopes_and_tenant_are_enforced_when_required(store: tessera.Store) -> None:
    key = store.issue_api_key("acme", subject="alice", scopes=["locations:read", "reports:read"])
    assert store.verify(key.token, scopes=["reports:read"]).valid
    assert store.verify(key.token, scopes=["locations:read", "reports:read"]).valid
    denied = store.verify(key.token, scopes=["reports:write"])
    assert denied.rejection == tessera.Rejection.SCOPE_DENIED and denied.record is None
    assert "scope" in denied.detail
    assert store.verify(key.token, tenant="acme").valid
    assert store.verify(key.token, tenant="globex").rejection == tessera.Rejection.TENANT_MISMATCH
    both = store.verify(key.token, tenant="acme", scopes=["reports:read"])
    assert both.valid and both.record.subject == "alice"  # type: ignore[union-attr]


def test_a_tenants_keys_are_listed_without_secrets(store: tessera.Store, clock: tessera.Clock) -> None:
    k1 = store.issue_api_key("acme", label="one")
    clock.advance(1)  # oldest first: make the order of issue visible
    k2 = store.issue_api_key("acme", label="two", subject="bob")
    store.issue_api_key("globex", label="other")
    store.issue_session("bob", tenant="acme")
    keys = store.list_api_keys("acme")
    assert [k.id for k in keys] == [k1.id, k2.id]
    assert all(k1.token not in repr(k) and k2.token not in repr(k) for k in keys)
    assert len(store.list_tenant("acme")) == 3
    assert [r.kind for r in store.list_tenant("acme", kind=tessera.Kind.SESSION)] == [
        tessera.Kind.SESSION
    ]
    store.revoke_by_id(k1.id)
    assert [k.id for k in store.list_api_keys("acme")] == [k2.id]


def test_a_limited_use_token_is_valid_until_its_uses_are_spent(store: tessera.Store) -> None:
    reset = store.issue_session("carol", max_uses=3, label="password reset")
    for n in (1, 2, 3):
        outcome = store.verify(reset.token)
        assert outcome.valid and outcome.record.uses == n  # type: ignore[union-attr]
    assert store.verify(reset.token).rejection == tessera.Rejection.EXHAUSTED
    r = store.get(reset.id)
    assert r is not None and (r.uses, r.max_uses) == (3, 3)


def test_unknown_ids_are_none_for_get_and_not_found_for_revoke(store: tessera.Store) -> None:
    assert store.get("0" * 22) is None
    with pytest.raises(tessera.NotFound) as err:
        store.revoke_by_id("0" * 22)
    assert isinstance(err.value, LookupError)
    with pytest.raises(tessera.InvalidArgument):
        store.get("short")
