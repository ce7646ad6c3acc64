"""The store file: opening it with the right pragmas, migrating it, and handing out transactions."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Final, Literal

from gateway.store.queries import StoreReader
from gateway.store.schema import migrate, schema_version
from gateway.store.transaction import Transaction

STORE_FILENAME: Final = "tetragw.sqlite3"
"""Name of the store file inside the data directory (``--data-dir``, default ``./var``)."""

Synchronous = Literal["OFF", "NORMAL", "FULL", "EXTRA"]
Clock = Callable[[], float]

_LEVELS: Final[tuple[Synchronous, ...]] = ("OFF", "NORMAL", "FULL", "EXTRA")


def store_path(data_dir: str | Path) -> Path:
    """Where the store (and the audit trail in it) lives for ``data_dir``."""
    return Path(data_dir) / STORE_FILENAME


class Store(StoreReader):
    """The durable store: one SQLite file in WAL mode, one connection, one thread.

    Opening creates the file (and missing parent directories) and applies migrations. Pragmas:
    ``journal_mode=WAL``; ``foreign_keys=ON``; ``secure_delete=ON`` so deleted personal data is
    overwritten.

    Durability is chosen per transaction (``PRAGMA synchronous`` may change between the
    transactions of one connection). A ``durable=True`` transaction — the acceptance of a
    callout, the closing of an incident — commits with ``synchronous`` (``FULL`` by default):
    once it returns it survives power loss. Every other transaction commits with ``NORMAL``
    (or ``synchronous`` if that is lower): in WAL mode it survives a crash of the process
    (SIGKILL) but a power loss may take the last of them back; the next durable commit syncs
    the WAL, and with it every earlier commit. What such a loss can undo is progress the
    engine re-derives after a restart — a send recorded ``sent``/``delivered`` is sent again
    (at-least-once, as after any restart), an outbox confirmation is published again, a
    status or position cache is refreshed by the next one — never an ``accepted`` callout.
    See docs/performance.md.

    Reads are the :class:`StoreReader` queries; writes go through :meth:`transaction`. The
    store is synchronous and not thread-safe: the asyncio engine calls it directly from the
    event-loop thread (a transaction takes well under a millisecond plus the fsync).
    """

    __slots__ = (
        "_checkpoint_after_erase",
        "_clock",
        "_current_sync",
        "_durable_sync",
        "_in_transaction",
        "_light_sync",
        "path",
    )

    def __init__(
        self,
        path: str | Path,
        *,
        synchronous: Synchronous = "FULL",
        clock: Clock = time.time,
        checkpoint_after_erase: bool = True,
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

    @classmethod
    def in_data_dir(
        cls,
        data_dir: str | Path,
        *,
        synchronous: Synchronous = "FULL",
        clock: Clock = time.time,
        checkpoint_after_erase: bool = True,
    ) -> Store:
        """Open ``<data_dir>/tetragw.sqlite3`` (same options as the constructor)."""
        return cls(
            store_path(data_dir),
            synchronous=synchronous,
            clock=clock,
            checkpoint_after_erase=checkpoint_after_erase,
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
        """One SQLite transaction (``BEGIN IMMEDIATE``): commits when the block ends, rolls
        back everything — state, outbox, audit — if it raises. ``now`` defaults to the clock.

        ``durable=True`` commits with the store's ``synchronous`` level (survives power loss
        when ``FULL``); otherwise with ``NORMAL`` (survives a process crash; see the class).
        Not reentrant: a nested call raises ``RuntimeError``.
        """
        if self._in_transaction:
            raise RuntimeError("store transactions do not nest")
        level = self._durable_sync if durable else self._light_sync
        if level != self._current_sync:
            self._conn.execute(f"PRAGMA synchronous = {level}")
            self._current_sync = level
        tx = Transaction(self._conn, self._clock() if now is None else now)
        self._in_transaction = True
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield tx
                self._conn.execute("COMMIT")
            except BaseException:
                if self._conn.in_transaction:  # SQLite may have rolled back already
                    self._conn.execute("ROLLBACK")
                raise
        finally:
            self._in_transaction = False
        if tx.erased_text and self._checkpoint_after_erase:
            self.checkpoint()

    def checkpoint(self) -> bool:
        """Copy the WAL into the main file and truncate it, so erased text is gone from the
        ``-wal`` file too. False if a reader kept it from completing (try again later)."""
        busy = self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
        return not busy

    def close(self) -> None:
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
