"""Group commit: making the store's recent commits survive power loss, off the event loop.

The store commits with ``synchronous=NORMAL`` (WAL): a commit is written to the ``-wal`` file
before ``COMMIT`` returns, so it survives a crash of the process, but it is in the kernel's
page cache until the file is flushed. :class:`WalSync` flushes it with ``fsync(2)`` in a worker
thread, so the event loop never waits for the disk, and one flush serves every commit made
before it started (group commit): with many callouts a second, one fsync covers all of them.

The gateway awaits :meth:`WalSync.wait` before anything leaves for dispatch — a batch of outbox
publications, the PUBACK of an inbound message — so no promise (an acceptance, an emergency) is
announced or acknowledged that a power loss could take back. What does not wait is the radio:
a callout's first SDS goes out while its acceptance is being flushed (docs/performance.md).
A power loss in that window of a few milliseconds loses the acceptance *and* the PUBACK, so
the broker redelivers the callout and it is sent again: at-least-once, as after any crash.

Why an fsync of the ``-wal`` file through a descriptor of our own is enough: SQLite writes a
commit's frames with ``write(2)`` before ``COMMIT`` returns and never keeps them in a buffer
of its own; ``fsync`` flushes the file's data whichever descriptor wrote it. A checkpoint
(``synchronous=NORMAL`` syncs the WAL before it copies and the database after) leaves nothing
to lose either. If the ``-wal`` file is missing (no commit since the last truncation), there is
nothing unflushed in it.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from pathlib import Path


def fsync_path(path: Path) -> None:
    """``fsync(2)`` the file at ``path``; nothing if it does not exist."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class WalSync:
    """Counts commits and flushes the WAL when someone waits for a promise to be durable.

    The store calls ``committed(promise=...)`` after every ``COMMIT``; a *promise* is a commit
    that dispatch will be told of as something that cannot be lost (a callout's acceptance, an
    emergency status: ``Store.transaction(durable=True)``). ``await wait()`` commits the
    store's open group (``before_flush``) and returns once every promise made before the call
    is on disk; a flush covers every commit written before it began, promises or not. Other
    commits are flushed by the next promise's flush or a checkpoint: a power loss may undo
    them, and the engine re-derives them after a restart (at-least-once, docs/performance.md).
    Flushes run one at a time in a worker thread; a waiter that arrives during a flush waits
    for the next one if it needs it. An ``OSError`` from the flush (a failing disk) is raised
    to every waiter of that flush.
    """

    __slots__ = (
        "_before",
        "_flush",
        "_flushing",
        "_open_promise",
        "_path",
        "_promised",
        "_synced",
        "_written",
        "flushes",
    )

    def __init__(
        self,
        wal_path: Path,
        *,
        flush: Callable[[Path], None] = fsync_path,
        before_flush: Callable[[], None] | None = None,
    ) -> None:
        self._path = wal_path
        self._before = before_flush
        self._flush: Callable[[Path], None] = flush
        self._written = 0
        self._promised = 0
        self._open_promise = False
        self._synced = 0
        self._flushing: asyncio.Future[None] | None = None
        self.flushes = 0
        """How many flushes ran (benchmarks and tests read it)."""

    def committed(self, *, promise: bool = False) -> None:
        """A commit was written (not yet flushed); ``promise``: it must be flushed before
        anything after it reaches dispatch. A promise made in it beforehand
        (:meth:`promise_open`) makes it one too."""
        self._written += 1
        if promise or self._open_promise:
            self._promised = self._written
            self._open_promise = False

    @property
    def written(self) -> int:
        """Commits written so far (flushed or not): a counter that tells whether the store
        wrote since it was last read."""
        return self._written

    def promise_open(self) -> None:
        """A promise was made in a transaction not committed yet (the store's open group):
        :attr:`pending` from now on, and the next commit is a promise."""
        self._open_promise = True

    def promise_lost(self) -> None:
        """The uncommitted transaction holding a promise was rolled back (a lost group)."""
        self._open_promise = False

    def synced(self) -> None:
        """Every commit so far is on disk (a ``synchronous=FULL`` commit flushed the WAL)."""
        self._synced = self._written

    @property
    def pending(self) -> bool:
        """True while some promise is not known to be flushed."""
        return self._open_promise or self._synced < self._promised

    async def wait(self) -> None:
        """Return once every promise made before this call is flushed to disk (with
        ``before_flush`` — the store's group commit — it commits the open group first)."""
        if self._before is not None:
            self._before()
        target = self._promised
        while self._synced < target:
            if self._flushing is None:
                self._flushing = asyncio.ensure_future(self._run_flush())
            # shield: a cancelled waiter must not cancel the flush other waiters share.
            await asyncio.shield(self._flushing)

    async def _run_flush(self) -> None:
        target = self._written
        try:
            await asyncio.to_thread(self._flush, self._path)
            self.flushes += 1
            self._synced = max(self._synced, target)
        finally:
            self._flushing = None


__all__ = ["WalSync", "fsync_path"]
