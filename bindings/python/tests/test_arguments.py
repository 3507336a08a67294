"""Arguments as the C ABI reads them: an empty text is not an absent one, integers out of the
C types' ranges are refused before the call (never wrapped), and the handles a Python object
owns cannot be copied."""

from __future__ import annotations

import copy
import pickle
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

import pytest

import tessera

from conftest import HOUR, T0

U64 = 2**64
I64 = 2**63


# --- "" is not None --------------------------------------------------------------------------


def test_the_default_tenant_is_a_tenant_of_revoke_issued_before(
    store: tessera.Store, clock: tessera.Clock
) -> None:
    default = store.issue_session("alice")
    acme = store.issue_session("alice", tenant="acme")
    clock.advance(1)
    store.revoke_issued_before(store.now(), tenant="")
    assert store.verify(default.token).rejection is tessera.Rejection.REVOKED
    assert store.verify(acme.token).valid


def test_an_empty_except_id_is_not_an_id_and_revokes_nothing(store: tessera.Store) -> None:
    tokens = [store.issue_session("alice") for _ in range(3)]
    with pytest.raises(tessera.InvalidArgument, match="except_id"):
        store.revoke_subject("alice", except_id="")
    assert all(store.verify(t.token).valid for t in tokens)
    # None is no exception at all.
    assert store.revoke_subject("alice", except_id=None) == 3


def test_an_empty_subject_of_revoke_issued_before_is_a_name_not_the_store_scope(
    store: tessera.Store, clock: tessera.Clock
) -> None:
    t = store.issue_session("alice")
    clock.advance(1)
    store.revoke_issued_before(store.now(), subject="")  # nobody's tokens
    assert store.verify(t.token).valid
    store.revoke_issued_before(store.now())  # the whole store
    assert store.verify(t.token).rejection is tessera.Rejection.REVOKED


# --- integers out of range -------------------------------------------------------------------


def refused(call: Callable[[], Any], what: str) -> None:
    with pytest.raises(tessera.InvalidArgument, match=what):
        call()


@pytest.mark.parametrize(
    "option",
    ["cache_size", "purge_batch", "max_metadata_len", "event_retention"],
)
@pytest.mark.parametrize("value", [-1, -(2**64) + 5, U64, U64 + 1000])
def test_counts_of_options_out_of_range_are_refused(option: str, value: int) -> None:
    refused(lambda: tessera.Store.in_memory(**{option: value}), option)


@pytest.mark.parametrize("value", [-1, U64])
def test_a_subject_cap_out_of_range_is_refused(value: int) -> None:
    caps = {tessera.Kind.SESSION: (value, tessera.CapPolicy.REFUSE)}
    refused(lambda: tessera.Store.in_memory(subject_caps=caps), "subject_caps")


def test_enum_numbers_out_of_range_are_refused_not_wrapped() -> None:
    # 2**32 + 1 would wrap to 1 (a valid number) in a uint32_t.
    refused(lambda: tessera.Store.in_memory(durability=2**32 + 1), "durability")  # type: ignore[arg-type]
    refused(lambda: tessera.Store.in_memory(concurrency=2**32 + 1), "concurrency")  # type: ignore[arg-type]
    caps: Any = {2**32 + 1: (1, tessera.CapPolicy.REFUSE)}
    refused(lambda: tessera.Store.in_memory(subject_caps=caps), "kind")
    caps = {tessera.Kind.SESSION: (1, 2**32 + 1)}
    refused(lambda: tessera.Store.in_memory(subject_caps=caps), "policy")


def test_a_status_number_out_of_int32_is_refused_not_wrapped() -> None:
    # 2**32 + 6 would wrap to 6 (revoked) in the int32_t the library reads.
    for value in (2**32 + 6, -(2**32) + 6, 2**31, -(2**31) - 1, U64):
        refused(lambda: tessera.status_name(value), "status")
    # In range, a number that is no status has no name; the extremes still reach the library.
    assert tessera.status_name(6) == "revoked"
    for value in (2**31 - 1, -(2**31), -1):
        assert tessera.status_name(value) == "unrecognized_status"


@pytest.mark.parametrize(
    "option",
    ["session_ttl", "session_idle_timeout", "session_max_lifetime", "api_key_ttl",
     "flush_interval", "sweep_interval", "revoked_retention", "rotation_grace"],
)
def test_durations_beyond_int64_milliseconds_are_refused(option: str) -> None:
    # 2**64 - 5 ms would wrap to -5 in an int64_t; 2**63 to INT64_MIN.
    for value in (I64, U64 - 5, U64 + 1):
        refused(lambda: tessera.Store.in_memory(**{option: value}), option)


def test_the_audit_feed_refuses_a_cursor_or_limit_out_of_range(store: tessera.Store) -> None:
    store.issue_session("alice")
    refused(lambda: store.events(since=-1), "since")
    refused(lambda: store.events(since=U64), "since")
    refused(lambda: store.events(limit=-1), "limit")
    refused(lambda: store.events(limit=U64), "limit")
    assert len(store.events(since=0, limit=10)) == 1


def test_requests_refuse_numbers_out_of_range(store: tessera.Store) -> None:
    refused(lambda: store.issue_session("alice", max_uses=U64), "max_uses")
    refused(lambda: store.issue_session("alice", max_uses=-1), "max_uses")
    refused(lambda: store.issue_session("alice", ttl=U64 - 5), "ttl")
    refused(lambda: store.issue_session("alice", idle_timeout=I64), "idle_timeout")
    refused(lambda: store.issue_session("alice", max_lifetime=U64), "max_lifetime")
    t = store.issue_session("alice", ttl=HOUR)
    refused(lambda: store.renew(t.token, extend_by=U64 - 5), "extend_by")
    k = store.issue_api_key("acme")
    refused(lambda: store.roll(k.token, grace=I64), "grace")
    refused(lambda: store.list_tenant("acme", kind=2**32 + 1), "kind")  # type: ignore[arg-type]
    assert store.list_subject("alice") == [t.record]


def test_instants_beyond_int64_milliseconds_are_refused(store: tessera.Store) -> None:
    refused(lambda: store.revoke_issued_before(I64), "before")
    refused(lambda: store.revoke_issued_before(-I64 - 1), "before")
    refused(lambda: tessera.Clock(U64 - 5), "start")
    clock = tessera.Clock(T0)
    refused(lambda: clock.set(I64), "to")
    refused(lambda: clock.advance(U64 - 5), "by")
    assert clock.now_ms() == T0


def test_a_clock_reads_only_instants_a_datetime_can_show() -> None:
    # Years 1 to 9999: a store on a clock past them would issue a token (durably) whose record
    # could not be shown, and the only copy of its text would be lost with the OverflowError.
    last = tessera.Clock(253402300799999)
    assert last.now() == datetime.max.replace(tzinfo=timezone.utc).replace(microsecond=999000)
    refused(lambda: last.advance(1), "advancing")
    assert last.now_ms() == 253402300799999
    first = tessera.Clock(-62135596800000)
    assert first.now().year == 1
    refused(lambda: tessera.Clock(2**62), "start")
    refused(lambda: tessera.Clock(-62135596800001), "start")
    clock = tessera.Clock(T0)
    refused(lambda: clock.set(253402300800000), "to")
    assert clock.now_ms() == T0
    with tessera.Store.in_memory(clock=last) as s:
        t = s.issue_session("alice")
        assert t.record.created_at == last.now() and s.get(t.id) == t.record


def test_the_largest_values_in_range_still_reach_the_library(store: tessera.Store) -> None:
    # In range for the C types: the library judges them (and accepts these, but the cutoff,
    # which it refuses for its own reason: before 2000).
    refused(lambda: store.revoke_issued_before(-I64), "seconds where milliseconds")
    assert store.events(since=U64 - 1, limit=0) == []
    with tessera.Store.in_memory(event_retention=2**32, max_metadata_len=10) as s:
        s.issue_session("bob", max_uses=U64 - 1, ttl=timedelta(days=1))


# --- durations and instants to the millisecond ------------------------------------------------

DURATION_OPTIONS = [
    "session_ttl", "session_idle_timeout", "session_max_lifetime", "api_key_ttl",
    "flush_interval", "sweep_interval", "revoked_retention", "rotation_grace",
]
#: Positive durations that round to 0 ms: refused, never taken as "no time at all".
UNDER_HALF_A_MS = [timedelta(microseconds=n) for n in (1, 400, 499)]
WHOLE = "whole milliseconds"
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


@pytest.mark.parametrize("option", DURATION_OPTIONS)
@pytest.mark.parametrize("tiny", UNDER_HALF_A_MS)
def test_a_positive_duration_under_half_a_millisecond_is_refused_not_taken_as_none(
    option: str, tiny: timedelta
) -> None:
    refused(lambda: tessera.Store.in_memory(**{option: tiny}), f"{option}.*{WHOLE}")


def test_every_duration_argument_refuses_one_under_half_a_millisecond(
    store: tessera.Store, clock: tessera.Clock
) -> None:
    t = store.issue_session("alice", ttl=HOUR)
    k = store.issue_api_key("acme")
    for tiny in UNDER_HALF_A_MS:
        refused(lambda: store.issue_session("alice", ttl=tiny), f"ttl.*{WHOLE}")
        refused(lambda: store.issue_session("alice", idle_timeout=tiny), f"idle_timeout.*{WHOLE}")
        refused(lambda: store.issue_api_key("acme", max_lifetime=tiny), f"max_lifetime.*{WHOLE}")
        refused(lambda: store.issue_child(t.token, subject="bob", ttl=tiny), f"ttl.*{WHOLE}")
        refused(lambda: store.renew(t.token, extend_by=tiny), f"extend_by.*{WHOLE}")
        refused(lambda: store.roll(k.token, grace=tiny), f"grace.*{WHOLE}")
        refused(lambda: clock.advance(tiny), f"by.*{WHOLE}")
    assert store.list_subject("alice") == [t.record]
    assert store.list_api_keys("acme") == [k.record], "a refused roll must not replace the key"
    assert clock.now_ms() == T0
    # Zero is no positive duration lost to rounding; negative ones stay refused however small:
    # they are refused before they are rounded.
    clock.advance(timedelta(0))
    assert clock.now_ms() == T0
    for negative in (timedelta(microseconds=-1), timedelta(microseconds=-400), -1):
        refused(lambda: store.issue_session("alice", ttl=negative), "ttl is negative")


def test_durations_round_to_the_nearest_millisecond_half_up(
    store: tessera.Store, clock: tessera.Clock
) -> None:
    # Half a millisecond and more rounds up (2.5 ms is 3 ms, not 2: half up, as in Ruby).
    for micros, ms in ((500, 1), (900, 1), (1499, 1), (1500, 2), (2500, 3), (2999, 3)):
        s = store.issue_session("bob", idle_timeout=timedelta(microseconds=micros))
        assert s.record.idle_timeout == timedelta(milliseconds=ms), micros
    clock.advance(timedelta(microseconds=1500))
    assert clock.now_ms() == T0 + 2


def test_a_rotation_grace_under_a_millisecond_is_a_grace_of_one(clock: tessera.Clock) -> None:
    # 0.9 ms is 1 ms of grace, not none: a retry at once gets the same successor.
    with tessera.Store.in_memory(clock=clock, rotation_grace=timedelta(microseconds=900)) as s:
        t = s.issue_session("alice")
        successor = s.rotate(t.token)
        assert s.rotate(t.token).id == successor.id
        assert s.verify(t.token).valid
        clock.advance(1)
        assert s.verify(t.token).rejection is tessera.Rejection.REUSE_DETECTED


def test_instants_are_floored_to_the_millisecond_as_the_store_clock_counts(
    store: tessera.Store,
) -> None:
    t = store.issue_session("alice")  # at T0
    at_t0 = EPOCH + timedelta(milliseconds=T0)
    # 0.9 ms past T0 is T0: alice's token was not issued strictly before it.
    store.revoke_issued_before(at_t0 + timedelta(microseconds=900))
    assert store.verify(t.token).valid
    store.revoke_issued_before(at_t0 + timedelta(milliseconds=1))
    assert store.verify(t.token).rejection is tessera.Rejection.REVOKED
    assert tessera.Clock(at_t0 + timedelta(microseconds=900)).now_ms() == T0
    clock = tessera.Clock(0)
    clock.set(EPOCH - timedelta(microseconds=400))  # floored before 1970 too: -1, not 0
    assert clock.now_ms() == -1


# --- handles are owned by one object ---------------------------------------------------------


@pytest.mark.parametrize("duplicate", [copy.copy, copy.deepcopy, pickle.dumps])
def test_a_clock_cannot_be_copied(duplicate: Callable[[Any], Any]) -> None:
    clock = tessera.Clock(T0)
    with pytest.raises(TypeError, match="Clock"):
        duplicate(clock)
    clock.advance(5)
    assert clock.now_ms() == T0 + 5


@pytest.mark.parametrize("duplicate", [copy.copy, copy.deepcopy, pickle.dumps])
def test_a_store_cannot_be_copied(duplicate: Callable[[Any], Any], store: tessera.Store) -> None:
    t = store.issue_session("alice")
    with pytest.raises(TypeError, match="Store"):
        duplicate(store)
    assert store.verify(t.token).valid
