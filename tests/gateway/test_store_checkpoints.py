"""WAL checkpoints from a worker thread, and erased text leaving the -wal file anyway."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from gateway.store import NewCallout, Store, UnitAssignment
from gateway.store.checkpoints import WalCheckpointer, checkpoint_periodically
from tests.gateway.test_store_privacy import MARKER, TEXT, file_bytes

T0 = 1_800_000_000.0


def callout(callout_id: str) -> NewCallout:
    return NewCallout(
        callout_id=callout_id,
        incident_id="OSL-9",
        units=(UnitAssignment(2040101, "ambulance"),),
        text=TEXT,
        deadline_s=60,
        talkgroup=False,
    )


def wal_bytes(path: Path) -> bytes:
    wal = path.with_name(path.name + "-wal")
    return wal.read_bytes() if wal.exists() else b""


def accept_and_finish(store: Store, callout_id: str) -> None:
    """A callout whose one send ends at once: its text is written, then erased."""
    with store.transaction(now=T0) as tx:
        send = tx.accept_callout(callout(callout_id)).sends[0]
    with store.transaction(now=T0 + 1) as tx:
        tx.record_unreached(send.send_id, reason="deadline")
    assert store.callout_text(callout_id) is None


def test_copy_checkpoints_beside_an_open_write_transaction(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    with Store(path, synchronous="NORMAL") as store:
        with store.transaction(now=T0) as tx:
            tx.accept_callout(callout("C-1"))
        checkpointer = WalCheckpointer(path)
        try:
            assert checkpointer.copy()  # every committed page is in the main file now
            assert MARKER in path.read_bytes()
            store._conn.execute("BEGIN IMMEDIATE")  # the store's writer holds its lock
            store._conn.execute("UPDATE callouts SET priority = '1A'")
            assert checkpointer.copy()  # neither waits for the writer nor fails
            store._conn.execute("COMMIT")
            assert checkpointer.copies == 2
        finally:
            checkpointer.close()


async def test_erased_text_leaves_the_wal_once_the_store_is_quiet(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    with Store(path, synchronous="NORMAL", checkpoint_after_erase=False) as store:
        task = asyncio.create_task(checkpoint_periodically(store, 0.05, truncate_every_s=60))
        try:
            accept_and_finish(store, "C-1")
            assert MARKER in wal_bytes(path)
            async with asyncio.timeout(5):
                while MARKER in file_bytes(path):
                    await asyncio.sleep(0.02)
            assert wal_bytes(path) == b""  # truncated, not merely copied
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def test_erased_text_leaves_the_wal_under_sustained_writes(tmp_path: Path) -> None:
    """A store that never goes quiet: copies run in the thread, and a truncation still
    comes within ``truncate_every_s``."""
    path = tmp_path / "s.sqlite3"
    with Store(path, synchronous="NORMAL", checkpoint_after_erase=False) as store:
        checkpoints = asyncio.create_task(
            checkpoint_periodically(store, 0.05, truncate_every_s=0.4)
        )

        async def keep_writing() -> None:
            n = 0
            while True:
                n += 1
                with store.transaction(now=T0 + n) as tx:
                    tx.publish(f"tetragw/v1/units/{n % 7}/status", b'{"status": 1}', retain=True)
                await asyncio.sleep(0.01)

        writer = asyncio.create_task(keep_writing())
        try:
            await asyncio.sleep(0.3)  # copies in the thread while busy
            # A burst first, so that the text's pages lie far into the -wal file, beyond
            # what the small writes after it overwrite when the file is reused.
            with store.transaction(now=T0) as tx:
                for n in range(400):
                    tx.publish(f"tetragw/v1/burst/{n}", bytes(1000), retain=True)
            accept_and_finish(store, "C-1")
            assert MARKER in file_bytes(path)
            async with asyncio.timeout(5):
                while MARKER in file_bytes(path):
                    await asyncio.sleep(0.02)
            assert not writer.done()  # it really never stopped writing
        finally:
            for task in (writer, checkpoints):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
