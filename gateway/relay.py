"""What units send reaches dispatch: statuses, emergencies, positions, free text, late reports.

Each radio event becomes, in one transaction, an audit entry (``radio_indication``; free text
as a digest only), the state change in the store (the unit's status, the incident timeline) and
the dispatch events announcing it (the retained ``units/<issi>/status``, the timeline, ``alarms``
for an emergency). Status meanings come from the configured status table, never from code.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable

from gateway.audit import redact_text
from gateway.callouts import CalloutEngine
from gateway.health import RadioStates
from gateway.incidents import IncidentService
from gateway.logging import get_logger
from gateway.publisher import Publisher
from gateway.store import Store
from hardware.radio_events import (
    DeliveryReported,
    EmergencyReceived,
    GroupChanged,
    LinkDown,
    LinkUp,
    LocationReceived,
    RadioEvent,
    SignalReport,
    StatusReceived,
    TextReceived,
)
from protocols.sds.status import StatusTable

_log = get_logger("tetragw.relay")

#: The meaning published for status 0 when the table has no entry for it (PEI reference §6).
_EMERGENCY = "emergency"


class StatusRelay:
    """Consumes the radio pool's merged event stream."""

    def __init__(
        self,
        *,
        store: Store,
        publisher: Publisher,
        table: StatusTable,
        callouts: CalloutEngine,
        incidents: IncidentService,
        radios: RadioStates,
        notify_outbox: Callable[[], None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._publisher = publisher
        self._table = table
        self._callouts = callouts
        self._incidents = incidents
        self._radios = radios
        self._notify = notify_outbox
        self._clock = clock

    async def run(self, events: AsyncIterator[RadioEvent]) -> None:
        async for event in events:
            try:
                await self.handle(event)
            except Exception as exc:
                _log.error("relay_event_failed", kind=type(event).__name__, error=repr(exc))

    async def handle(self, event: RadioEvent) -> None:
        match event:
            case StatusReceived():
                await self._status(event.radio, event.source_issi, event.value)
            case EmergencyReceived():
                await self._status(event.radio, event.source_issi, 0)
            case LocationReceived():
                self._position(event)
            case TextReceived():
                self._text(event)
            case DeliveryReported():
                self._late_report(event)
            case SignalReport():
                self._radios.update(event)
            case LinkUp() | LinkDown():
                self._radios.update(event)
                self._indication(event.radio, type(event).__name__, {})
            case GroupChanged():
                self._indication(event.radio, "GroupChanged", {"fields": list(event.fields)})

    async def _status(self, radio: str, issi: int, value: int) -> None:
        entry = self._table.lookup(value)
        meaning = entry.meaning if entry is not None else None
        label = entry.label if entry is not None else None
        if value == 0 and meaning is None:
            meaning = _EMERGENCY
        # An emergency is the one indication a unit will not repeat: commit it durably (the
        # store's class docstring says what the other, ``NORMAL``, commits risk).
        with self._store.transaction(self._clock(), durable=value == 0) as tx:
            tx.audit(
                "radio_indication",
                f"unit:{issi}",
                {"kind": "status", "radio": radio, "value": value, "meaning": meaning},
                issi=issi,
            )
            outcome = tx.record_unit_status(issi, value, meaning=meaning, label=label, radio=radio)
            incident_id = outcome.incident_id
            self._publisher.unit_status(
                tx,
                issi=issi,
                value=value,
                meaning=meaning,
                label=label,
                incident_id=incident_id,
                radio=radio,
            )
            if value == 0:
                self._publisher.alarm(
                    tx,
                    kind=_EMERGENCY,
                    issi=issi,
                    status=value,
                    meaning=meaning,
                    incident_id=incident_id,
                    radio=radio,
                )
            if outcome.timeline_field is not None and incident_id is not None:
                self._publisher.timeline_of(tx, incident_id)
        self._notify()
        _log.info("unit_status", issi=issi, status=value, meaning=meaning, incident_id=incident_id)
        if incident_id is not None:
            self._incidents.touch(incident_id)
            if meaning == "mission_ended":
                await self._incidents.on_unit_ended(incident_id)

    def _position(self, event: LocationReceived) -> None:
        with self._store.transaction(self._clock()) as tx:
            tx.audit(
                "radio_indication",
                f"unit:{event.source_issi}",
                {"kind": "position", "radio": event.radio, "reason": event.reason},
                issi=event.source_issi,
            )
            self._publisher.position(
                tx,
                issi=event.source_issi,
                lat=event.lat,
                lon=event.lon,
                error_m=event.position_error_m,
                speed_kmh=event.velocity_kmh,
                heading_deg=event.direction_deg,
                reason=event.reason,
                at=event.received_at,
            )
        self._notify()

    def _text(self, event: TextReceived) -> None:
        with self._store.transaction(self._clock()) as tx:
            tx.audit(
                "radio_indication",
                f"unit:{event.source_issi}",
                {"kind": "text", "radio": event.radio, "text": redact_text(event.text)},
                issi=event.source_issi,
            )
            self._publisher.unit_message(
                tx, issi=event.source_issi, text=event.text, at=event.received_at
            )
        self._notify()
        _log.info("unit_message", issi=event.source_issi, length=len(event.text))

    def _late_report(self, event: DeliveryReported) -> None:
        """A stage reached outside ``send_text``'s return: ``sent`` while it still waits for
        the unit's report, ``read`` after it returned ``delivered``."""
        if event.send_id is None or not event.send_id.isdigit():
            return
        send_id = int(event.send_id)
        with self._store.transaction(self._clock()) as tx:
            tx.audit(
                "radio_indication",
                f"unit:{event.destination_issi}",
                {"kind": "delivery_report", "radio": event.radio, "stage": event.stage},
                issi=event.destination_issi,
            )
            if event.stage == "sent":
                self._callouts.sent(
                    tx, send_id, radio=event.radio, message_refs=event.message_references
                )
            elif event.stage in ("delivered", "read"):
                self._callouts.delivered(tx, send_id, read=event.stage == "read")
        self._notify()

    def _indication(self, radio: str, kind: str, data: dict[str, object]) -> None:
        with self._store.transaction(self._clock()) as tx:
            tx.audit("radio_indication", f"radio:{radio}", {"kind": kind, "radio": radio, **data})
