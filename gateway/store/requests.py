"""Single sends to one unit (``units/<issi>/send``): stored before anything goes to a radio.

Like a callout, a request is idempotent on its id and survives a restart: ``pending`` ones are
sent again when the gateway starts. Its text is personal data: it lives in its own table and
is erased (``secure_delete``) when the request ends.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

from gateway import audit
from gateway.store.records import from_columns
from gateway.store.writes import TransactionBase


@dataclass(frozen=True, slots=True)
class UnitRequestRecord:
    """A stored request: ``text`` (while pending) or ``status`` to ``issi``."""

    request_id: str
    issi: int
    status: int | None
    text: str | None
    state: str
    outcome: str | None
    deadline_at: float

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> UnitRequestRecord:
        return from_columns(cls, row)


_SELECT = (
    "SELECT r.*, t.text FROM unit_requests r"
    " LEFT JOIN unit_request_texts t ON t.request_id = r.request_id"
)


class RequestWrites(TransactionBase):
    """Request mutations of a :class:`~gateway.store.Transaction`."""

    __slots__ = ()

    def accept_request(
        self,
        request_id: str,
        *,
        issi: int,
        text: str | None,
        status: int | None,
        deadline_s: float,
    ) -> tuple[bool, UnitRequestRecord]:
        """Store a request; ``(False, stored)`` for an id already known (nothing written)."""
        known = self.unit_request(request_id)
        if known is not None:
            return False, known
        self._conn.execute(
            "INSERT INTO unit_requests (request_id, issi, status, state, created_at, deadline_at)"
            " VALUES (?, ?, ?, 'pending', ?, ?)",
            (request_id, issi, status, self.now, self.now + deadline_s),
        )
        if text is not None:
            self._conn.execute(
                "INSERT INTO unit_request_texts (request_id, text) VALUES (?, ?)",
                (request_id, text),
            )
        data: dict[str, object] = {"change": "request_accepted", "status": status}
        if text is not None:
            data["text_digest"] = audit.redact_text(text)
        self.audit("state_change", request_id, data, issi=issi)
        stored = self.unit_request(request_id)
        assert stored is not None
        return True, stored

    def finish_request(self, request_id: str, *, outcome: str) -> bool:
        """End a pending request with ``outcome`` and erase its text; False if not pending."""
        changed = self._conn.execute(
            "UPDATE unit_requests SET state = 'done', outcome = ?"
            " WHERE request_id = ? AND state = 'pending'",
            (outcome, request_id),
        ).rowcount
        if not changed:
            return False
        self._conn.execute("DELETE FROM unit_request_texts WHERE request_id = ?", (request_id,))
        self.erased_text = True
        self.audit("state_change", request_id, {"change": "request_done", "outcome": outcome})
        return True

    def unit_request(self, request_id: str) -> UnitRequestRecord | None:
        row = self._conn.execute(f"{_SELECT} WHERE r.request_id = ?", (request_id,)).fetchone()
        return None if row is None else UnitRequestRecord.from_row(row)

    def pending_requests(self) -> list[UnitRequestRecord]:
        """Requests not ended, oldest first: what a restart sends again."""
        rows = self._conn.execute(
            f"{_SELECT} WHERE r.state = 'pending' ORDER BY r.created_at, r.request_id"
        ).fetchall()
        return [UnitRequestRecord.from_row(row) for row in rows]
