"""Common ground of every store transaction: the clock reading, the audit trail and the outbox.

A :class:`TransactionBase` is one open SQLite transaction. Everything written through it —
state changes, the outbox publications that announce them, their audit entries — commits
together or not at all.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from typing import Any, Final

from gateway import audit
from gateway.store.queries import StoreReader

# Seqs per DELETE: under SQLite's host-parameter limit (999 before 3.32, 32766 since).
_CONFIRM_CHUNK: Final = 500


class TransactionBase(StoreReader):
    """Queries plus audit and outbox writes, all stamped with ``now``."""

    __slots__ = ("_audit_chain", "_owns_chain", "erased_text", "now")

    def __init__(
        self, conn: sqlite3.Connection, now: float, audit_chain: audit.AuditChain | None = None
    ) -> None:
        super().__init__(conn)
        self.now = now
        self.erased_text = False
        """Set when this transaction erased a callout text (the store then checkpoints)."""
        # A group commit's transactions share the group's chain, whose head the store writes
        # once, before the group's COMMIT; otherwise the transaction has a chain of its own.
        self._owns_chain = audit_chain is None
        self._audit_chain = audit.AuditChain(conn) if audit_chain is None else audit_chain

    def before_commit(self) -> None:
        """Write what the transaction defers to its end: the audit head (its own chain's; a
        shared chain's head is the store's to write). The store calls it right before COMMIT
        (or RELEASE); a rollback skips it."""
        if self._owns_chain:
            self._audit_chain.write_head()

    def audit(
        self,
        kind: audit.AuditKind,
        subject: str,
        data: Mapping[str, Any],
        *,
        issi: int | None = None,
    ) -> audit.AuditEntry:
        """Append an audit entry; ``data`` must not hold personal data (use
        :func:`gateway.audit.redact_text`). The returned entry's ``data`` is ``data`` as
        given; the head of the trail moves at :meth:`before_commit`."""
        return self._audit_chain.append(
            at=self.now, kind=kind, subject=subject, data=data, issi=issi
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
        return self.mark_published_many((seq,)) == 1

    def mark_published_many(self, seqs: Sequence[int]) -> int:
        """:meth:`mark_published` for many confirmations at once: removes the pending ones
        in few statements, then writes their ``publication`` audit entries in seq order.
        Returns how many were pending (seqs not pending, or repeated, are skipped)."""
        unique = list(dict.fromkeys(int(seq) for seq in seqs))
        rows: list[sqlite3.Row] = []
        for start in range(0, len(unique), _CONFIRM_CHUNK):
            chunk = unique[start : start + _CONFIRM_CHUNK]
            marks = ",".join("?" * len(chunk))
            rows += self._conn.execute(
                f"DELETE FROM outbox WHERE seq IN ({marks})"  # noqa: S608 - only "?" marks
                " RETURNING seq, topic, payload, qos, retain",
                chunk,
            ).fetchall()
        rows.sort(key=lambda row: int(row["seq"]))  # RETURNING order is unspecified
        for row in rows:
            self.audit(
                "publication",
                str(row["topic"]),
                {
                    "outbox_seq": int(row["seq"]),
                    "qos": row["qos"],
                    "retain": bool(row["retain"]),
                    "payload_digest": audit.redact_text(bytes(row["payload"])),
                },
            )
        return len(rows)
