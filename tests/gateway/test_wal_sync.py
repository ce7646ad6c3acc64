"""Group commit: one flush of the WAL serves every commit made before it began."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from gateway.store import Store
from gateway.store.durability import WalSync, fsync_path


class GatedFlush:
    """A flush that records its calls and, when gated, waits until released."""

    def __init__(self) -> None:
        self.calls: list[Path] = []
        self.gate = threading.Event()
        self.gate.set()
        self.fail: OSError | None = None

    def __call__(self, path: Path) -> None:
        self.calls.append(path)
        if not self.gate.wait(10):
            raise AssertionError("gate never opened")
        if self.fail is not None:
            raise self.fail


async def test_waiters_of_commits_made_before_a_flush_share_that_flush(tmp_path: Path) -> None:
    flush = GatedFlush()
    sync = WalSync(tmp_path / "s-wal", flush=flush)
    for _ in range(4):
        sync.committed()
    sync.committed(promise=True)

    await asyncio.gather(*(sync.wait() for _ in range(10)))

    assert len(flush.calls) == 1
    assert not sync.pending


async def test_a_commit_made_during_a_flush_waits_for_the_next_one(tmp_path: Path) -> None:
    flush = GatedFlush()
    flush.gate.clear()
    sync = WalSync(tmp_path / "s-wal", flush=flush)
    sync.committed(promise=True)
    first = asyncio.create_task(sync.wait())
    while not flush.calls:  # the first flush has started (in its thread)
        await asyncio.sleep(0.001)
    sync.committed(promise=True)  # lands while the first flush runs: not covered by it
    second = asyncio.create_task(sync.wait())
    flush.gate.set()

    await asyncio.gather(first, second)

    assert len(flush.calls) == 2
    assert not sync.pending


async def test_commits_that_promise_nothing_are_not_flushed_on_their_own(tmp_path: Path) -> None:
    flush = GatedFlush()
    sync = WalSync(tmp_path / "s-wal", flush=flush)
    await sync.wait()  # nothing committed at all
    sync.committed()  # progress: the next promise's flush covers it

    await sync.wait()

    assert flush.calls == []
    assert not sync.pending
    sync.committed(promise=True)
    assert sync.pending
    await sync.wait()
    assert len(flush.calls) == 1


async def test_a_failing_flush_reaches_its_waiters_and_the_next_wait_tries_again(
    tmp_path: Path,
) -> None:
    flush = GatedFlush()
    flush.fail = OSError(5, "Input/output error")
    sync = WalSync(tmp_path / "s-wal", flush=flush)
    sync.committed(promise=True)

    with pytest.raises(OSError, match="Input/output"):
        await sync.wait()
    assert sync.pending

    flush.fail = None
    await sync.wait()
    assert not sync.pending
    assert len(flush.calls) == 2


async def test_a_cancelled_waiter_does_not_cancel_the_flush_others_wait_for(
    tmp_path: Path,
) -> None:
    flush = GatedFlush()
    flush.gate.clear()
    sync = WalSync(tmp_path / "s-wal", flush=flush)
    sync.committed(promise=True)
    impatient = asyncio.create_task(sync.wait())
    patient = asyncio.create_task(sync.wait())
    while not flush.calls:
        await asyncio.sleep(0.001)
    impatient.cancel()
    flush.gate.set()

    await patient
    assert impatient.cancelled()
    assert not sync.pending


async def test_the_store_counts_its_promises_and_flushes_its_real_wal_file(
    tmp_path: Path,
) -> None:
    with Store(tmp_path / "s.sqlite3", group_commit=True) as store:
        before = store.wal_sync.flushes
        with store.transaction(durable=True) as tx:
            tx.publish("t/a", b"1")
        assert store.wal_sync.pending

        await store.wal_sync.wait()

        assert (tmp_path / "s.sqlite3-wal").stat().st_size > 0
        assert store.wal_sync.flushes == before + 1
        assert not store.wal_sync.pending


def test_a_full_commit_leaves_nothing_to_flush(tmp_path: Path) -> None:
    with Store(tmp_path / "s.sqlite3") as store:
        with store.transaction() as tx:
            tx.publish("t/a", b"1")
        with store.transaction(durable=True) as tx:  # FULL: syncs the WAL itself
            tx.publish("t/b", b"2")

        assert not store.wal_sync.pending


def test_fsync_of_a_missing_file_is_nothing_to_do(tmp_path: Path) -> None:
    fsync_path(tmp_path / "absent-wal")  # no FileNotFoundError
    (tmp_path / "present").write_bytes(b"x")
    fsync_path(tmp_path / "present")
