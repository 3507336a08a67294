"""Expiry and cleanup: purge in bounded batches, retention of revoked tokens, the background
sweeper and flusher, statistics."""

from __future__ import annotations

import time

import tessera

from conftest import DAY, HOUR, MINUTE


def test_the_purge_removes_only_what_is_due_in_bounded_batches(clock: tessera.Clock) -> None:
    with tessera.Store.in_memory(clock=clock, purge_batch=7) as store:
        short = [store.issue_session(f"s{i}", ttl=HOUR) for i in range(20)]
        long = [store.issue_session(f"l{i}", ttl=DAY) for i in range(5)]
        keys = [store.issue_api_key("acme") for _ in range(3)]
        clock.advance(2 * HOUR)
        assert store.purge_batch() == tessera.Purge(removed=7, more=True)
        assert store.purge_expired() == 13
        assert store.purge_batch().removed == 0
        assert all(store.get(t.id) is None for t in short)
        assert all(store.verify(t.token).valid for t in long + keys)
        # once purged, an expired token is unknown
        assert store.verify(short[0].token).rejection == tessera.Rejection.UNKNOWN_TOKEN


def test_idle_tokens_are_purged_after_their_idle_deadline_not_before(
    store: tessera.Store, clock: tessera.Clock
) -> None:
    t = store.issue_session("a", ttl=DAY, idle_timeout=30 * MINUTE)
    clock.advance(20 * MINUTE)
    assert store.verify(t.token).valid
    clock.advance(20 * MINUTE)  # 20 minutes after the last use (only in memory so far)
    assert store.purge_expired() == 0
    assert store.verify(t.token).valid
    clock.advance(31 * MINUTE)
    assert store.purge_expired() == 1


def test_a_revoked_token_answers_revoked_until_its_retention_ends(clock: tessera.Clock) -> None:
    with tessera.Store.in_memory(clock=clock, revoked_retention=DAY) as store:
        key = store.issue_api_key("acme")
        store.revoke_by_id(key.id)
        clock.advance(DAY - MINUTE)
        assert store.purge_expired() == 0
        assert store.verify(key.token).rejection == tessera.Rejection.REVOKED
        clock.advance(MINUTE)
        assert store.purge_expired() == 1
        assert store.verify(key.token).rejection == tessera.Rejection.UNKNOWN_TOKEN


def _eventually(condition, what: str, seconds: float = 20.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"{what} within {seconds} s"
        time.sleep(0.02)


def test_the_background_sweeper_purges_and_stops_with_the_store(path, clock: tessera.Clock) -> None:  # type: ignore[no-untyped-def]
    store = tessera.Store(path, clock=clock, sweep_interval=100)
    t = store.issue_session("a", ttl=HOUR)
    clock.advance(HOUR)
    # The sweeper runs on its own thread; the clock does not move while we wait (bounded).
    _eventually(lambda: store.get(t.id) is None, "the sweeper purged")
    store.close()
    with tessera.Store(path, clock=clock) as again:  # the thread released the file
        assert again.get(t.id) is None


def test_the_flusher_writes_idle_extensions_within_the_flush_interval(path, clock: tessera.Clock) -> None:  # type: ignore[no-untyped-def]
    interval = 100  # milliseconds
    with tessera.Store(path, clock=clock, flush_interval=interval) as store:
        t = store.issue_session("a", idle_timeout=30 * MINUTE)
        clock.advance(10 * MINUTE)
        assert store.verify(t.token).valid
        used = store.now()
        # Within 50 intervals of the use: room for a loaded 2-core machine, not for a flusher
        # that keeps another pace.
        _eventually(lambda: store.commits() > 1, "a flush", seconds=50 * interval / 1000)
        assert store.get(t.id).last_used_at == used  # type: ignore[union-attr]
        assert store.background_error() is None
    with tessera.Store(path, clock=clock) as store:
        assert store.get(t.id).last_used_at == used  # type: ignore[union-attr]


def test_stats_count_tokens_by_state_kind_and_tenant(file_store: tessera.Store, clock: tessera.Clock) -> None:
    file_store.issue_session("u", tenant="t1", ttl=HOUR)
    file_store.issue_session("u", tenant="t1", ttl=DAY)
    file_store.issue_api_key("t2")
    b = file_store.issue_api_key("t2")
    file_store.revoke_by_id(b.id)
    clock.advance(2 * HOUR)
    s = file_store.stats()
    assert s.all == tessera.Counts(live=2, expired=1, revoked=1)
    assert s.kinds[tessera.Kind.API_KEY].revoked == 1
    assert s.tenants["t1"].expired == 1
    assert s.due_for_purge == 1 and s.file_bytes > 0
    assert s.schema_version == tessera._native.SCHEMA_VERSION
