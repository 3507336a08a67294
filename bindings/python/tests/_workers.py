"""Code run in worker processes by test_processes.py (importable by spawned children)."""

from __future__ import annotations

import os
from multiprocessing.connection import Connection

import tessera


def serve(path: str, conn: Connection) -> None:
    """A worker: opens the shared store itself, then answers commands until "stop".

    Commands are tuples: ("issue", subject) -> (pid, token); ("verify", token) -> (pid,
    "ok" or the rejection name); ("revoke", token) -> (pid, revoked count);
    ("issue_many", n) -> (pid, [tokens]); ("verify_all", [tokens]) -> (pid, {outcome: count}).
    """
    pid = os.getpid()
    try:
        store = tessera.Store(path, concurrency=tessera.Concurrency.MULTI_PROCESS)
    except tessera.TesseraError as e:
        conn.send(("failed", f"{pid}: {e}"))
        return
    with store:
        conn.send(("ready", pid))
        while True:
            cmd, arg = conn.recv()
            if cmd == "stop":
                conn.send(("stopped", pid))
                return
            if cmd == "issue":
                conn.send((pid, store.issue_session(arg, label=f"worker {pid}").token))
            elif cmd == "verify":
                outcome = store.verify(arg)
                conn.send((pid, "ok" if outcome else outcome.rejection.value))
            elif cmd == "revoke":
                conn.send((pid, store.revoke(arg)))
            elif cmd == "issue_many":
                conn.send((pid, [store.issue_session(f"user-{pid}-{i}").token for i in range(arg)]))
            elif cmd == "verify_all":
                counts: dict = {}
                for token in arg:
                    o = store.verify(token)
                    key = "ok" if o else o.rejection.value
                    counts[key] = counts.get(key, 0) + 1
                conn.send((pid, counts))
            else:
                conn.send((pid, f"unknown command {cmd}"))


def open_at_once(path: str, barrier, results) -> None:  # type: ignore[no-untyped-def]
    """Waits for the others, then opens the store (which may not exist yet) and issues."""
    barrier.wait()
    try:
        with tessera.Store(path, concurrency=tessera.Concurrency.MULTI_PROCESS) as store:
            store.issue_session("racer")
        results.put("ok")
    except tessera.TesseraError as e:
        results.put(e.name)
