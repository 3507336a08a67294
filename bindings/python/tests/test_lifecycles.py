"""Child tokens, rotation with reuse detection, rolling API keys, per-subject caps,
revoking everything issued before an instant, and the audit feed."""

from __future__ import annotations

import pytest

import tessera

from conftest import HOUR, MINUTE, SECOND, T0


@pytest.fixture
def lstore(clock: tessera.Clock):  # type: ignore[no-untyped-def]
    with tessera.Store.in_memory(
        clock=clock,
        rotation_grace=30 * SECOND,
        subject_caps={
            tessera.Kind.SESSION: (2, tessera.CapPolicy.EVICT_OLDEST),
            tessera.Kind.API_KEY: (1, tessera.CapPolicy.REFUSE),
        },
        event_retention=1000,
    ) as s:
        yield s


def test_a_child_never_outlives_its_parent_and_dies_with_it(lstore: tessera.Store, clock: tessera.Clock) -> None:
    parent = lstore.issue_session("frank", ttl=HOUR)
    child = lstore.issue_child(parent.token, kind=tessera.Kind.API_KEY, tenant="partner",
                               ttl=2 * HOUR)
    assert child.clamped and child.record.parent == parent.id
    assert child.record.expires_at == parent.record.expires_at
    clock.advance(SECOND)
    second = lstore.issue_child_by_id(parent.id, subject="frank", ttl=MINUTE)
    assert not second.clamped and second.record.kind == tessera.Kind.SESSION
    assert [c.id for c in lstore.children(parent.id)] == [child.id, second.id]
    lstore.revoke(parent.token)
    assert lstore.verify(child.token).rejection == tessera.Rejection.REVOKED
    assert lstore.get(child.id).revoke_reason == tessera.RevokeReason.CASCADE  # type: ignore[union-attr]
    with pytest.raises(tessera.Revoked):
        lstore.issue_child(parent.token, subject="frank")
    with pytest.raises(tessera.NotFound):
        lstore.issue_child_by_id("0" * 22, subject="x")
    with pytest.raises(TypeError):
        lstore.issue_child(parent.token)  # a session child needs a subject


def test_a_rotated_token_works_for_its_grace_then_its_reuse_kills_the_family(
    lstore: tessera.Store, clock: tessera.Clock
) -> None:
    first = lstore.issue_session("gina")
    clock.advance(SECOND)
    second = lstore.rotate(first.token)
    assert second.token != first.token and second.record.family == first.id
    old = lstore.get(first.id)
    assert old is not None and old.successor == second.id
    assert old.replacement == tessera.Replacement.ROTATED
    assert old.replaced_at == tessera.Clock(T0 + SECOND).now()
    assert old.grace_until == tessera.Clock(T0 + 31 * SECOND).now()
    assert lstore.rotate(first.token).id == second.id  # a retry inside the grace window
    assert lstore.verify(first.token).valid and lstore.verify(second.token).valid
    clock.advance(31 * SECOND)
    assert lstore.verify(first.token).rejection == tessera.Rejection.REUSE_DETECTED
    assert lstore.verify(second.token).rejection == tessera.Rejection.REVOKED
    assert lstore.get(second.id).revoke_reason == tessera.RevokeReason.REUSE  # type: ignore[union-attr]


def test_a_per_subject_cap_evicts_the_oldest_session(lstore: tessera.Store, clock: tessera.Clock) -> None:
    logins = []
    for _ in range(3):
        logins.append(lstore.issue_session("gina"))
        clock.advance(SECOND)
    assert lstore.verify(logins[0].token).rejection == tessera.Rejection.REVOKED
    assert lstore.get(logins[0].id).revoke_reason == tessera.RevokeReason.CAP_EVICTION  # type: ignore[union-attr]
    assert lstore.verify(logins[1].token) and lstore.verify(logins[2].token)


def test_a_refusing_cap_raises_limit_reached_and_rolling_replaces_the_key(
    lstore: tessera.Store, clock: tessera.Clock
) -> None:
    k1 = lstore.issue_api_key("acme", subject="hank", scopes=["deploy"])
    with pytest.raises(tessera.LimitReached) as err:
        lstore.issue_api_key("acme", subject="hank")
    assert err.value.status == tessera.Status.LIMIT_REACHED == 21
    k2 = lstore.roll(k1.token, grace=MINUTE)
    assert k2.record.scopes == ("deploy",) and k2.record.subject == "hank"
    assert lstore.verify(k1.token) and lstore.verify(k2.token)
    clock.advance(MINUTE)
    assert lstore.verify(k1.token).rejection == tessera.Rejection.EXPIRED
    k3 = lstore.roll_by_id(k2.id, grace=0)
    assert lstore.verify(k2.token).rejection == tessera.Rejection.EXPIRED
    assert lstore.verify(k3.token).valid
    assert lstore.get(k2.id).replacement == tessera.Replacement.ROLLED  # type: ignore[union-attr]
    session = lstore.issue_session("ivy")
    with pytest.raises(tessera.InvalidArgument):
        lstore.roll(session.token, grace=MINUTE)  # only API keys roll


def test_revoke_issued_before_by_subject_tenant_and_store(lstore: tessera.Store, clock: tessera.Clock) -> None:
    g = lstore.issue_session("gina", tenant="acme")
    k = lstore.issue_api_key("acme")
    other = lstore.issue_session("olga", tenant="globex")
    clock.advance(SECOND)
    later = lstore.issue_session("gina", tenant="acme")
    lstore.revoke_issued_before(T0 + 1, subject="gina")
    assert lstore.verify(g.token).rejection == tessera.Rejection.REVOKED
    assert lstore.verify(later.token) and lstore.verify(k.token)
    lstore.revoke_issued_before(lstore.now(), tenant="acme")
    assert lstore.verify(k.token).rejection == tessera.Rejection.REVOKED
    assert lstore.verify(later.token) and lstore.verify(other.token)
    lstore.revoke_issued_before(clock.now_ms() + 1)
    assert not lstore.verify(later.token) and not lstore.verify(other.token)
    with pytest.raises(TypeError):
        lstore.revoke_issued_before(0, tenant="a", subject="b")


def test_a_cutoff_more_than_a_day_ahead_is_refused(lstore: tessera.Store, clock: tessera.Clock) -> None:
    t = lstore.issue_session("gina")
    with pytest.raises(tessera.InvalidArgument, match="more than a day"):
        lstore.revoke_issued_before(clock.now_ms() * 1000)  # microseconds, not milliseconds
    assert lstore.verify(t.token) and lstore.verify(lstore.issue_session("gina").token)


def test_a_cutoff_in_seconds_is_refused(lstore: tessera.Store, clock: tessera.Clock) -> None:
    # int(time.time()) where milliseconds are expected: January 1970, which would revoke nothing.
    t = lstore.issue_session("gina")
    with pytest.raises(tessera.InvalidArgument, match="seconds"):
        lstore.revoke_issued_before(clock.now_ms() // 1000, subject="gina")
    assert lstore.verify(t.token)
    lstore.revoke_issued_before(clock.now_ms() + 1, subject="gina")
    assert not lstore.verify(t.token)


def test_the_audit_feed_tells_what_happened_by_id_only(lstore: tessera.Store, clock: tessera.Clock) -> None:
    t = lstore.issue_session("alice", ttl=HOUR)
    lstore.renew(t.token, extend_by=2 * HOUR)
    lstore.revoke(t.token)
    lstore.revoke_issued_before(clock.now_ms(), tenant="acme")
    events = lstore.events()
    assert [e.kind for e in events] == [
        tessera.EventKind.ISSUED, tessera.EventKind.RENEWED, tessera.EventKind.REVOKED,
        tessera.EventKind.REVOKED_BEFORE,
    ]
    assert [e.token for e in events[:3]] == [t.id] * 3
    assert events[2].reason == tessera.RevokeReason.LOGOUT
    assert events[3].token is None and events[3].scope == "tenant:acme"
    assert all(b.seq > a.seq for a, b in zip(events, events[1:]))
    assert all(e.at == tessera.Clock(T0).now() for e in events)
    assert lstore.events(since=events[1].seq) == events[2:]
    assert lstore.events(since=events[-1].seq) == []
    assert len(lstore.events(limit=2)) == 2
    secret = t.token[4 + 22:]
    assert all(secret not in repr(e) for e in events)
