"""Outbound dispatch events, written into the store's outbox inside the caller's transaction.

Every publication goes through the outbox (architecture.md: "the outbox publishes the unit
status, the timeline and the audit entry"), so a state change and the events that announce it
commit together; the MQTT bridge's pump delivers them after the commit, in order, and again
after a crash. Nothing here holds personal data except :meth:`unit_message`, whose row the store
deletes once the broker has acknowledged it.
"""

from __future__ import annotations

from typing import Any

from gateway.store import IncidentTimeline, Transaction
from protocols.dispatch import (
    AlarmEvent,
    CalloutEvent,
    CalloutEventKind,
    ErrorEvent,
    PositionEvent,
    RequestEvent,
    Timeline,
    TimelineUnit,
    Topics,
    UnitMessageEvent,
    UnitStatusEvent,
    format_time,
)


def _time(value: float | None) -> str | None:
    return None if value is None else format_time(value)


def timeline_event(record: IncidentTimeline) -> Timeline:
    """The retained ``incidents/<id>/timeline`` event for a stored timeline."""
    incident = record.incident
    return Timeline(
        incident_id=incident.incident_id,
        priority=incident.priority,
        gssi=incident.gssi,
        opened_at=format_time(incident.opened_at),
        closed_at=_time(incident.closed_at),
        units=tuple(
            TimelineUnit(
                issi=unit.issi,
                role=unit.role,
                alerted_at=_time(unit.alerted_at),
                delivered_at=_time(unit.delivered_at),
                acknowledged_at=_time(unit.acknowledged_at),
                en_route_at=_time(unit.en_route_at),
                on_scene_at=_time(unit.on_scene_at),
                ended_at=_time(unit.ended_at),
                ended_by=unit.ended_by,
                unreached_at=_time(unit.unreached_at),
            )
            for unit in record.units
        ),
    )


class Publisher:
    """Builds each dispatch-api.md event and stores it in the outbox of a transaction."""

    def __init__(self, topics: Topics) -> None:
        self.topics = topics

    def callout_event(
        self,
        tx: Transaction,
        *,
        callout_id: str,
        incident_id: str,
        event: CalloutEventKind,
        **fields: Any,
    ) -> None:
        body = CalloutEvent(
            callout_id=callout_id,
            incident_id=incident_id,
            event=event,
            at=format_time(tx.now),
            **fields,
        )
        tx.publish(self.topics.callout_events(callout_id), body.to_json())

    def request_event(
        self, tx: Transaction, *, request_id: str, event: CalloutEventKind, **fields: Any
    ) -> None:
        body = RequestEvent(request_id=request_id, event=event, at=format_time(tx.now), **fields)
        tx.publish(self.topics.request_events(request_id), body.to_json())

    def unit_status(
        self,
        tx: Transaction,
        *,
        issi: int,
        value: int,
        meaning: str | None,
        label: str | None,
        incident_id: str | None,
        radio: str | None,
    ) -> None:
        body = UnitStatusEvent(
            issi=issi,
            status=value,
            meaning=meaning,
            label=label,
            incident_id=incident_id,
            at=format_time(tx.now),
            radio=radio,
        )
        # Every status is an event for dispatch (en route, on scene...): none may be
        # superseded in the outbox by a later one while the broker is away.
        tx.publish(self.topics.unit_status(issi), body.to_json(), retain=True, supersede=False)

    def alarm(
        self,
        tx: Transaction,
        *,
        kind: str,
        issi: int,
        status: int | None,
        meaning: str | None,
        incident_id: str | None,
        radio: str | None,
    ) -> None:
        body = AlarmEvent(
            kind=kind,
            issi=issi,
            status=status,
            meaning=meaning,
            incident_id=incident_id,
            radio=radio,
            at=format_time(tx.now),
        )
        tx.publish(self.topics.alarms(), body.to_json())

    def position(
        self,
        tx: Transaction,
        *,
        issi: int,
        lat: float,
        lon: float,
        error_m: float | None,
        speed_kmh: float | None,
        heading_deg: float | None,
        reason: str | None,
        at: float,
    ) -> None:
        body = PositionEvent(
            issi=issi,
            lat=lat,
            lon=lon,
            error_m=error_m,
            speed_kmh=speed_kmh,
            heading_deg=heading_deg,
            reason=reason,
            at=format_time(at),
        )
        tx.publish(self.topics.unit_position(issi), body.to_json(), retain=True)

    def unit_message(self, tx: Transaction, *, issi: int, text: str, at: float) -> None:
        """Free text from a unit: personal data, delivered to dispatch only (never logged)."""
        body = UnitMessageEvent(issi=issi, text=text, at=format_time(at))
        tx.publish(self.topics.unit_messages(issi), body.to_json())

    def timeline(self, tx: Transaction, record: IncidentTimeline) -> None:
        body = timeline_event(record)
        tx.publish(self.topics.incident_timeline(body.incident_id), body.to_json(), retain=True)

    def timeline_of(self, tx: Transaction, incident_id: str) -> None:
        """Republish the retained timeline of ``incident_id`` as the store holds it now."""
        record = tx.timeline(incident_id)
        if record is not None:
            self.timeline(tx, record)

    def error(self, tx: Transaction, *, topic: str, error: str, detail: str) -> None:
        body = ErrorEvent(topic=topic, error=error, detail=detail)
        tx.publish(self.topics.errors(), body.to_json())
