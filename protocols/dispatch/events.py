"""Outbound events (gateway → dispatch) of dispatch-api.md, as pydantic models.

Every event has ``to_json() -> bytes``: compact UTF-8 JSON, field order as declared. Where
the contract shows absent fields as omitted (callout events: ``accepted`` has no ``issi``)
``None`` fields are left out; where it shows them as ``null`` (timeline, position, status)
they are kept, so that a CAD can tell "not yet" from "not sent".

The gateway builds these from its own state, so unknown fields are ignored when parsing
(a CAD reading them back may meet fields a newer gateway added).
"""

from __future__ import annotations

import json
from typing import Annotated, ClassVar, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, computed_field

from protocols.dispatch.identifiers import DispatchId, Gssi, Issi, StatusValue, Timestamp
from protocols.sds.status import MEANING_NAMES

_EVENT_CONFIG: Final = ConfigDict(frozen=True, extra="ignore")

CalloutEventKind = Literal[
    "accepted",
    "rejected",
    "sent",
    "delivered",
    "read",
    "retrying",
    "unreached",
    "talkgroup",
    "policy_warning",
]
"""The ``event`` vocabulary of ``callouts/<callout_id>/events`` and ``requests/<id>/events``."""

TalkgroupState = Literal["creating", "active", "failed", "released"]

KNOWN_MEANINGS: Final = MEANING_NAMES
"""Status meanings named by the contract; a status table may name others."""

ErrorCode = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z_]*$")]


class _Event(BaseModel):
    """Base of outbound events: compact JSON, ``None`` omitted or kept per class."""

    model_config = _EVENT_CONFIG
    _omit_none: ClassVar[bool] = False

    def to_json(self) -> bytes:
        """The MQTT payload: compact UTF-8 JSON."""
        return self.model_dump_json(exclude_none=self._omit_none).encode()


class CalloutEvent(_Event):
    """``callouts/<callout_id>/events``: one step of a callout's progress (``None`` omitted)."""

    _omit_none: ClassVar[bool] = True

    callout_id: DispatchId
    incident_id: DispatchId
    event: CalloutEventKind
    issi: Issi | None = Field(default=None, description="Absent for accepted and rejected.")
    at: Timestamp
    attempt: int | None = Field(default=None, ge=1, description="Counts tries (sent, retrying).")
    reason: str | None = Field(default=None, description="rejected, retrying, unreached, policy.")
    gssi: Gssi | None = Field(default=None, description="talkgroup events.")
    state: TalkgroupState | None = Field(default=None, description="talkgroup events.")
    attached: tuple[Issi, ...] | None = Field(
        default=None, description="talkgroup events: the ISSIs attached to the group, where known."
    )
    priority: str | None = None
    duplicate: bool | None = Field(
        default=None,
        description="accepted: true when this callout_id was already known (nothing sent again).",
    )
    unit_states: dict[str, str] | None = Field(
        default=None,
        description="accepted with duplicate: each unit's current state, keyed by ISSI.",
    )


class RequestEvent(_Event):
    """``requests/<request_id>/events``: progress of a ``units/<issi>/send`` (``None`` omitted).

    The same vocabulary as :class:`CalloutEvent` (``accepted``, ``sent``, ``delivered``, ...).
    """

    _omit_none: ClassVar[bool] = True

    request_id: DispatchId
    event: CalloutEventKind
    issi: Issi | None = None
    at: Timestamp
    attempt: int | None = Field(default=None, ge=1)
    reason: str | None = None


class UnitStatusEvent(_Event):
    """``units/<issi>/status`` (retained): a unit's latest status; ``status_hex`` is derived."""

    issi: Issi
    status: StatusValue
    meaning: str | None = Field(
        description="From the status table (e.g. "
        + ", ".join(KNOWN_MEANINGS)
        + "); null if unknown."
    )
    label: str | None = None
    incident_id: DispatchId | None = None
    at: Timestamp
    radio: str | None = Field(default=None, description="Name of the radio that received it.")

    @computed_field(description="The status as 4 upper-case hex digits.")  # type: ignore[prop-decorator]
    @property
    def status_hex(self) -> str:
        return f"{self.status:04X}"


class PositionEvent(_Event):
    """``units/<issi>/position`` (retained): latest LIP position; unknown fields are ``null``."""

    issi: Issi
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    error_m: float | None = None
    speed_kmh: float | None = None
    heading_deg: float | None = None
    reason: str | None = None
    at: Timestamp


class UnitMessageEvent(_Event):
    """``units/<issi>/messages``: free text a unit sent (dispatch only, never logged)."""

    issi: Issi
    text: str
    at: Timestamp


class TimelineUnit(_Event):
    """One unit's row in an incident timeline; ``null`` until the step happened."""

    issi: Issi
    role: str | None = None
    alerted_at: Timestamp | None = None
    delivered_at: Timestamp | None = None
    acknowledged_at: Timestamp | None = None
    en_route_at: Timestamp | None = None
    on_scene_at: Timestamp | None = None
    ended_at: Timestamp | None = None
    ended_by: str | None = Field(
        default=None, description="Who ended the mission: the unit's ISSI as text, or dispatch."
    )
    unreached_at: Timestamp | None = Field(
        default=None, description="When the unit was reported unreached (added field)."
    )


class Timeline(_Event):
    """``incidents/<incident_id>/timeline`` (retained): the documentation record."""

    incident_id: DispatchId
    priority: str | None = None
    gssi: Gssi | None = None
    opened_at: Timestamp
    closed_at: Timestamp | None = None
    units: tuple[TimelineUnit, ...] = ()


class RadioHealth(_Event):
    """One radio in a health event; ``issi`` and ``rssi_dbm`` are ``null`` until known."""

    name: str
    state: str = Field(description="e.g. up, down, connecting.")
    issi: Issi | None = None
    rssi_dbm: int | None = None


class HealthEvent(_Event):
    """``gateway/<gateway_id>/health`` (retained); the MQTT will is ``{"state": "offline"}``.

    Absent top-level fields are omitted (the will carries ``state`` only); a radio's unknown
    fields stay ``null``.
    """

    state: Literal["online", "offline"]
    version: str | None = None
    radios: tuple[RadioHealth, ...] | None = None
    outbox: int | None = Field(default=None, ge=0, description="Events waiting to be published.")

    def to_json(self) -> bytes:
        body = self.model_dump(mode="json")
        return _compact({k: v for k, v in body.items() if v is not None})


class ErrorEvent(_Event):
    """``errors``: input the gateway refused; ``detail`` names the field, never a value."""

    topic: str
    error: ErrorCode = Field(
        description="invalid_json, invalid_payload, unknown_topic, payload_too_large, ..."
    )
    detail: str


class AlarmEvent(_Event):
    """``alarms``: what dispatch must see at once, e.g. a TETRA emergency (``None`` omitted)."""

    _omit_none: ClassVar[bool] = True

    kind: str = Field(description="emergency (status 0), or another alarm name.")
    issi: Issi | None = None
    status: StatusValue | None = None
    meaning: str | None = None
    incident_id: DispatchId | None = None
    radio: str | None = None
    at: Timestamp


def _compact(body: object) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
