"""Common ground of every store transaction: the clock reading, the audit trail and the outbox.

A :class:`TransactionBase` is one open SQLite transaction. Everything written through it —
state changes, the outbox publications that announce them, their audit entries — commits
together or not at all.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from typing import Any

from gateway import audit
from gateway.store.queries import StoreReader


class TransactionBase(StoreReader):
    """Queries plus audit and outbox writes, all stamped with ``now``."""

    __slots__ = ("erased_text", "now")

    def __init__(self, conn: sqlite3.Connection, now: float) -> None:
        super().__init__(conn)
        self.now = now
        self.erased_text = False
        """Set when this transaction erased a callout text (the store then checkpoints)."""

    def audit(
        self,
        kind: audit.AuditKind,
        subject: str,
        data: Mapping[str, Any],
        *,
        issi: int | None = None,
    ) -> audit.AuditEntry:
        """Append an audit entry; ``data`` must not hold personal data (use
        :func:`gateway.audit.redact_text`)."""
        return audit.append_entry(
            self._conn, at=self.now, kind=kind, subject=subject, data=data, issi=issi
        )

    def publish(
        self,
        topic: str,
        payload: bytes,
        *,
        qos: int = 1,
        retain: bool = False,
        supersede: bool = True,
    ) -> int:
        """Queue a publication for the bridge; returns its outbox ``seq``.

        A retained publication supersedes unconfirmed retained ones on the same topic (only
        the latest retained value matters to a subscriber), which keeps the outbox short
        while the broker is away. ``supersede=False`` keeps them, as plain (not retained)
        publications: for retained messages that are also events dispatch must see one by one
        (a unit's statuses, in order), while the broker still retains only the latest.
        """
        if retain and supersede:
            self._conn.execute("DELETE FROM outbox WHERE topic = ? AND retain = 1", (topic,))
        elif retain:
            self._conn.execute(
                "UPDATE outbox SET retain = 0 WHERE topic = ? AND retain = 1", (topic,)
            )
        cursor = self._conn.execute(
            "INSERT INTO outbox (topic, payload, qos, retain, created_at) VALUES (?, ?, ?, ?, ?)",
            (topic, payload, qos, int(retain), self.now),
        )
        return int(cursor.lastrowid or 0)

    def mark_published(self, seq: int) -> bool:
        """The bridge confirmed outbox entry ``seq``: remove it (securely) and audit the
        publication by topic and payload digest. False if ``seq`` was not pending."""
        row = self._conn.execute(
            "DELETE FROM outbox WHERE seq = ? RETURNING topic, payload, qos, retain", (seq,)
        ).fetchone()
        if row is None:
            return False
        self.audit(
            "publication",
            str(row["topic"]),
            {
                "outbox_seq": seq,
                "qos": row["qos"],
                "retain": bool(row["retain"]),
                "payload_digest": audit.redact_text(bytes(row["payload"])),
            },
        )
        return True
