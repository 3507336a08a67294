"""Several processes on one store, for real: four worker processes in the multi-process mode,
and a store handle carried across fork()."""

from __future__ import annotations

import json
import multiprocessing
import os
from pathlib import Path

import pytest

import tessera

import _workers

WORKERS = 4
TOKENS_PER_WORKER = 25

MULTI = tessera.Concurrency.MULTI_PROCESS


class Pool:
    """Four spawned worker processes, each holding its own handle on the store."""

    def __init__(self, path: Path) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.conns, self.procs = [], []
        for _ in range(WORKERS):
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_workers.serve, args=(str(path), child), daemon=True)
            proc.start()
            self.conns.append(parent)
            self.procs.append(proc)
        self.pids = []
        for conn in self.conns:
            assert conn.poll(60), "a worker did not start within 60 s"
            ready, pid = conn.recv()
            assert ready == "ready", f"a worker could not open the store: {pid}"
            self.pids.append(pid)

    def ask(self, i: int, cmd: str, arg: object = None):  # type: ignore[no-untyped-def]
        self.conns[i].send((cmd, arg))
        return self.recv(i)

    def recv(self, i: int):  # type: ignore[no-untyped-def]
        assert self.conns[i].poll(60), f"worker {i} did not answer within 60 s"
        return self.conns[i].recv()

    def all(self, cmd: str, arg: object = None) -> list:
        """Sends to every worker first, then collects: the workers run concurrently."""
        for conn in self.conns:
            conn.send((cmd, arg))
        return [self.recv(i) for i in range(WORKERS)]

    def stop(self) -> None:
        for conn, proc in zip(self.conns, self.procs):
            try:
                conn.send(("stop", None))
            except OSError:
                pass
            proc.join(30)
            if proc.is_alive():  # pragma: no cover
                proc.kill()


def report(capsys: pytest.CaptureFixture, line: str) -> None:
    with capsys.disabled():
        print(f"\n[multi-process] {line}", flush=True)


def test_four_worker_processes_share_one_store(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    path = tmp_path / "shared.redb"
    # Created before the workers start, as a deployment would.
    tessera.Store(path, concurrency=MULTI).close()
    pool = Pool(path)
    try:
        assert len(set(pool.pids)) == WORKERS and os.getpid() not in pool.pids

        # A token issued through one worker verifies on every worker.
        issuer_pid, token = pool.ask(0, "issue", "alice")
        answers = pool.all("verify", token)
        assert {pid for pid, _ in answers} == set(pool.pids)
        assert [a for _, a in answers] == ["ok"] * WORKERS

        # Every worker issues concurrently; every token verifies on every worker.
        batches = pool.all("issue_many", TOKENS_PER_WORKER)
        tokens = [t for _, batch in batches for t in batch]
        assert len(set(tokens)) == WORKERS * TOKENS_PER_WORKER
        counts = pool.all("verify_all", tokens)
        assert [c for _, c in counts] == [{"ok": len(tokens)}] * WORKERS

        # After a revoke through one worker, the next verify on every worker is refused.
        revoker_pid, revoked = pool.ask(2, "revoke", token)
        assert revoked == 1
        after = pool.all("verify", token)
        assert [a for _, a in after] == ["revoked"] * WORKERS
    finally:
        pool.stop()
    with tessera.Store(path) as store:  # every worker closed its handle: the file is free
        assert store.stats().all == tessera.Counts(
            live=WORKERS * TOKENS_PER_WORKER, expired=0, revoked=1
        )
    report(
        capsys,
        f"{WORKERS} worker processes (pids {', '.join(map(str, pool.pids))}): a token issued by "
        f"pid {issuer_pid} verified on {WORKERS}/{WORKERS}; {len(tokens)} tokens issued "
        f"concurrently verified {WORKERS * len(tokens)}/{WORKERS * len(tokens)}; after a revoke "
        f"by pid {revoker_pid}, {WORKERS}/{WORKERS} workers answered revoked",
    )


def test_several_processes_may_create_a_new_store_at_once(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    answers: list = []
    for round_ in range(5):
        path = tmp_path / f"new-{round_}.redb"
        barrier, results = ctx.Barrier(WORKERS), ctx.Queue()
        procs = [ctx.Process(target=_workers.open_at_once, args=(str(path), barrier, results))
                 for _ in range(WORKERS)]
        for p in procs:
            p.start()
        answers += [results.get(timeout=60) for _ in procs]
        for p in procs:
            p.join(30)
    assert answers == ["ok"] * len(answers), answers


CHILD_FAILED = 3


def _in_forked_child(store: tessera.Store, path: Path, token: str, mode: tessera.Concurrency,
                     w: int) -> None:
    """Runs in the child after fork(): never returns (os._exit)."""
    result: dict = {}
    code = 0
    try:
        try:
            store.verify(token)
            result["inherited_verify"] = "ok"
        except tessera.TesseraError as e:
            result["inherited_verify"] = e.name
        try:
            store.issue_session("child")
            result["inherited_issue"] = "ok"
        except tessera.TesseraError as e:
            result["inherited_issue"] = e.name
        store.close()  # forgets the inherited handle, never touches the parent's file
        result["inherited_close"] = "ok"
        try:
            with tessera.Store(path, concurrency=mode) as own:
                result["own_verify"] = "ok" if own.verify(token) else own.verify(token).rejection.value
                result["own_token"] = own.issue_session("child").token
        except tessera.TesseraError as e:
            result["own_open"] = e.name
    except BaseException as e:  # pragma: no cover - reported to the parent
        result["crash"] = repr(e)
        code = CHILD_FAILED
    finally:
        os.write(w, json.dumps(result).encode())
        os._exit(code)


def _fork_and_collect(store: tessera.Store, path: Path, token: str, mode: tessera.Concurrency) -> dict:
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.close(r)
        _in_forked_child(store, path, token, mode, w)
    os.close(w)
    chunks = []
    while True:
        chunk = os.read(r, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(r)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, f"child status {status}"
    return json.loads(b"".join(chunks))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_a_handle_opened_before_fork_fails_safe_and_the_child_opens_its_own(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    path = tmp_path / "forked.redb"
    with tessera.Store(path, concurrency=MULTI) as store:
        token = store.issue_session("parent").token
        child = _fork_and_collect(store, path, token, MULTI)
        assert child["inherited_verify"] == "forked_child"
        assert child["inherited_issue"] == "forked_child"
        assert child["inherited_close"] == "ok"
        assert child["own_verify"] == "ok"
        # The parent's handle still works, and sees what the child issued.
        assert store.verify(token).valid
        assert store.verify(child["own_token"]).valid
    report(
        capsys,
        "fork: the inherited handle answered forked_child to verify and issue in the child; the "
        "child's own multi-process handle verified the parent's token and issued one the "
        "parent then verified",
    )


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork()")
def test_in_exclusive_mode_a_forked_child_cannot_open_the_parents_file(tmp_path: Path) -> None:
    path = tmp_path / "exclusive.redb"
    with tessera.Store(path) as store:
        token = store.issue_session("parent").token
        child = _fork_and_collect(store, path, token, tessera.Concurrency.EXCLUSIVE)
        assert child["inherited_verify"] == "forked_child"
        assert child["own_open"] == "locked"
        assert store.verify(token).valid  # the parent's file was not touched


def test_forked_child_is_the_documented_exception() -> None:
    assert tessera.ForkedChild.status == tessera.Status.FORKED_CHILD == 106
    assert issubclass(tessera.ForkedChild, tessera.UsageError)
    assert "fork" in (tessera.ForkedChild.__doc__ or "")
