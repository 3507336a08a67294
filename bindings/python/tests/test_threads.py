"""One store shared by threads: ctypes releases the GIL during calls, so these run in parallel
inside the library."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import tessera


def test_eight_threads_issue_concurrently_and_every_token_verifies(file_store: tessera.Store) -> None:
    def work(n: int) -> list:
        return [file_store.issue_session(f"user{n}", label=str(i)).token for i in range(25)]

    with ThreadPoolExecutor(8) as pool:
        tokens = [t for batch in pool.map(work, range(8)) for t in batch]
    assert len(set(tokens)) == 200
    with ThreadPoolExecutor(8) as pool:
        assert all(pool.map(lambda t: file_store.verify(t).valid, tokens))
    assert file_store.stats().all.live == 200


def test_no_verify_that_starts_after_a_revoke_returned_succeeds(store: tessera.Store) -> None:
    victim = store.issue_session("victim")
    revoked = threading.Event()
    late_successes = []
    after_revoke = [0] * 4  # verifies each thread started after the revoke returned
    errors: list = []

    def verifier(n: int) -> None:
        try:
            while True:
                after = revoked.is_set()  # read before the verify starts
                ok = store.verify(victim.token).valid
                if after:
                    after_revoke[n] += 1
                    if ok:
                        late_successes.append(n)
                    return
        except Exception as e:  # pragma: no cover - reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=verifier, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    store.revoke(victim.token)
    revoked.set()
    for t in threads:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    # Every thread started a verify after the revoke returned and raised nothing; none succeeded.
    assert after_revoke == [1, 1, 1, 1]
    assert late_successes == []


def test_closing_under_load_stops_every_thread_with_closed_error(path) -> None:  # type: ignore[no-untyped-def]
    store = tessera.Store(path)
    token = store.issue_session("alice").token
    started = threading.Barrier(9)
    outcomes: list = []

    def verifier() -> None:
        started.wait()
        n = 0
        try:
            while True:
                assert store.verify(token).valid
                n += 1
        except tessera.ClosedError:
            outcomes.append(("closed", n))
        except Exception as e:  # pragma: no cover - reported below
            outcomes.append(("error", repr(e)))

    threads = [threading.Thread(target=verifier) for _ in range(8)]
    for t in threads:
        t.start()
    started.wait()
    store.close()
    for t in threads:
        t.join(timeout=30)
    assert [o[0] for o in outcomes] == ["closed"] * 8, outcomes
    with tessera.Store(path) as again:
        assert again.verify(token).valid
