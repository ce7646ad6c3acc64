"""Read side of the store: the questions the engine and the bridge ask.

:class:`StoreReader` is shared by :class:`~gateway.store.database.Store` (each query is its
own read) and :class:`~gateway.store.transaction.Transaction` (queries see the transaction's
own uncommitted writes).
"""

from __future__ import annotations

import sqlite3

from gateway.store.kpi import KpiReport, kpi_report
from gateway.store.records import (
    CalloutRecord,
    IncidentRecord,
    IncidentTimeline,
    OutboxMessage,
    SendRecord,
    TimelineUnit,
    UnitStatusRecord,
)

# The engine polls the unfinished sends on every wake-up. These clauses let SQLite use the
# partial indexes (``sends_unfinished``, ``callouts_active_deadline``), so a poll costs what is
# in flight, not the months of finished sends and callouts the file also holds.
_UNFINISHED = "INDEXED BY sends_unfinished WHERE state IN ('pending', 'sent')"
_ACTIVE_CALLOUTS = "SELECT callout_id FROM callouts WHERE state = 'active'"


class StoreReader:
    """Queries over one connection (rows come back as :class:`sqlite3.Row`)."""

    __slots__ = ("_conn",)

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    # -- callouts and sends ------------------------------------------------------------

    def callout(self, callout_id: str) -> CalloutRecord | None:
        row = self._conn.execute(
            "SELECT * FROM callouts WHERE callout_id = ?", (callout_id,)
        ).fetchone()
        return None if row is None else CalloutRecord.from_row(row)

    def callout_text(self, callout_id: str) -> str | None:
        """The callout's text, or ``None`` once erased (every send final) or unknown."""
        row = self._conn.execute(
            "SELECT text FROM callout_texts WHERE callout_id = ?", (callout_id,)
        ).fetchone()
        return None if row is None else str(row["text"])

    def sends_of(self, callout_id: str) -> list[SendRecord]:
        """The callout's sends in the order of its ``units`` list."""
        return self._sends("WHERE callout_id = ? ORDER BY send_id", (callout_id,))

    def send(self, send_id: int) -> SendRecord | None:
        found = self._sends("WHERE send_id = ?", (send_id,))
        return found[0] if found else None

    def unfinished_sends(self) -> list[SendRecord]:
        """Every send not final (``pending`` or ``sent``): what a restart must resume."""
        return self._sends(f"{_UNFINISHED} ORDER BY send_id", ())

    def sends_due(self, now: float) -> list[SendRecord]:
        """Pending sends whose next try is due (``next_attempt_at`` unset or ≤ ``now``) and
        whose callout's deadline has not passed, oldest first."""
        return self._sends(
            f"{_UNFINISHED} AND state = 'pending'"
            " AND (next_attempt_at IS NULL OR next_attempt_at <= ?)"
            f" AND callout_id IN ({_ACTIVE_CALLOUTS} AND deadline_at > ?)"
            " ORDER BY COALESCE(next_attempt_at, 0), send_id",
            (now, now),
        )

    def due_send_ids(self, now: float) -> list[int]:
        """The ids of :meth:`sends_due`, in the same order, without building the records:
        what the engine polls on every wake-up (most due sends are already in flight)."""
        rows = self._conn.execute(
            f"SELECT send_id FROM sends {_UNFINISHED} AND state = 'pending'"  # noqa: S608
            " AND (next_attempt_at IS NULL OR next_attempt_at <= ?)"
            f" AND callout_id IN ({_ACTIVE_CALLOUTS} AND deadline_at > ?)"
            " ORDER BY COALESCE(next_attempt_at, 0), send_id",
            (now, now),
        ).fetchall()
        return [int(row[0]) for row in rows]

    def send_wakeups(self) -> list[tuple[int, float]]:
        """``(send_id, at)`` for every unfinished send, earliest ``at`` first: its callout's
        deadline, or a ``pending`` send's next try when that is sooner."""
        rows = self._conn.execute(
            "SELECT s.send_id, CASE WHEN s.state = 'pending' AND s.next_attempt_at IS NOT NULL"
            " THEN MIN(s.next_attempt_at, c.deadline_at) ELSE c.deadline_at END AS at"
            " FROM sends s INDEXED BY sends_unfinished JOIN callouts c"
            " ON c.callout_id = s.callout_id"
            " WHERE s.state IN ('pending', 'sent') ORDER BY at, s.send_id"
        ).fetchall()
        return [(int(row[0]), float(row[1])) for row in rows]

    def expired_sends(self, now: float) -> list[SendRecord]:
        """Unfinished sends whose callout's deadline is ≤ ``now``: due for ``unreached``."""
        return self._sends(
            f"{_UNFINISHED} AND callout_id IN ({_ACTIVE_CALLOUTS} AND deadline_at <= ?)"
            " ORDER BY send_id",
            (now,),
        )

    def overdue_callouts(self, now: float) -> list[CalloutRecord]:
        """Callouts past their deadline that still have a send not final."""
        rows = self._conn.execute(
            "SELECT * FROM callouts WHERE state = 'active' AND deadline_at <= ?"
            " AND EXISTS (SELECT 1 FROM sends s WHERE s.callout_id = callouts.callout_id"
            " AND s.state IN ('pending', 'sent')) ORDER BY deadline_at, callout_id",
            (now,),
        ).fetchall()
        return [CalloutRecord.from_row(row) for row in rows]

    def callouts_of_incident(self, incident_id: str) -> list[CalloutRecord]:
        """Every callout of the incident, oldest first."""
        rows = self._conn.execute(
            "SELECT * FROM callouts WHERE incident_id = ? ORDER BY created_at, callout_id",
            (incident_id,),
        ).fetchall()
        return [CalloutRecord.from_row(row) for row in rows]

    def active_callouts(self) -> list[CalloutRecord]:
        """Callouts with at least one send not final, by creation time."""
        rows = self._conn.execute(
            "SELECT * FROM callouts WHERE state = 'active' ORDER BY created_at, callout_id"
        ).fetchall()
        return [CalloutRecord.from_row(row) for row in rows]

    def next_wakeup(self) -> float | None:
        """Earliest time at which a pending retry falls due or an active deadline passes."""
        row = self._conn.execute(
            "SELECT MIN(t) FROM ("  # noqa: S608 - constant clauses only
            f" SELECT MIN(COALESCE(next_attempt_at, 0)) AS t FROM sends {_UNFINISHED}"
            " AND state = 'pending'"
            " UNION ALL SELECT MIN(deadline_at) FROM callouts WHERE state = 'active')"
        ).fetchone()
        return None if row[0] is None else float(row[0])

    def send_by_message_ref(self, radio: str, message_ref: int) -> SendRecord | None:
        """The in-flight (``sent``) send that used ``message_ref`` on ``radio``: how a delivery
        report that arrives after a restart finds its send."""
        found = self._sends(
            "WHERE state = 'sent' AND radio = ?"
            " AND EXISTS (SELECT 1 FROM json_each(sends.message_refs) WHERE value = ?)"
            " ORDER BY send_id DESC LIMIT 1",
            (radio, message_ref),
        )
        return found[0] if found else None

    def message_refs_in_flight(self, radio: str) -> set[int]:
        """Message references held by ``sent`` sends on ``radio`` (not to be reused yet)."""
        rows = self._conn.execute(
            "SELECT DISTINCT j.value FROM sends, json_each(sends.message_refs) AS j"
            " WHERE sends.state = 'sent' AND sends.radio = ?",
            (radio,),
        ).fetchall()
        return {int(row[0]) for row in rows}

    def _sends(self, where: str, params: tuple[object, ...]) -> list[SendRecord]:
        rows = self._conn.execute(f"SELECT * FROM sends {where}", params).fetchall()  # noqa: S608
        return [SendRecord.from_row(row) for row in rows]

    # -- incidents ---------------------------------------------------------------------

    def incident(self, incident_id: str) -> IncidentRecord | None:
        row = self._conn.execute(
            "SELECT * FROM incidents WHERE incident_id = ?", (incident_id,)
        ).fetchone()
        return None if row is None else IncidentRecord.from_row(row)

    def timeline(self, incident_id: str) -> IncidentTimeline | None:
        """The incident and its units ordered by ``alerted_at`` then ISSI."""
        incident = self.incident(incident_id)
        if incident is None:
            return None
        rows = self._conn.execute(
            "SELECT t.*, (SELECT MAX(s.final_at) FROM sends s JOIN callouts c"
            " ON c.callout_id = s.callout_id WHERE c.incident_id = t.incident_id"
            " AND s.issi = t.issi AND s.state = 'unreached') AS unreached_at"
            " FROM timeline_units t WHERE t.incident_id = ? ORDER BY t.alerted_at, t.issi",
            (incident_id,),
        ).fetchall()
        return IncidentTimeline(incident, tuple(TimelineUnit.from_row(row) for row in rows))

    def open_incidents(self) -> list[IncidentRecord]:
        """Incidents not closed, oldest first (with their talk group, if any)."""
        rows = self._conn.execute(
            "SELECT * FROM incidents WHERE closed_at IS NULL ORDER BY opened_at, incident_id"
        ).fetchall()
        return [IncidentRecord.from_row(row) for row in rows]

    def incidents_holding_groups(self) -> list[IncidentRecord]:
        """Incidents, open or closed, whose talk group is recorded ``active``, or ``creating``
        or ``failed`` with a GSSI reserved for a create whose outcome is not known (the network
        may hold it): after a restart, the open ones keep their groups and the closed ones are
        released."""
        rows = self._conn.execute(
            "SELECT * FROM incidents WHERE gssi IS NOT NULL"
            " AND talkgroup_state IN ('active', 'creating', 'failed')"
            " ORDER BY opened_at, incident_id"
        ).fetchall()
        return [IncidentRecord.from_row(row) for row in rows]

    def incident_holding_gssi(self, gssi: int) -> IncidentRecord | None:
        """The open incident whose talk group (not released) is ``gssi``."""
        row = self._conn.execute(
            "SELECT * FROM incidents WHERE gssi = ? AND closed_at IS NULL"
            " AND talkgroup_state <> 'released'",
            (gssi,),
        ).fetchone()
        return None if row is None else IncidentRecord.from_row(row)

    def current_incident_of(self, issi: int) -> str | None:
        """The open incident a unit's status belongs to: the most recently alerted one in
        which the unit's mission has not ended."""
        row = self._conn.execute(
            "SELECT t.incident_id FROM timeline_units t JOIN incidents i USING (incident_id)"
            " WHERE t.issi = ? AND t.ended_at IS NULL AND i.closed_at IS NULL"
            " ORDER BY t.alerted_at DESC, t.incident_id DESC LIMIT 1",
            (issi,),
        ).fetchone()
        return None if row is None else str(row[0])

    # -- units -------------------------------------------------------------------------

    def unit_status(self, issi: int) -> UnitStatusRecord | None:
        row = self._conn.execute("SELECT * FROM unit_status WHERE issi = ?", (issi,)).fetchone()
        return None if row is None else UnitStatusRecord.from_row(row)

    def unit_statuses(self) -> list[UnitStatusRecord]:
        rows = self._conn.execute("SELECT * FROM unit_status ORDER BY issi").fetchall()
        return [UnitStatusRecord.from_row(row) for row in rows]

    # -- outbox ------------------------------------------------------------------------

    def pending_outbox(
        self, limit: int | None = None, *, after_seq: int = 0
    ) -> list[OutboxMessage]:
        """Unconfirmed publications in the order they were made (``seq`` ascending)."""
        rows = self._conn.execute(
            "SELECT * FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?",
            (after_seq, -1 if limit is None else limit),
        ).fetchall()
        return [OutboxMessage.from_row(row) for row in rows]

    def outbox_size(self) -> int:
        """Number of publications not yet confirmed (the health event's ``outbox``)."""
        return int(self._conn.execute("SELECT COUNT(*) FROM outbox").fetchone()[0])

    # -- reports -----------------------------------------------------------------------

    def kpi(
        self, *, since: float | None = None, until: float | None = None, role: str | None = None
    ) -> KpiReport:
        """Median and 90th percentile of alerted → delivered / acknowledged / on scene over
        the timeline units alerted in ``[since, until)`` (see :mod:`gateway.store.kpi`)."""
        return kpi_report(self._conn, since=since, until=until, role=role)
