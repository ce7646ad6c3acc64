"""What ``tetragw demo`` shows while an incident runs: the dispatch API events folded into one
row per unit, rendered as a rich table.

:class:`DemoView` is fed ``(topic, payload)`` pairs exactly as they arrive from the broker
(every topic under ``<root>/v1/``) and keeps the latest of everything; it does no IO, so it
can be driven by recorded events in a test. Nothing of the callout text is ever shown here:
the events carry none.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Final

from pydantic import ValidationError
from rich import box
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from gateway.cmd_report import clock_time, since_alert
from protocols.dispatch import Timeline, TimelineUnit, Topics
from protocols.errors import ProtocolError

#: Delivery states in the order a callout moves through them; a later one never goes back.
_DELIVERY_ORDER: Final[dict[str, int]] = {
    "waiting": 0,
    "accepted": 1,
    "sent": 2,
    "retrying": 2,
    "delivered": 3,
    "read": 4,
    "unreached": 4,
}

_STEP_LABELS: Final[tuple[tuple[str, str], ...]] = (
    ("acknowledged_at", "ack"),
    ("en_route_at", "en route"),
    ("on_scene_at", "on scene"),
    ("ended_at", "ended"),
)


@dataclass(frozen=True, slots=True)
class DemoUnit:
    """A unit of the scripted incident."""

    issi: int
    role: str
    name: str


@dataclass
class UnitProgress:
    """Everything known about one unit, from its events."""

    unit: DemoUnit
    delivery: str = "waiting"
    attempt: int | None = None
    reason: str | None = None
    status_hex: str | None = None
    meaning: str | None = None
    label: str | None = None
    lat: float | None = None
    lon: float | None = None
    speed_kmh: float | None = None

    @property
    def unreached(self) -> bool:
        return self.delivery == "unreached"


@dataclass
class DemoView:
    """The live state of one demo incident (one callout), fed with MQTT messages."""

    topics: Topics
    callout_id: str
    incident_id: str
    units: tuple[DemoUnit, ...]
    log_size: int = 8
    progress: dict[int, UnitProgress] = field(init=False)
    gateways: dict[str, str] = field(default_factory=dict)
    talkgroup: dict[str, Any] = field(default_factory=dict)
    timeline: Timeline | None = None
    rejected: str | None = None
    log: deque[str] = field(init=False)
    _new_lines: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.progress = {unit.issi: UnitProgress(unit) for unit in self.units}
        self.log = deque(maxlen=self.log_size)

    def take_new_lines(self) -> list[str]:
        """The event lines added since the last call (for output that cannot be redrawn)."""
        lines, self._new_lines = self._new_lines, []
        return lines

    # -- feeding -------------------------------------------------------------------------

    def feed(self, topic: str, payload: bytes) -> str | None:
        """Take one message; returns a one-line description of what changed (or ``None``)."""
        try:
            levels = self.topics.relative(topic).split("/")
            body = json.loads(payload) if payload else {}
        except (ProtocolError, UnicodeDecodeError, json.JSONDecodeError):
            return None
        if not isinstance(body, dict):
            return None
        line = self._dispatch(levels, body, payload)
        if line is not None:
            self.log.append(line)
            self._new_lines.append(line)
        return line

    def _dispatch(self, levels: list[str], body: dict[str, Any], payload: bytes) -> str | None:
        match levels:
            case ["callouts", callout_id, "events"] if callout_id == self.callout_id:
                return self._callout_event(body)
            case ["units", issi_text, "status"] if _issi(issi_text) in self.progress:
                return self._status(self.progress[int(issi_text)], body)
            case ["units", issi_text, "position"] if _issi(issi_text) in self.progress:
                return self._position(self.progress[int(issi_text)], body)
            case ["incidents", incident_id, "timeline"] if incident_id == self.incident_id:
                return self._timeline(payload)
            case ["gateway", gateway_id, "health"]:
                state = str(body.get("state"))
                if self.gateways.get(gateway_id) == state:
                    return None
                self.gateways[gateway_id] = state
                return f"gateway {gateway_id} {state}"
            case ["alarms"]:
                return f"ALARM {body.get('kind')} from {body.get('issi')}"
            case ["errors"]:
                return f"error {body.get('error')}: {body.get('detail')}"
        return None

    def _callout_event(self, body: dict[str, Any]) -> str | None:
        kind = str(body.get("event"))
        if kind == "rejected":
            self.rejected = str(body.get("reason") or "rejected")
            return f"callout rejected: {self.rejected}"
        if kind == "talkgroup":
            self.talkgroup = {k: body.get(k) for k in ("gssi", "state", "attached")}
            gssi = body.get("gssi")
            return f"talk group {'' if gssi is None else f'{gssi} '}{body.get('state')}"
        if kind == "policy_warning":
            return f"policy warning: {body.get('reason')}"
        issi = body.get("issi")
        if kind == "accepted":
            for unit in self.progress.values():
                _advance(unit, "accepted")
            return "callout accepted (stored durably)"
        if not isinstance(issi, int) or issi not in self.progress:
            return None
        unit = self.progress[issi]
        _advance(unit, kind)
        if body.get("attempt") is not None:
            unit.attempt = int(body["attempt"])
        if body.get("reason") is not None:
            unit.reason = str(body["reason"])
        reason = f" ({body['reason']})" if body.get("reason") else ""
        return f"{unit.unit.name} {issi}: {kind}{reason}"

    def _status(self, unit: UnitProgress, body: dict[str, Any]) -> str:
        unit.status_hex = body.get("status_hex")
        unit.meaning = body.get("meaning")
        unit.label = body.get("label")
        shown = unit.label or unit.meaning or unit.status_hex
        return f"{unit.unit.name} {unit.unit.issi}: status {unit.status_hex} {shown}"

    def _position(self, unit: UnitProgress, body: dict[str, Any]) -> str | None:
        unit.lat, unit.lon = body.get("lat"), body.get("lon")
        unit.speed_kmh = body.get("speed_kmh")
        return None  # positions come often; the table shows them

    def _timeline(self, payload: bytes) -> str | None:
        try:
            self.timeline = Timeline.model_validate_json(payload)
        except ValidationError:
            return None
        return None

    # -- questions -----------------------------------------------------------------------

    def online(self, gateway_id: str | None = None) -> bool:
        """Whether the gateway (any gateway when ``None``) announced itself online."""
        if gateway_id is not None:
            return self.gateways.get(gateway_id) == "online"
        return "online" in self.gateways.values()

    def ended(self, issi: int) -> bool:
        """The unit's mission ended (timeline ``ended_at``) or it was unreached."""
        if self.progress[issi].unreached:
            return True
        row = self._timeline_unit(issi)
        return row is not None and row.ended_at is not None

    @property
    def finished(self) -> bool:
        """Every unit's part is over, or the callout was rejected."""
        return self.rejected is not None or all(self.ended(u.issi) for u in self.units)

    def _timeline_unit(self, issi: int) -> TimelineUnit | None:
        if self.timeline is None:
            return None
        return next((u for u in self.timeline.units if u.issi == issi), None)

    # -- rendering -----------------------------------------------------------------------

    def table(self) -> Table:
        """One row per unit: role, delivery, latest status, position, times since alert."""
        table = Table(
            title=f"Incident {self.incident_id}   callout {self.callout_id}",
            title_justify="left",
            box=box.SIMPLE_HEAD,
            collapse_padding=True,
        )
        table.add_column("unit", no_wrap=True)
        table.add_column("role", overflow="fold")
        table.add_column("delivery")
        table.add_column("status")
        table.add_column("position")
        table.add_column("times since alert")
        for progress in self.progress.values():
            unit = progress.unit
            table.add_row(
                f"{unit.name}\n{unit.issi}",
                unit.role,
                _delivery_cell(progress),
                _status_cell(progress),
                _position_cell(progress),
                self._times_cell(unit.issi),
            )
        return table

    def talkgroup_line(self) -> Text:
        if not self.talkgroup:
            return Text("talk group: -")
        attached = self.talkgroup.get("attached")
        members = f", attached {', '.join(map(str, attached))}" if attached else ""
        return Text(
            f"talk group {self.talkgroup.get('gssi')}: {self.talkgroup.get('state')}{members}"
        )

    def render(self) -> RenderableType:
        """The table, the talk group and the latest events."""
        recent = Text("\n".join(self.log), style="dim") if self.log else Text("")
        return Group(self.table(), self.talkgroup_line(), recent)

    def _times_cell(self, issi: int) -> str:
        row = self._timeline_unit(issi)
        if row is None:
            return "-"
        parts = [
            f"{label} {since_alert(getattr(row, name), row.alerted_at)}"
            for name, label in _STEP_LABELS
            if getattr(row, name) is not None
        ]
        alerted = f"alerted {clock_time(row.alerted_at)}"
        return "\n".join([alerted, *parts])


def _issi(text: str) -> int | None:
    return int(text) if text.isdigit() else None


def _advance(unit: UnitProgress, kind: str) -> None:
    """Move the delivery state forward; a final state stays (``read`` may follow ``delivered``)."""
    current = unit.delivery
    if kind not in _DELIVERY_ORDER or current in ("read", "unreached"):
        return
    if current == "delivered" and kind != "read":
        return
    if _DELIVERY_ORDER[kind] >= _DELIVERY_ORDER[current]:
        unit.delivery = kind


def _delivery_cell(unit: UnitProgress) -> Text:
    style = {"delivered": "green", "read": "green", "unreached": "bold red", "retrying": "yellow"}
    text = Text(unit.delivery, style=style.get(unit.delivery, ""))
    if unit.attempt is not None and unit.attempt > 1:
        text.append(f" (try {unit.attempt})")
    return text


def _status_cell(unit: UnitProgress) -> str:
    if unit.status_hex is None:
        return "-"
    return f"{unit.label or '?'}\n{unit.meaning or 'unknown'} ({unit.status_hex})"


def _position_cell(unit: UnitProgress) -> str:
    if unit.lat is None or unit.lon is None:
        return "-"
    speed = f"\n{unit.speed_kmh:.0f} km/h" if unit.speed_kmh is not None else ""
    return f"{unit.lat:.4f}, {unit.lon:.4f}{speed}"
