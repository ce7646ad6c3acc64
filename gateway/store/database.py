"""The store file: opening it with the right pragmas, migrating it, and handing out transactions."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Final, Literal

from gateway.audit import AuditChain
from gateway.store.durability import WalSync
from gateway.store.queries import StoreReader
from gateway.store.schema import migrate, schema_version
from gateway.store.transaction import Transaction

STORE_FILENAME: Final = "tetragw.sqlite3"
"""Name of the store file inside the data directory (``--data-dir``, default ``./var``)."""

Synchronous = Literal["OFF", "NORMAL", "FULL", "EXTRA"]
Clock = Callable[[], float]

_LEVELS: Final[tuple[Synchronous, ...]] = ("OFF", "NORMAL", "FULL", "EXTRA")
#: The longest a group stays open when nobody waits for it (seconds).
GROUP_WINDOW_S: Final = 0.05


def _loop_running() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


def store_path(data_dir: str | Path) -> Path:
    """Where the store (and the audit trail in it) lives for ``data_dir``."""
    return Path(data_dir) / STORE_FILENAME


class Store(StoreReader):
    """The durable store: one SQLite file in WAL mode, one connection, one thread.

    Opening creates the file (and missing parent directories) and applies migrations. Pragmas:
    ``journal_mode=WAL``; ``foreign_keys=ON``; ``secure_delete=ON`` so deleted personal data is
    overwritten.

    Durability is chosen per transaction. A ``durable=True`` transaction is a *promise* to
    dispatch — a callout's or a single send's acceptance, an incident's closing, an emergency
    status: it must survive power loss before anything after it reaches dispatch. Every other
    transaction commits with ``synchronous=NORMAL``: in WAL mode it survives a crash of the
    process (SIGKILL); a power loss may undo the last of them, which the engine re-derives after
    a restart (a send recorded ``sent``/``delivered`` is sent again, a confirmed publication is
    published again: at-least-once), never a promise.

    Without group commit a promise commits with ``synchronous`` (``FULL`` by default), its fsync
    on the caller's thread. With **group commit** (``group_commit=True``, the daemon's choice)
    and inside a running event loop, a transaction is a SAVEPOINT in one SQLite transaction that
    stays open until someone needs it: ``wal_sync.wait()`` (the outbox pump's before each batch,
    the PUBACK of an inbound message), a checkpoint, ``commit_group()``, ``close()`` or at most
    ``group_window_s`` later. A promise then only marks its group: ``wal_sync.wait()`` commits
    the group and flushes the WAL in a worker thread (``durability.py``), so the event loop never
    waits for the disk, and the bridge publishes and acknowledges only after that. A callout's
    acceptance thus writes no page before its first SDS goes out, and the ~15 pages every commit
    rewrites (b-tree leaves of the audit, outbox, sends, ... tables) are written once per group
    instead of once per transaction (docs/performance.md). A transaction that raises rolls
    back to its savepoint only. What group commit risks: a crash of the process before the
    group's COMMIT takes back its transactions; nothing of them has reached dispatch, but an SDS
    may have gone to a radio and is sent again after the restart (at-least-once, as for any
    crash). A COMMIT that fails (disk full, I/O error) loses the group: ``on_group_lost`` is
    called, and the daemon stops so that it restarts from what is on disk. Without a running
    loop (scripts, the CLI, most tests) every transaction commits at its end.

    Reads are the :class:`StoreReader` queries; writes go through :meth:`transaction`. The
    store is synchronous and not thread-safe: the asyncio engine calls it directly from the
    event-loop thread; reads see the open group's writes (one connection).
    """

    __slots__ = (
        "_checkpoint_after_erase",
        "_clock",
        "_commit_timer",
        "_current_sync",
        "_durable_sync",
        "_group_chain",
        "_group_commit",
        "_group_window_s",
        "_in_transaction",
        "_light_sync",
        "groups_committed",
        "on_group_lost",
        "path",
        "wal_sync",
    )

    def __init__(
        self,
        path: str | Path,
        *,
        synchronous: Synchronous = "FULL",
        clock: Clock = time.time,
        checkpoint_after_erase: bool = True,
        group_commit: bool = False,
        group_window_s: float = GROUP_WINDOW_S,
    ) -> None:
        if synchronous not in _LEVELS:
            raise ValueError(f"synchronous must be OFF, NORMAL, FULL or EXTRA, not {synchronous!r}")
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self.path, isolation_level=None)
        try:
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute(f"PRAGMA synchronous = {synchronous}")
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA secure_delete = ON")
            # Savepoint journals (every transaction of a group is a savepoint) hold the
            # originals of the pages they change, callout texts among them; beyond 64 KiB
            # SQLite spilled them to a file in /var/tmp, outside the store's erasure, and
            # opened one about once per callout (docs/threat-model.md, docs/performance.md).
            conn.execute("PRAGMA temp_store = MEMORY")
            conn.execute("PRAGMA busy_timeout = 5000")
            migrate(conn)
        except BaseException:
            conn.close()
            raise
        super().__init__(conn)
        self._clock = clock
        self._in_transaction = False
        self._checkpoint_after_erase = checkpoint_after_erase
        self._durable_sync: Synchronous = synchronous
        self._light_sync: Synchronous = min(synchronous, "NORMAL", key=_LEVELS.index)
        self._current_sync: Synchronous = synchronous
        self._group_commit = group_commit
        self._group_window_s = group_window_s
        self._group_chain: AuditChain | None = None
        self._commit_timer: asyncio.TimerHandle | None = None
        self.groups_committed = 0
        """Group COMMITs so far (tests and benchmarks read it)."""
        self.on_group_lost: Callable[[BaseException], None] | None = None
        """Called when a group's COMMIT failed and its transactions are lost (see above)."""
        self.wal_sync = WalSync(
            self.path.with_name(self.path.name + "-wal"), before_flush=self.commit_group
        )
        """``await store.wal_sync.wait()`` makes every promise (``durable=True``) so far survive
        power loss (it commits the open group first; ``durability.py``). The gateway awaits it
        before anything reaches dispatch."""

    @classmethod
    def in_data_dir(
        cls,
        data_dir: str | Path,
        *,
        synchronous: Synchronous = "FULL",
        clock: Clock = time.time,
        checkpoint_after_erase: bool = True,
        group_commit: bool = False,
    ) -> Store:
        """Open ``<data_dir>/tetragw.sqlite3`` (same options as the constructor)."""
        return cls(
            store_path(data_dir),
            synchronous=synchronous,
            clock=clock,
            checkpoint_after_erase=checkpoint_after_erase,
            group_commit=group_commit,
        )

    @property
    def schema_version(self) -> int:
        return schema_version(self._conn)

    def now(self) -> float:
        """The injected clock's current time (epoch seconds)."""
        return self._clock()

    @contextmanager
    def transaction(
        self, now: float | None = None, *, durable: bool = False
    ) -> Iterator[Transaction]:
        """One transaction: everything in the block — state, outbox, audit — is kept when the
        block ends and rolled back if it raises. ``now`` defaults to the clock.

        Without group commit (or outside a running event loop) it is one SQLite transaction
        (``BEGIN IMMEDIATE`` … ``COMMIT``), ``durable=True`` committing with the store's
        ``synchronous`` level (survives power loss when ``FULL``); with it, a savepoint in the
        open group, ``durable=True`` marking the group as a promise for ``wal_sync.wait()``.
        Not reentrant: a nested call raises ``RuntimeError``.
        """
        if self._in_transaction:
            raise RuntimeError("store transactions do not nest")
        if not self._group_commit or not _loop_running():
            self.commit_group()
            with self._single(now, durable=durable) as tx:
                yield tx
            return
        self._in_transaction = True
        try:
            chain = self._open_group()
            tx = Transaction(self._conn, self._clock() if now is None else now, chain)
            mark = chain.mark()
            self._conn.execute("SAVEPOINT tx")
            try:
                yield tx
                tx.before_commit()
                self._conn.execute("RELEASE tx")
            except BaseException:
                chain.restore(mark)
                self._roll_back_savepoint()
                raise
            if durable:
                self.wal_sync.promise_open()  # the group's COMMIT is then a promise
        finally:
            self._in_transaction = False
        if tx.erased_text and self._checkpoint_after_erase:
            self.checkpoint()

    @contextmanager
    def _single(self, now: float | None, *, durable: bool) -> Iterator[Transaction]:
        level = self._durable_sync if durable else self._light_sync
        self._set_sync(level)
        tx = Transaction(self._conn, self._clock() if now is None else now)
        self._in_transaction = True
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield tx
                tx.before_commit()  # the audit head, written once per transaction
                self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:  # SQLite may have rolled back already
                    self._conn.execute("ROLLBACK")
                raise
        finally:
            self._in_transaction = False
        if durable and level in ("FULL", "EXTRA"):
            self.wal_sync.committed()
            self.wal_sync.synced()  # the FULL commit flushed the WAL, and all before it
        else:
            self.wal_sync.committed(promise=durable)
        if tx.erased_text and self._checkpoint_after_erase:
            self.checkpoint()

    def _set_sync(self, level: Synchronous) -> None:
        if level != self._current_sync:
            self._conn.execute(f"PRAGMA synchronous = {level}")
            self._current_sync = level

    def _open_group(self) -> AuditChain:
        """The open group's audit chain (opening the group if none is open)."""
        if self._group_chain is not None:
            return self._group_chain
        self._set_sync(self._light_sync)
        self._conn.execute("BEGIN IMMEDIATE")
        self._group_chain = chain = AuditChain(self._conn)
        self._commit_timer = asyncio.get_running_loop().call_later(
            self._group_window_s, self._commit_on_timer
        )
        return chain

    def _roll_back_savepoint(self) -> None:
        if self._conn.in_transaction:
            self._conn.execute("ROLLBACK TO tx")
            self._conn.execute("RELEASE tx")
            return
        # SQLite rolled back the whole transaction (an I/O error, a full disk): the group's
        # earlier transactions are gone with it.
        self._group_lost(sqlite3.OperationalError("the group was rolled back by SQLite"))

    def _commit_on_timer(self) -> None:
        self._commit_timer = None
        self.commit_group()

    def commit_group(self) -> None:
        """COMMIT the open group now (nothing if none is open). Called before a flush, a
        transaction outside group commit, a checkpoint and on close; the timer calls it too."""
        chain = self._group_chain
        if chain is None:
            return
        if self._commit_timer is not None:
            self._commit_timer.cancel()
            self._commit_timer = None
        self._group_chain = None
        try:
            chain.write_head()  # once per group: every transaction of it shares the chain
            self._conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
            self._group_lost(exc)
            raise
        self.groups_committed += 1
        self.wal_sync.committed()

    def _group_lost(self, exc: BaseException) -> None:
        self._group_chain = None
        self.wal_sync.promise_lost()
        if self.on_group_lost is not None:
            self.on_group_lost(exc)

    def checkpoint(self) -> bool:
        """Copy the WAL into the main file and truncate it, so erased text is gone from the
        ``-wal`` file too. False if a reader kept it from completing (try again later)."""
        self.commit_group()
        busy = self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        return not busy

    def set_autocheckpoint(self, pages: int) -> None:
        """Let a COMMIT checkpoint by itself (on the caller's thread) only once the ``-wal``
        file holds ``pages`` pages (SQLite's default: 1,000); ``checkpoints.py`` raises it
        while it checkpoints from a worker thread."""
        self._conn.execute(f"PRAGMA wal_autocheckpoint = {int(pages)}")

    def close(self) -> None:
        """Commit the open group (if any) and close the file."""
        try:
            self.commit_group()
        finally:
            self._conn.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
