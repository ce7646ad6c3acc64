"""Store writes about incidents: talk groups, closing, and unit statuses on the timeline."""

from __future__ import annotations

import sqlite3

from gateway import audit
from gateway.store.records import (
    ENDED_BY_DISPATCH,
    TIMELINE_MEANINGS,
    GssiInUseError,
    IncidentRecord,
    StatusOutcome,
    TalkgroupState,
    UnitStatusRecord,
    UnknownRecordError,
)
from gateway.store.writes import TransactionBase


class IncidentWrites(TransactionBase):
    """Incident and unit-status mutations of a :class:`~gateway.store.Transaction`."""

    __slots__ = ()

    # -- incidents ---------------------------------------------------------------------

    def set_talkgroup(
        self, incident_id: str, *, gssi: int | None, state: TalkgroupState
    ) -> IncidentRecord:
        """Record the incident's talk group and its state (``creating`` … ``released``).

        Raises :class:`GssiInUseError` if another open incident holds ``gssi`` (enforced by a
        partial UNIQUE index), :class:`UnknownRecordError` for an unknown incident.
        """
        incident = self.incident(incident_id)
        if incident is None:
            raise UnknownRecordError(f"no incident {incident_id}")
        try:
            self._conn.execute(
                "UPDATE incidents SET gssi = ?, talkgroup_state = ? WHERE incident_id = ?",
                (gssi, state, incident_id),
            )
        except sqlite3.IntegrityError as exc:
            raise GssiInUseError(f"talk group {gssi} is held by another open incident") from exc
        self.audit(
            "state_change",
            incident_id,
            {"change": "talkgroup", "gssi": gssi, "from": incident.talkgroup_state, "to": state},
        )
        updated = self.incident(incident_id)
        assert updated is not None
        return updated

    def close_incident(
        self, incident_id: str, *, reason: str | None = None
    ) -> IncidentRecord | None:
        """Close the incident; units whose mission had not ended get ``ended_at = now``,
        ``ended_by = "dispatch"``. ``None`` if unknown or already closed.

        ``reason`` is kept in the store (it comes from dispatch) but audited only as a digest.
        Unfinished sends are left to the engine (it reports them ``unreached`` or lets them run
        to their deadline); the talk group state is left to :meth:`set_talkgroup`.
        """
        incident = self.incident(incident_id)
        if incident is None or not incident.is_open:
            return None
        self._conn.execute(
            "UPDATE incidents SET closed_at = ?, close_reason = ? WHERE incident_id = ?",
            (self.now, reason, incident_id),
        )
        self._conn.execute(
            "UPDATE timeline_units SET ended_at = ?, ended_by = ?"
            " WHERE incident_id = ? AND ended_at IS NULL",
            (self.now, ENDED_BY_DISPATCH, incident_id),
        )
        self.audit(
            "state_change",
            incident_id,
            {
                "change": "incident_closed",
                "reason_digest": None if reason is None else audit.redact_text(reason),
            },
        )
        return self.incident(incident_id)

    # -- unit status -------------------------------------------------------------------

    def record_unit_status(
        self,
        issi: int,
        value: int,
        *,
        meaning: str | None,
        label: str | None = None,
        radio: str | None = None,
    ) -> StatusOutcome:
        """Cache a unit's status and stamp its current incident's timeline.

        The status is attributed to :meth:`current_incident_of` (computed before the change,
        so ``mission_ended`` still finds the incident it ends). A meaning in
        :data:`TIMELINE_MEANINGS` stamps its field if not yet set; ``mission_ended`` also
        sets ``ended_by`` to the unit's ISSI.
        """
        incident_id = self.current_incident_of(issi)
        self._conn.execute(
            "INSERT INTO unit_status (issi, value, meaning, label, incident_id, radio, at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (issi) DO UPDATE SET"
            " value = excluded.value, meaning = excluded.meaning, label = excluded.label,"
            " incident_id = excluded.incident_id, radio = excluded.radio, at = excluded.at",
            (issi, value, meaning, label, incident_id, radio, self.now),
        )
        stamped: str | None = None
        column = TIMELINE_MEANINGS.get(meaning or "")
        if incident_id is not None and column is not None:
            extra = ", ended_by = ?" if column == "ended_at" else ""
            params: tuple[object, ...] = (self.now, str(issi)) if extra else (self.now,)
            changed = self._conn.execute(
                f"UPDATE timeline_units SET {column} = ?{extra}"  # noqa: S608
                f" WHERE incident_id = ? AND issi = ? AND {column} IS NULL",
                (*params, incident_id, issi),
            ).rowcount
            stamped = column if changed else None
        self.audit(
            "state_change",
            incident_id or f"unit:{issi}",
            {
                "change": "unit_status",
                "value": value,
                "meaning": meaning,
                "timeline_field": stamped,
            },
            issi=issi,
        )
        status = UnitStatusRecord(issi, value, meaning, label, incident_id, radio, self.now)
        return StatusOutcome(status, incident_id, stamped)
