"""The checks of a chaos run, as pure functions over what dispatch and the emulator recorded.

Dedupe rule (MQTT QoS 1 is at-least-once): two messages on the same topic with byte-identical
payloads are ONE event. A gateway killed between publishing an outbox row and marking it
published sends the same row (same ``at``) again after restart: that counts once. Two final
events that differ in any byte (another ``at``, another ``event``) are two finals: a failure.

Times are wall-clock seconds (``time.time()``), as the emulator's inbox records them.
"""

from __future__ import annotations

import itertools
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from tests.chaos.dispatch import ROOT, Event

FINAL_DELIVERED = frozenset({"delivered", "read"})
#: Faults during which a duplicate at a unit is expected (a send in flight was forgotten).
DUPLICATE_CAUSES = frozenset({"gateway_kill", "radio_reboot", "radio_disconnect", "drop_reports"})
#: Faults during which a unit's status may be lost on the way (nobody reads the line).
#: Faults during which a unit's status can be lost or delayed before the gateway sees it: nobody
#: reads the radio (kill, disconnect), or the radio itself is off (reboot: what it held is
#: gone, and the network retries the unit's status later, after statuses the unit sent next).
STATUS_LOSS_CAUSES = frozenset({"gateway_kill", "radio_disconnect", "radio_reboot"})
_DUPLICATE_MARGIN_S = 2.0
_STATUS_MARGIN_BEFORE_S = 2.0
_STATUS_MARGIN_AFTER_S = 12.0  # the unit re-sends for status_retries * status_retry_s


@dataclass(frozen=True, slots=True)
class CalloutRecord:
    callout_id: str
    issis: tuple[int, ...]
    published_at: float
    deadline_s: float


@dataclass(frozen=True, slots=True)
class FaultRecord:
    kind: str
    target: str
    start: float
    end: float


@dataclass(frozen=True, slots=True)
class ProbeRecord:
    issi: int
    value: int
    sent_at: float


@dataclass
class ChaosFindings:
    """Figures and failures of one run; ``ok`` when no check failed."""

    callouts: int = 0
    unit_sends: int = 0
    accepted: int = 0
    delivered: int = 0
    unreached: int = 0
    unreached_excused: int = 0
    lost: int = 0
    double_finals: int = 0
    mqtt_redeliveries: int = 0
    unit_duplicates: int = 0
    unit_duplicates_unexplained: int = 0
    statuses_sent: int = 0
    statuses_received: int = 0
    statuses_exposed_lost: int = 0
    statuses_lost: int = 0
    statuses_out_of_order: int = 0
    talkgroups: int = 0
    talkgroups_closed: int = 0
    talkgroups_left: int = 0
    talkgroups_stray: int = 0
    latencies_s: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures

    def percentile(self, q: float) -> float | None:
        if not self.latencies_s:
            return None
        if len(self.latencies_s) == 1:
            return self.latencies_s[0]
        return statistics.quantiles(self.latencies_s, n=100, method="inclusive")[int(q) - 1]

    def fail(self, message: str, limit: int = 40) -> None:
        if len(self.failures) < limit:
            self.failures.append(message)
        elif len(self.failures) == limit:
            self.failures.append("... (more failures not listed)")


def distinct(events: Iterable[Event]) -> tuple[list[Event], int]:
    """Live messages with identical (topic, payload) merged; and how many were merged away."""
    seen: set[tuple[str, bytes]] = set()
    out: list[Event] = []
    merged = 0
    for event in events:
        if event.retain:
            continue
        key = (event.topic, event.raw)
        if key in seen:
            merged += 1
            continue
        seen.add(key)
        out.append(event)
    return out, merged


def check_finals(
    findings: ChaosFindings,
    callouts: Sequence[CalloutRecord],
    events: Sequence[Event],
    coverage_gaps: dict[int, list[tuple[float, float]]],
    slack_s: float,
) -> None:
    """Every unit of every callout: exactly one final; no unreached unit that was reachable."""
    by_callout: dict[str, list[Event]] = defaultdict(list)
    unique, findings.mqtt_redeliveries = distinct(events)
    for event in unique:
        if event.topic.startswith(ROOT + "callouts/") and event.topic.endswith("/events"):
            by_callout[event.topic.split("/")[3]].append(event)
    for callout in callouts:
        findings.callouts += 1
        findings.unit_sends += len(callout.issis)
        got = by_callout.get(callout.callout_id, [])
        if not any(e.payload.get("event") == "accepted" for e in got):
            findings.fail(f"{callout.callout_id}: never accepted")
        else:
            findings.accepted += 1
        for issi in callout.issis:
            _check_unit_final(findings, callout, issi, got, coverage_gaps.get(issi, []), slack_s)


def _check_unit_final(
    findings: ChaosFindings,
    callout: CalloutRecord,
    issi: int,
    got: list[Event],
    gaps: list[tuple[float, float]],
    slack_s: float,
) -> None:
    mine = [e for e in got if e.payload.get("issi") == issi]
    delivered = [e for e in mine if e.payload.get("event") == "delivered"]
    reads = [e for e in mine if e.payload.get("event") == "read"]
    unreached = [e for e in mine if e.payload.get("event") == "unreached"]
    where = f"{callout.callout_id}/{issi}"
    finals = len(delivered) + len(unreached) + (1 if reads and not delivered else 0)
    if finals == 0:
        findings.lost += 1
        findings.fail(f"{where}: no final event (lost)")
        return
    if finals > 1 or len(reads) > 1:
        findings.double_finals += 1
        kinds = [e.payload.get("event") for e in mine]
        findings.fail(f"{where}: more than one final event: {kinds}")
    if delivered or reads:
        findings.delivered += 1
        first = min(e.at for e in delivered or reads)
        findings.latencies_s.append(first - callout.published_at)
        return
    findings.unreached += 1
    window = (callout.published_at, callout.published_at + callout.deadline_s)
    stretch = longest_covered(window, gaps)
    if stretch >= callout.deadline_s - slack_s:
        reason = unreached[0].payload.get("reason")
        findings.fail(
            f"{where}: unreached ({reason}) though in coverage for {stretch:.0f} s "
            f"of its {callout.deadline_s:.0f} s deadline"
        )
    else:
        findings.unreached_excused += 1


def longest_covered(window: tuple[float, float], gaps: Sequence[tuple[float, float]]) -> float:
    """The longest stretch of ``window`` that no coverage gap overlaps (seconds)."""
    start, end = window
    cursor, best = start, 0.0
    for gap_start, gap_end in sorted(gaps):
        if gap_end <= cursor or gap_start >= end:
            continue
        best = max(best, gap_start - cursor)
        cursor = max(cursor, gap_end)
    return max(best, end - cursor)


def check_unit_duplicates(
    findings: ChaosFindings,
    callouts: Sequence[CalloutRecord],
    inboxes: dict[int, list[dict[str, Any]]],
    faults: Sequence[FaultRecord],
) -> None:
    """A unit receives a callout twice only when a fault made the gateway forget a send."""
    causes = [f for f in faults if f.kind in DUPLICATE_CAUSES]
    for callout in callouts:
        for issi in callout.issis:
            times = sorted(
                float(entry["time"])
                for entry in inboxes.get(issi, [])
                if entry.get("kind") == "text" and callout.callout_id in str(entry.get("text"))
            )
            for first, again in itertools.pairwise(times):
                findings.unit_duplicates += 1
                explained = any(
                    f.start - _DUPLICATE_MARGIN_S <= again and f.end >= first - _DUPLICATE_MARGIN_S
                    for f in causes
                )
                if not explained:
                    findings.unit_duplicates_unexplained += 1
                    findings.fail(
                        f"{callout.callout_id}/{issi}: received again {again - first:.1f} s "
                        "later with no fault in between"
                    )


def status_exposed(probe: ProbeRecord, faults: Sequence[FaultRecord]) -> bool:
    """True when a fault could lose ``probe`` (nobody read the radio) when it was sent, or when
    it left the unit: a unit out of coverage holds what it sends until coverage returns, so a
    status sent in a coverage gap reaches its radio at the gap's end."""
    moments = [probe.sent_at]
    moments.extend(
        f.end
        for f in faults
        if f.kind == "unit_coverage"
        and f.target == str(probe.issi)
        and f.start <= probe.sent_at <= f.end
    )
    return any(
        f.kind in STATUS_LOSS_CAUSES
        and f.start - _STATUS_MARGIN_BEFORE_S <= at <= f.end + _STATUS_MARGIN_AFTER_S
        for f in faults
        for at in moments
    )


def _nearest_fault(at: float, faults: Sequence[FaultRecord]) -> str:
    """Where ``at`` lies against the closest fault of any kind, to tell a loss's cause."""
    if not faults:
        return ""
    fault = min(
        faults,
        key=lambda f: 0.0 if f.start <= at <= f.end else min(abs(at - f.start), abs(at - f.end)),
    )
    return (
        f" (sent {at - fault.start:+.1f} s from the start of {fault.kind} on {fault.target},"
        f" which lasted {fault.end - fault.start:.1f} s)"
    )


def check_statuses(
    findings: ChaosFindings,
    probes: Sequence[ProbeRecord],
    events: Sequence[Event],
    faults: Sequence[FaultRecord],
) -> None:
    """Every status a unit sent reaches dispatch, in the order sent (per unit)."""
    unique, _ = distinct(events)
    arrived: dict[int, list[int]] = defaultdict(list)
    for event in unique:
        if event.topic.startswith(ROOT + "units/") and event.topic.endswith("/status"):
            issi, value = event.payload.get("issi"), event.payload.get("status")
            if isinstance(issi, int) and isinstance(value, int):
                arrived[issi].append(value)
    findings.statuses_sent = len(probes)
    order: dict[int, list[int]] = defaultdict(list)
    for probe in probes:
        values = arrived.get(probe.issi, [])
        if probe.value in values:
            findings.statuses_received += 1
            if values.count(probe.value) > 1:
                findings.fail(f"status {probe.value:#x} of {probe.issi} published twice")
            # A status held back by the network during a fault may arrive after later ones;
            # the order of every other status is the gateway's to keep.
            if not status_exposed(probe, faults):
                order[probe.issi].append(values.index(probe.value))
            continue
        if status_exposed(probe, faults):
            findings.statuses_exposed_lost += 1
        else:
            findings.statuses_lost += 1
            findings.fail(
                f"status {probe.value:#x} of unit {probe.issi} never reached dispatch"
                f"{_nearest_fault(probe.sent_at, faults)}"
            )
    for issi, positions in order.items():
        if positions != sorted(positions):
            findings.statuses_out_of_order += 1
            findings.fail(f"statuses of unit {issi} reached dispatch out of order")


def talkgroups_left(closed: Iterable[str], events: Sequence[Event]) -> dict[str, int]:
    """The groups of ``closed`` callouts' incidents never announced ``released``: callout id
    → GSSI. One callout per incident, as the chaos plan has (a release is announced on the
    incident's latest callout)."""
    active, released = _talkgroup_states(events)
    return _left(set(closed), active, released)


def _left(closed: set[str], active: dict[str, int], released: set[str]) -> dict[str, int]:
    return {c: gssi for c, gssi in active.items() if c in closed and c not in released}


def _talkgroup_states(events: Sequence[Event]) -> tuple[dict[str, int], set[str]]:
    """Per callout id: the GSSI announced ``active``; and the callouts announced ``released``."""
    active: dict[str, int] = {}
    released: set[str] = set()
    for event in events:
        topic = event.topic
        if not (topic.startswith(ROOT + "callouts/") and topic.endswith("/events")):
            continue
        payload = event.payload
        if payload.get("event") != "talkgroup":
            continue
        callout_id = topic.split("/")[3]
        if payload.get("state") == "active" and isinstance(payload.get("gssi"), int):
            active[callout_id] = int(payload["gssi"])
        elif payload.get("state") == "released":
            released.add(callout_id)
    return active, released


def check_talkgroups(
    findings: ChaosFindings,
    closed: Iterable[str],
    events: Sequence[Event],
    network_gssis: Iterable[int],
) -> None:
    """Every group of an incident dispatch closed is released (announced), whatever faults
    hit the gateway between the close and the release; and the DGNA service, whose groups
    are ``network_gssis`` at the end, holds none that no open incident holds."""
    closed = set(closed)
    active, released = _talkgroup_states(events)
    left = _left(closed, active, released)
    findings.talkgroups = len(active)
    findings.talkgroups_closed = sum(1 for c in active if c in closed)
    findings.talkgroups_left = len(left)
    on_network = set(network_gssis)
    for callout_id, gssi in sorted(left.items()):
        where = "still held by the DGNA service" if gssi in on_network else "not on the network"
        findings.fail(f"{callout_id}: incident closed, its group {gssi} never released ({where})")
    # Groups the service holds for no open incident, e.g. one the gateway created but never
    # recorded (killed during the create): taken until its lifetime ends.
    held_open = {g for c, g in active.items() if c not in closed and c not in released}
    stray = sorted(on_network - held_open - set(left.values()))
    findings.talkgroups_stray = len(stray)
    if stray:
        findings.fail(f"groups held by the DGNA service for no open incident: {stray}")
