"""WAL checkpoints, mostly off the event loop, with erased text still leaving the ``-wal`` file.

A checkpoint copies the ``-wal`` file's pages into the main file and syncs both: two or three
``fsync(2)`` calls, 3–6 ms on the development VM. Run on the event loop every second (as the
daemon first did, ``PRAGMA wal_checkpoint(TRUNCATE)``), that blocked whatever arrived
meanwhile; SQLite's own automatic checkpoint, inside the ``COMMIT`` that takes the ``-wal``
file past 1,000 pages, did too (about once a second at 50 callouts/s: an acceptance writes
about 20 pages). Both showed in the added latency's tail (``docs/performance.md``, fix 20).

:func:`checkpoint_periodically` therefore copies the ``-wal`` file from a worker thread while
the store is writing (:class:`WalCheckpointer`: a ``PASSIVE`` checkpoint through a connection
of its own, which never waits for the store's writer nor blocks it; the store's next write
transaction then reuses the ``-wal`` file from its start), and keeps SQLite's automatic
checkpoint only as a fallback (``FALLBACK_AUTOCHECKPOINT_PAGES``).

Erased callout text must also leave the ``-wal`` file, and only a ``TRUNCATE`` checkpoint
guarantees that: a reused file keeps old pages beyond what has been written since. That one
runs on the loop: once the store has written nothing for a whole interval (nothing is waiting
then), and otherwise at least every ``truncate_every_s`` even under sustained writes. Having
SQLite truncate at each reuse instead (``journal_size_limit = 0``) was tried: the truncation
then happens inside a ``COMMIT`` on the loop, and on ext4 it took up to 19 ms at times.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

from gateway.store.database import Store

#: ``wal_autocheckpoint`` while :func:`checkpoint_periodically` runs (about 40 MB of -wal).
FALLBACK_AUTOCHECKPOINT_PAGES = 10_000
#: SQLite's default, restored when it stops.
DEFAULT_AUTOCHECKPOINT_PAGES = 1_000


class WalCheckpointer:
    """A connection of its own to the store's file for ``PASSIVE`` checkpoints (call
    :meth:`copy` from one thread at a time; :func:`asyncio.to_thread` does)."""

    def __init__(self, path: Path) -> None:
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        # In WAL mode NORMAL and FULL both sync the -wal before the copy and the file after.
        self._conn.execute("PRAGMA synchronous = FULL")
        self.copies = 0
        """Checkpoints that copied the whole ``-wal`` file (tests read it)."""

    def copy(self) -> bool:
        """Copy every committed page into the main file; True if the whole ``-wal`` file was
        copied (the store's next write transaction then starts it over)."""
        busy, frames, copied = self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        complete = not busy and frames == copied
        self.copies += complete
        return bool(complete)

    def close(self) -> None:
        self._conn.close()


async def checkpoint_periodically(
    store: Store, interval_s: float, truncate_every_s: float = 60.0
) -> None:
    """Every ``interval_s``: copy the ``-wal`` file off the loop while the store writes;
    truncate it on the loop once the store has been quiet for an interval, and at least
    every ``truncate_every_s`` (erased text is gone from the file bytes by then)."""
    checkpointer = WalCheckpointer(store.path)
    store.set_autocheckpoint(FALLBACK_AUTOCHECKPOINT_PAGES)
    seen = store.wal_sync.written
    truncated_at: int | None = None  # ``written`` at the last complete truncation
    truncated_when = time.monotonic()
    try:
        while True:
            await asyncio.sleep(interval_s)
            written = store.wal_sync.written
            busy = written != seen
            seen = written
            overdue = time.monotonic() - truncated_when >= truncate_every_s
            if busy and not overdue:
                await asyncio.to_thread(checkpointer.copy)
            elif truncated_at != written and store.checkpoint():
                truncated_at, truncated_when = store.wal_sync.written, time.monotonic()
    finally:
        checkpointer.close()
        store.set_autocheckpoint(DEFAULT_AUTOCHECKPOINT_PAGES)


__all__ = ["WalCheckpointer", "checkpoint_periodically"]
