"""What the store takes in and hands out: frozen records, no behaviour beyond small properties.

Times are epoch seconds (``float``), as given by the caller's clock; the engine formats them
with ``protocols.dispatch.format_time`` when it builds payloads.
"""

from __future__ import annotations

import functools
import json
import sqlite3
from dataclasses import dataclass, fields
from typing import Any, Final, Literal, TypeVar, cast

SendState = Literal["pending", "sent", "delivered", "read", "unreached"]
FINAL_SEND_STATES: Final[frozenset[str]] = frozenset({"delivered", "read", "unreached"})
"""A send in one of these states never goes back to the radio."""

CalloutState = Literal["active", "completed"]
TalkgroupState = Literal["none", "creating", "active", "failed", "released"]

TIMELINE_MEANINGS: Final[dict[str, str]] = {
    "acknowledged": "acknowledged_at",
    "en_route": "en_route_at",
    "on_scene": "on_scene_at",
    "mission_ended": "ended_at",
}
"""Status-table meanings that stamp a timeline field (the first such status wins)."""

ENDED_BY_DISPATCH: Final = "dispatch"
"""``ended_by`` of a unit whose mission ended because dispatch closed the incident."""


_Record = TypeVar("_Record")


@functools.cache
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cast(Any, cls)))


def from_columns(cls: type[_Record], row: sqlite3.Row, **converted: object) -> _Record:
    """A record from the row's columns of the same names as its fields; ``converted`` gives
    the fields whose column needs converting (SQLite has no bool, tuple or bytes view)."""
    names = _field_names(cast(type, cls))
    return cls(*[converted[n] if n in converted else row[n] for n in names])


class StoreError(Exception):
    """Base of the store's own refusals (nothing was written when one is raised)."""


class UnknownRecordError(StoreError, LookupError):
    """A send, callout or incident id that the store does not hold."""


class IncidentClosedError(StoreError):
    """A callout for an incident that is already closed."""


class GssiInUseError(StoreError):
    """The talk group is held by another open incident."""


@dataclass(frozen=True, slots=True)
class UnitAssignment:
    """One unit of a callout: who, in which role (free text)."""

    issi: int
    role: str


@dataclass(frozen=True, slots=True)
class NewCallout:
    """A validated callout request, as the bridge hands it to :meth:`Transaction.accept_callout`.

    ``text`` is personal data: the store keeps it only until every send is final.
    """

    callout_id: str
    incident_id: str
    units: tuple[UnitAssignment, ...]
    text: str
    deadline_s: float
    talkgroup: bool
    priority: str | None = None

    def __post_init__(self) -> None:
        issis = [unit.issi for unit in self.units]
        if not issis:
            raise ValueError("a callout needs at least one unit")
        if len(set(issis)) != len(issis):
            raise ValueError("a callout's units must have distinct ISSIs")
        if self.deadline_s <= 0:
            raise ValueError("deadline_s must be positive")


@dataclass(frozen=True, slots=True)
class CalloutRecord:
    callout_id: str
    incident_id: str
    priority: str | None
    talkgroup: bool
    created_at: float
    deadline_at: float
    text_sha256: str
    text_length: int
    state: CalloutState

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> CalloutRecord:
        return from_columns(cls, row, talkgroup=bool(row["talkgroup"]))


@dataclass(frozen=True, slots=True)
class SendRecord:
    """One unit's share of a callout.

    ``attempts`` counts tries started (a try that failed before the radio took it counts too);
    ``message_refs`` are the SDS-TL message references of the latest try (one per part of a
    concatenated text), on ``radio``. ``final_at`` is when the state became final.
    """

    send_id: int
    callout_id: str
    issi: int
    role: str
    state: SendState
    attempts: int
    next_attempt_at: float | None
    last_reason: str | None
    radio: str | None
    message_refs: tuple[int, ...]
    sent_at: float | None
    delivered_at: float | None
    read_at: float | None
    final_at: float | None
    updated_at: float

    @property
    def is_final(self) -> bool:
        return self.state in FINAL_SEND_STATES

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> SendRecord:
        return from_columns(
            cls, row, message_refs=tuple(int(ref) for ref in json.loads(row["message_refs"]))
        )


@dataclass(frozen=True, slots=True)
class Acceptance:
    """Result of :meth:`Transaction.accept_callout`.

    ``created`` is false for a callout id already known: then nothing was written and
    ``callout``/``sends`` are the stored state; ``differs`` tells whether the repeated request
    named another incident, other units or another text than the stored one.
    """

    created: bool
    callout: CalloutRecord
    sends: tuple[SendRecord, ...]
    differs: bool = False


@dataclass(frozen=True, slots=True)
class IncidentRecord:
    incident_id: str
    priority: str | None
    gssi: int | None
    talkgroup_state: TalkgroupState
    opened_at: float
    closed_at: float | None
    close_reason: str | None

    @property
    def is_open(self) -> bool:
        return self.closed_at is None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> IncidentRecord:
        return from_columns(cls, row)


@dataclass(frozen=True, slots=True)
class TimelineUnit:
    """One unit's line in the incident's documentation record (dispatch-api.md ``timeline``).

    ``alerted_at`` is when dispatch alerted the unit: the acceptance time of the first callout
    of this incident naming it. ``ended_by`` is the ISSI (as text) of the unit that sent
    ``mission_ended``, or :data:`ENDED_BY_DISPATCH`.
    """

    issi: int
    role: str
    alerted_at: float
    delivered_at: float | None
    acknowledged_at: float | None
    en_route_at: float | None
    on_scene_at: float | None
    ended_at: float | None
    ended_by: str | None
    #: When a send of this incident to the unit ended ``unreached`` while the unit had
    #: received none (``None`` once any callout of the incident was delivered to it).
    unreached_at: float | None = None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> TimelineUnit:
        return from_columns(
            cls, row, unreached_at=row["unreached_at"] if row["delivered_at"] is None else None
        )


@dataclass(frozen=True, slots=True)
class IncidentTimeline:
    """Everything the retained ``incidents/<id>/timeline`` payload needs, units by alert time."""

    incident: IncidentRecord
    units: tuple[TimelineUnit, ...]


@dataclass(frozen=True, slots=True)
class UnitStatusRecord:
    """A unit's latest status (the cache behind the retained ``units/<issi>/status``)."""

    issi: int
    value: int
    meaning: str | None
    label: str | None
    incident_id: str | None
    radio: str | None
    at: float

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> UnitStatusRecord:
        return from_columns(cls, row)


@dataclass(frozen=True, slots=True)
class StatusOutcome:
    """Result of :meth:`Transaction.record_unit_status`.

    ``incident_id`` is the open incident the status was attributed to (``None`` if the unit
    is in none); ``timeline_field`` is the timeline column it stamped, if any (so the engine
    knows to republish the timeline).
    """

    status: UnitStatusRecord
    incident_id: str | None
    timeline_field: str | None


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    """A publication waiting for the bridge's confirmation."""

    seq: int
    topic: str
    payload: bytes
    qos: int
    retain: bool
    created_at: float

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> OutboxMessage:
        return from_columns(cls, row, payload=bytes(row["payload"]), retain=bool(row["retain"]))
