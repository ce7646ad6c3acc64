"""Group commit: transactions inside a running loop share one COMMIT (gateway/store/database.py)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
from pathlib import Path

import pytest

from gateway.audit import verify
from gateway.store import Store


def committed_topics(path: Path) -> list[str]:
    """What another connection (another process: a report, a crash recovery) sees."""
    with sqlite3.connect(path) as other:
        return [row[0] for row in other.execute("SELECT topic FROM outbox ORDER BY seq")]


async def test_transactions_share_one_commit_that_the_flush_makes(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    with Store(path, group_commit=True) as store:
        for topic in ("t/a", "t/b", "t/c"):
            with store.transaction(durable=topic == "t/b") as tx:
                tx.publish(topic, b"1")

        # The store's own reads see the group; another connection sees nothing committed yet.
        assert [m.topic for m in store.pending_outbox()] == ["t/a", "t/b", "t/c"]
        assert committed_topics(path) == []

        await store.wal_sync.wait()

        assert committed_topics(path) == ["t/a", "t/b", "t/c"]
        assert store.groups_committed == 1
        assert store.wal_sync.flushes == 1


async def test_a_raising_transaction_takes_back_only_itself(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    with Store(path, group_commit=True) as store:
        with store.transaction() as tx:
            tx.publish("t/kept-1", b"1")
            tx.audit("state_change", "x", {"change": "kept"})

        def bad_event() -> None:
            with store.transaction() as tx:
                tx.publish("t/rolled-back", b"2")
                tx.audit("state_change", "x", {"change": "never"})
                raise ValueError("bad event")

        with pytest.raises(ValueError, match="bad event"):
            bad_event()
        with store.transaction() as tx:
            tx.publish("t/kept-2", b"3")
            tx.audit("state_change", "y", {"change": "kept"})
        await store.wal_sync.wait()

        assert committed_topics(path) == ["t/kept-1", "t/kept-2"]
    # The group's transactions share one audit chain: the rolled-back entry left no gap.
    result = verify(path)
    assert result.ok, result.describe()
    assert result.entries == 2


async def test_the_group_commits_by_itself_after_its_window(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    with Store(path, group_commit=True, group_window_s=0.01) as store:
        with store.transaction(durable=True) as tx:
            tx.publish("t/a", b"1")
        for _ in range(500):
            if store.groups_committed:
                break
            await asyncio.sleep(0.01)

        assert store.groups_committed == 1
        assert committed_topics(path) == ["t/a"]
        assert store.wal_sync.pending  # committed, not yet flushed: a wait() flushes it


async def test_a_durable_transaction_makes_its_group_a_promise_to_flush(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    with Store(path, group_commit=True) as store:
        with store.transaction() as tx:
            tx.publish("t/progress", b"1")
        await store.wal_sync.wait()  # committed, but nothing promised: no fsync
        assert committed_topics(path) == ["t/progress"]
        assert store.wal_sync.flushes == 0

        with store.transaction(durable=True) as tx:
            tx.publish("t/emergency", b"2")
        assert committed_topics(path) == ["t/progress"]  # still in the open group
        assert store.wal_sync.pending
        await store.wal_sync.wait()

        assert committed_topics(path) == ["t/progress", "t/emergency"]
        assert store.wal_sync.flushes == 1
        assert not store.wal_sync.pending


async def test_closing_the_store_commits_the_open_group(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    store = Store(path, group_commit=True)
    with store.transaction() as tx:
        tx.publish("t/a", b"1")
    store.close()

    assert committed_topics(path) == ["t/a"]


def test_without_a_running_loop_every_transaction_commits_at_its_end(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    with Store(path, group_commit=True) as store:
        with store.transaction() as tx:
            tx.publish("t/a", b"1")

        assert committed_topics(path) == ["t/a"]
        assert store.groups_committed == 0


async def test_a_lost_group_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    lost: list[BaseException] = []
    with Store(path, group_commit=True) as store:
        store.on_group_lost = lost.append
        with store.transaction() as tx:
            tx.publish("t/a", b"1")
        # A deferred foreign-key violation fails the COMMIT itself, as a full disk would.
        store._conn.execute("PRAGMA defer_foreign_keys = ON")
        store._conn.execute(
            "INSERT INTO sends (callout_id, issi, role, updated_at) VALUES ('nobody', 1, '', 0)"
        )

        with pytest.raises(sqlite3.IntegrityError):
            store.commit_group()

        assert len(lost) == 1
        assert committed_topics(path) == []


async def test_the_audit_head_is_read_and_written_once_per_group(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    with Store(path, group_commit=True) as store:
        traced: list[str] = []
        store._conn.set_trace_callback(traced.append)
        for n in range(3):
            with store.transaction() as tx:
                tx.audit("state_change", f"c{n}", {"change": "x"})
        await store.wal_sync.wait()
        store._conn.set_trace_callback(None)

    head_reads = [q for q in traced if q.startswith("SELECT seq, hash FROM audit_head")]
    head_writes = [q for q in traced if q.startswith("INSERT INTO audit_head")]
    assert (len(head_reads), len(head_writes)) == (1, 1)
    result = verify(path)
    assert result.ok, result.describe()
    assert result.entries == 3


def _sqlite_temp_files() -> list[str]:
    """SQLite temp files this process holds open (unlinked at once, so only /proc shows them)."""
    fds = Path("/proc/self/fd")
    links = []
    for fd in fds.iterdir():
        with contextlib.suppress(OSError):
            links.append(os.readlink(fd))
    return [link for link in links if "etilqs_" in link]


async def test_a_large_transaction_in_a_group_keeps_its_savepoint_journal_in_memory(
    tmp_path: Path,
) -> None:
    # A savepoint's journal holds the original of every page the transaction changes: the
    # text of callouts among them. SQLite spills it to a file in /var/tmp beyond 64 KiB,
    # outside the store's directory and its erasure, unless temp_store is MEMORY.
    with Store(tmp_path / "s.sqlite3", group_commit=True) as store:
        with store.transaction() as tx:
            seqs = [tx.publish(f"t/{n}", b"x" * 4000) for n in range(40)]
        await store.wal_sync.wait()
        with store.transaction() as tx:  # erases (secure_delete) the pages the first wrote
            assert tx.mark_published_many(seqs) == len(seqs)
            held = _sqlite_temp_files()
        await store.wal_sync.wait()
    assert held == []
