"""Write side of the store: one :class:`Transaction` is one SQLite transaction.

Everything done through a transaction — state changes, the outbox publications that announce
them, their audit entries — commits together or not at all. Each mutation writes its own
``state_change`` audit entry; the engine adds ``inbound_request``, ``radio_command`` and
``radio_indication`` entries with :meth:`Transaction.audit`. Publications are audited when
the bridge confirms them (:meth:`Transaction.mark_published`). Incident and status writes
live in :mod:`gateway.store.incident_writes`, audit and outbox in :mod:`gateway.store.writes`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import Any

from gateway import audit
from gateway.store.incident_writes import IncidentWrites
from gateway.store.records import (
    FINAL_SEND_STATES,
    Acceptance,
    IncidentClosedError,
    NewCallout,
    SendRecord,
    UnknownRecordError,
)
from gateway.store.requests import RequestWrites


class Transaction(IncidentWrites, RequestWrites):
    """Mutations (and queries) inside one open transaction, all stamped with ``now``.

    Obtained from :meth:`gateway.store.Store.transaction`; not usable after its ``with``
    block. Mutations that find nothing to change return ``None`` and write nothing.
    """

    __slots__ = ()

    # -- callouts ----------------------------------------------------------------------

    def accept_callout(self, callout: NewCallout) -> Acceptance:
        """Store a validated callout, its incident (opened if new), one ``pending`` send per
        unit (due at once) and the units' timeline lines.

        Idempotent on ``callout_id``: a known id returns the stored state with
        ``created=False`` and writes nothing. Raises :class:`IncidentClosedError` for a
        callout to a closed incident.
        """
        existing = self.callout(callout.callout_id)
        if existing is not None:
            sends = tuple(self.sends_of(callout.callout_id))
            requested = sorted((u.issi, u.role) for u in callout.units)
            stored = sorted((s.issi, s.role) for s in sends)
            differs = (
                existing.incident_id != callout.incident_id
                or existing.text_sha256 != _sha256(callout.text)
                or requested != stored
            )
            return Acceptance(False, existing, sends, differs)

        incident = self.incident(callout.incident_id)
        if incident is not None and not incident.is_open:
            raise IncidentClosedError(f"incident {callout.incident_id} is closed")
        now = self.now
        if incident is None:
            self._conn.execute(
                "INSERT INTO incidents (incident_id, priority, opened_at) VALUES (?, ?, ?)",
                (callout.incident_id, callout.priority, now),
            )
        elif callout.priority is not None:
            self._conn.execute(
                "UPDATE incidents SET priority = ? WHERE incident_id = ?",
                (callout.priority, callout.incident_id),
            )
        self._conn.execute(
            "INSERT INTO callouts (callout_id, incident_id, priority, talkgroup, created_at,"
            " deadline_at, text_sha256, text_length) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                callout.callout_id,
                callout.incident_id,
                callout.priority,
                int(callout.talkgroup),
                now,
                now + callout.deadline_s,
                _sha256(callout.text),
                len(callout.text),
            ),
        )
        self._conn.execute(
            "INSERT INTO callout_texts (callout_id, text) VALUES (?, ?)",
            (callout.callout_id, callout.text),
        )
        for unit in callout.units:
            self._conn.execute(
                "INSERT INTO sends (callout_id, issi, role, updated_at) VALUES (?, ?, ?, ?)",
                (callout.callout_id, unit.issi, unit.role, now),
            )
            # First alert of the unit in this incident wins; a realert keeps the original.
            self._conn.execute(
                "INSERT INTO timeline_units (incident_id, issi, role, alerted_at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (incident_id, issi) DO NOTHING",
                (callout.incident_id, unit.issi, unit.role, now),
            )
        self.audit(
            "state_change",
            callout.callout_id,
            {
                "change": "callout_accepted",
                "incident_id": callout.incident_id,
                "priority": callout.priority,
                "units": [{"issi": u.issi, "role": u.role} for u in callout.units],
                "text_digest": audit.redact_text(callout.text),
                "talkgroup": callout.talkgroup,
                "deadline_at": now + callout.deadline_s,
                "incident_opened": incident is None,
            },
        )
        stored_callout = self.callout(callout.callout_id)
        assert stored_callout is not None
        return Acceptance(True, stored_callout, tuple(self.sends_of(callout.callout_id)))

    # -- sends -------------------------------------------------------------------------

    def record_sent(
        self, send_id: int, *, radio: str, message_refs: Sequence[int]
    ) -> SendRecord | None:
        """The radio accepted a try (``+CMGS``): ``pending`` → ``sent``, ``attempts`` + 1.
        ``None`` if the send is not pending."""
        send = self._require_send(send_id)
        if send.state != "pending":
            return None
        return self._update_send(
            send,
            "sent",
            "attempts = attempts + 1, radio = ?, message_refs = ?, next_attempt_at = NULL,"
            " sent_at = COALESCE(sent_at, ?)",
            (radio, json.dumps([int(ref) for ref in message_refs]), self.now),
            {"radio": radio, "message_refs": list(message_refs), "attempt": send.attempts + 1},
        )

    def record_retrying(
        self, send_id: int, *, reason: str, next_attempt_at: float
    ) -> SendRecord | None:
        """A try failed; another is due at ``next_attempt_at``: ``pending``/``sent`` → ``pending``.

        A try that failed before the radio took it (state still ``pending``) also counts in
        ``attempts``. ``reason`` must be a code, not free text. ``None`` if already final.
        """
        send = self._require_send(send_id)
        if send.is_final:
            return None
        bump = "attempts = attempts + 1, " if send.state == "pending" else ""
        return self._update_send(
            send,
            "pending",
            f"{bump}last_reason = ?, next_attempt_at = ?",
            (reason, next_attempt_at),
            {"reason": reason, "next_attempt_at": next_attempt_at},
        )

    def record_delivered(self, send_id: int) -> SendRecord | None:
        """The unit's terminal confirmed receipt. Accepted from ``pending`` too (a late report
        for an earlier try). ``None`` if already delivered, read or unreached — a unit ends in
        exactly one of those."""
        send = self._require_send(send_id)
        if send.is_final:
            return None
        updated = self._update_send(
            send,
            "delivered",
            "delivered_at = ?, final_at = ?, next_attempt_at = NULL",
            (self.now, self.now),
            {},
        )
        self._stamp_delivered(send)
        return updated

    def record_read(self, send_id: int) -> SendRecord | None:
        """The terminal reported the message consumed/read (implies receipt). Allowed after
        ``delivered``; ``None`` if already read or unreached."""
        send = self._require_send(send_id)
        if send.state in ("read", "unreached"):
            return None
        updated = self._update_send(
            send,
            "read",
            "read_at = ?, delivered_at = COALESCE(delivered_at, ?),"
            " final_at = COALESCE(final_at, ?), next_attempt_at = NULL",
            (self.now, self.now, self.now),
            {},
        )
        self._stamp_delivered(send)
        return updated

    def record_unreached(self, send_id: int, *, reason: str) -> SendRecord | None:
        """Deadline passed (or the engine gave up): ``pending``/``sent`` → ``unreached``.
        ``None`` if already final."""
        send = self._require_send(send_id)
        if send.is_final:
            return None
        return self._update_send(
            send,
            "unreached",
            "last_reason = ?, final_at = ?, next_attempt_at = NULL",
            (reason, self.now),
            {"reason": reason},
        )

    def _require_send(self, send_id: int) -> SendRecord:
        send = self.send(send_id)
        if send is None:
            raise UnknownRecordError(f"no send {send_id}")
        return send

    def _update_send(
        self,
        send: SendRecord,
        state: str,
        assignments: str,
        params: tuple[object, ...],
        audit_data: dict[str, Any],
    ) -> SendRecord:
        self._conn.execute(
            f"UPDATE sends SET state = ?, updated_at = ?, {assignments} WHERE send_id = ?",  # noqa: S608
            (state, self.now, *params, send.send_id),
        )
        self.audit(
            "state_change",
            send.callout_id,
            {
                "change": "send",
                "send_id": send.send_id,
                "from": send.state,
                "to": state,
                **audit_data,
            },
            issi=send.issi,
        )
        if state in FINAL_SEND_STATES:
            self._complete_callout_if_done(send.callout_id)
        updated = self.send(send.send_id)
        assert updated is not None
        return updated

    def _stamp_delivered(self, send: SendRecord) -> None:
        self._conn.execute(
            "UPDATE timeline_units SET delivered_at = ? WHERE issi = ? AND delivered_at IS NULL"
            " AND incident_id = (SELECT incident_id FROM callouts WHERE callout_id = ?)",
            (self.now, send.issi, send.callout_id),
        )

    def _complete_callout_if_done(self, callout_id: str) -> None:
        unfinished = self._conn.execute(
            "SELECT COUNT(*) FROM sends WHERE callout_id = ? AND state IN ('pending', 'sent')",
            (callout_id,),
        ).fetchone()[0]
        if unfinished:
            return
        self._conn.execute(
            "UPDATE callouts SET state = 'completed' WHERE callout_id = ? AND state = 'active'",
            (callout_id,),
        )
        # The personal data goes as soon as no radio try can need it (secure_delete zeroes it).
        erased = self._conn.execute(
            "DELETE FROM callout_texts WHERE callout_id = ?", (callout_id,)
        ).rowcount
        if erased:
            self.erased_text = True
            self.audit(
                "state_change", callout_id, {"change": "callout_completed", "text_erased": True}
            )


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
