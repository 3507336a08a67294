"""Operator tools through the binding: backup, compaction, integrity check."""

from __future__ import annotations

from pathlib import Path

import pytest

import tessera

from conftest import HOUR


def test_a_backup_is_a_working_store_with_every_token(
    file_store: tessera.Store, tmp_path: Path, clock: tessera.Clock
) -> None:
    live = file_store.issue_session("alice")
    gone = file_store.issue_api_key("acme")
    file_store.revoke_by_id(gone.id)
    out = tmp_path / "backup.redb"
    assert file_store.backup(out) == 2
    with pytest.raises(tessera.InvalidArgument):
        file_store.backup(out)  # never overwrites
    with tessera.Store(out, clock=clock) as copy:
        assert copy.verify(live.token).valid
        assert copy.verify(gone.token).rejection == tessera.Rejection.REVOKED
        assert len(copy.list_subject("alice")) == 1


def test_compaction_shrinks_the_file_and_keeps_the_tokens(
    file_store: tessera.Store, clock: tessera.Clock, path: Path
) -> None:
    for i in range(1000):
        file_store.issue_session(f"u{i}", ttl=HOUR)
    keep = file_store.issue_api_key("acme")
    clock.advance(2 * HOUR)
    assert file_store.purge_expired() == 1000
    before = path.stat().st_size
    assert file_store.verify(keep.token).valid
    for _ in range(3):  # bounded: see the next test
        file_store.compact()
    assert path.stat().st_size < before
    assert file_store.verify(keep.token).valid
    assert file_store.check_integrity() is True


def test_compacting_a_compacted_store_reports_nothing_to_do(file_store: tessera.Store) -> None:
    file_store.issue_session("alice")
    results = [file_store.compact() for _ in range(5)]
    assert results[-1] is False, results
