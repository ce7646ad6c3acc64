"""What units send reaches dispatch: statuses, emergencies, positions, free text, late reports.

Each radio event becomes an audit entry (``radio_indication``; free text as a digest only), the
state change in the store (the unit's status, the incident timeline) and the dispatch events
announcing it (the retained ``units/<issi>/status``, the timeline, ``alarms`` for an
emergency), all committed together. Status meanings come from the configured status table,
never from code.

Under load many events are already queued when the relay looks: :meth:`StatusRelay.run_batches`
writes a batch of them in one transaction (one ``BEGIN``/``COMMIT`` and one set of WAL pages
instead of one per event), with exactly the rows, audit entries and publications, in the same
order, that handling them one by one would write.
"""

from __future__ import annotations

import functools
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

from gateway.audit import redact_text
from gateway.callouts import CalloutEngine
from gateway.health import RadioStates
from gateway.incidents import IncidentService
from gateway.logging import get_logger
from gateway.publisher import Publisher
from gateway.store import Store, Transaction
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
    """Consumes the radio pool's merged event stream, one event or one batch at a time."""

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
        """Relay ``events`` one at a time, each in its own transaction; never raises for an
        event (a failure is logged as ``relay_event_failed`` and the next event follows)."""
        async for event in events:
            await self._handle_logged(event)

    async def run_batches(self, batches: AsyncIterator[Sequence[RadioEvent]]) -> None:
        """Relay each batch with :meth:`handle_batch` (e.g. ``RadioPool.event_batches``);
        never raises for an event."""
        async for batch in batches:
            try:
                await self.handle_batch(batch)
            except Exception as exc:  # handle_batch isolates events; this is a last guard
                _log.error("relay_batch_failed", size=len(batch), error=repr(exc))

    async def handle(self, event: RadioEvent) -> None:
        """Relay one event: its writes in a transaction of their own (none if it writes
        nothing), then what follows the commit. Raises what handling it raises."""
        for follow_up in self._write((event,)):
            await follow_up()

    async def handle_batch(self, events: Sequence[RadioEvent]) -> None:
        """Relay ``events`` as :meth:`handle` would one by one, but with the writes of all of
        them in ONE transaction (in arrival order; durable if the batch holds an emergency)
        and what follows each commit (outbox wake-up, logs, incident hooks) after it, in order.

        If writing any event raises, the whole batch is rolled back and its events are
        handled again one by one, each in its own transaction, so that one bad event loses
        no other. Never raises for an event: failures are logged as ``relay_event_failed``.
        """
        try:
            follow_ups = self._write(events)
        except Exception as exc:
            if len(events) == 1:
                _log.error("relay_event_failed", kind=type(events[0]).__name__, error=repr(exc))
                return
            _log.warning("relay_batch_rolled_back", size=len(events), error=repr(exc))
            for event in events:
                await self._handle_logged(event)
            return
        for event, follow_up in zip(events, follow_ups, strict=True):
            try:
                await follow_up()
            except Exception as exc:
                _log.error("relay_event_failed", kind=type(event).__name__, error=repr(exc))

    async def _handle_logged(self, event: RadioEvent) -> None:
        try:
            await self.handle(event)
        except Exception as exc:
            _log.error("relay_event_failed", kind=type(event).__name__, error=repr(exc))

    def _write(self, events: Sequence[RadioEvent]) -> list[_FollowUp]:
        """Write ``events`` in one transaction (if any of them writes); their follow-ups."""
        if not any(_writes(event) for event in events):
            return [self._unwritten(event) for event in events]
        # An emergency is the one indication a unit will not repeat: commit it durably (the
        # store's class docstring says what the other, ``NORMAL``, commits risk). A durable
        # commit also carries the events batched with it.
        durable = any(_is_emergency(event) for event in events)
        with self._store.transaction(self._clock(), durable=durable) as tx:
            return [self._record(tx, event) for event in events]

    def _record(self, tx: Transaction, event: RadioEvent) -> _FollowUp:
        """Write ``event``'s audit entry, state change and publications into ``tx``."""
        match event:
            case StatusReceived():
                return self._status(tx, event.radio, event.source_issi, event.value)
            case EmergencyReceived():
                return self._status(tx, event.radio, event.source_issi, 0)
            case LocationReceived():
                self._position(tx, event)
                return self._notified
            case TextReceived():
                self._text(tx, event)
                return functools.partial(self._text_relayed, event)
            case DeliveryReported() if _send_id(event) is not None:
                self._late_report(tx, event)
                return self._notified
            case LinkUp() | LinkDown():
                self._indication(tx, event.radio, type(event).__name__, {})
                return functools.partial(self._radio_changed, event)
            case GroupChanged():
                self._indication(tx, event.radio, "GroupChanged", {"fields": list(event.fields)})
                return _nothing
            case _:
                return self._unwritten(event)

    def _unwritten(self, event: RadioEvent) -> _FollowUp:
        """The follow-up of an event that writes nothing (see :func:`_writes`)."""
        if isinstance(event, SignalReport):
            return functools.partial(self._radio_changed, event)
        return _nothing

    def _status(self, tx: Transaction, radio: str, issi: int, value: int) -> _FollowUp:
        entry = self._table.lookup(value)
        meaning = entry.meaning if entry is not None else None
        label = entry.label if entry is not None else None
        if value == 0 and meaning is None:
            meaning = _EMERGENCY
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
        return functools.partial(self._status_relayed, issi, value, meaning, incident_id)

    async def _status_relayed(
        self, issi: int, value: int, meaning: str | None, incident_id: str | None
    ) -> None:
        self._notify()
        _log.info("unit_status", issi=issi, status=value, meaning=meaning, incident_id=incident_id)
        if incident_id is not None:
            self._incidents.touch(incident_id)
            if meaning == "mission_ended":
                await self._incidents.on_unit_ended(incident_id)

    def _position(self, tx: Transaction, event: LocationReceived) -> None:
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

    def _text(self, tx: Transaction, event: TextReceived) -> None:
        tx.audit(
            "radio_indication",
            f"unit:{event.source_issi}",
            {"kind": "text", "radio": event.radio, "text": redact_text(event.text)},
            issi=event.source_issi,
        )
        self._publisher.unit_message(
            tx, issi=event.source_issi, text=event.text, at=event.received_at
        )

    async def _text_relayed(self, event: TextReceived) -> None:
        self._notify()
        _log.info("unit_message", issi=event.source_issi, length=len(event.text))

    def _late_report(self, tx: Transaction, event: DeliveryReported) -> None:
        """A stage reached outside ``send_text``'s return: ``sent`` while it still waits for
        the unit's report, ``read`` after it returned ``delivered``."""
        send_id = _send_id(event)
        if send_id is None:
            return
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

    def _indication(self, tx: Transaction, radio: str, kind: str, data: dict[str, object]) -> None:
        tx.audit("radio_indication", f"radio:{radio}", {"kind": kind, "radio": radio, **data})

    async def _notified(self) -> None:
        self._notify()

    async def _radio_changed(self, event: LinkUp | LinkDown | SignalReport) -> None:
        self._radios.update(event)


#: What follows an event's commit (outbox wake-up, logs, incident hooks, radio states).
_FollowUp = Callable[[], Awaitable[None]]


async def _nothing() -> None:
    """The follow-up of an event that needs none."""


def _send_id(event: DeliveryReported) -> int | None:
    """The send a report names, if it is one of ours (our ids are decimal store ids)."""
    if event.send_id is None or not event.send_id.isdigit():
        return None
    return int(event.send_id)


def _writes(event: RadioEvent) -> bool:
    """Whether relaying ``event`` writes to the store (a signal report, or a report naming
    no send of ours, does not)."""
    if isinstance(event, SignalReport):
        return False
    if isinstance(event, DeliveryReported):
        return _send_id(event) is not None
    return True


def _is_emergency(event: RadioEvent) -> bool:
    return isinstance(event, EmergencyReceived) or (
        isinstance(event, StatusReceived) and event.value == 0
    )
