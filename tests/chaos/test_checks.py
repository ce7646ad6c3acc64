"""The checks of the chaos suite catch what they are meant to catch (pure, no processes)."""

from __future__ import annotations

import itertools
import json
from typing import Any

from tests.chaos.checks import (
    CalloutRecord,
    ChaosFindings,
    FaultRecord,
    ProbeRecord,
    check_finals,
    check_statuses,
    check_talkgroups,
    check_unit_duplicates,
    longest_covered,
)
from tests.chaos.dispatch import ROOT, Event
from tests.chaos.plan import ChaosOptions, draw_plan

CALLOUT = CalloutRecord("C-1", (101, 102), published_at=1000.0, deadline_s=45.0)


def _event(topic: str, at: float, retain: bool = False, **payload: Any) -> Event:
    raw = json.dumps(payload, sort_keys=True).encode()
    return Event(ROOT + topic, payload, raw, retain, at)


def _final(event: str, issi: int, at: float, stamp: str = "t1", **extra: Any) -> Event:
    return _event(
        "callouts/C-1/events", at, callout_id="C-1", event=event, issi=issi, at_=stamp, **extra
    )


ACCEPTED = _event("callouts/C-1/events", 1000.1, callout_id="C-1", event="accepted")


def test_unit_without_final_event_counts_as_lost() -> None:
    findings = ChaosFindings()
    check_finals(findings, [CALLOUT], [ACCEPTED, _final("delivered", 101, 1001)], {}, 15)
    assert findings.lost == 1
    assert not findings.ok


def test_identical_redelivered_final_counts_once() -> None:
    findings = ChaosFindings()
    events = [ACCEPTED, *[_final("delivered", 101, 1001)] * 2, _final("unreached", 102, 1046)]
    check_finals(findings, [CALLOUT], events, {102: [(990.0, 1040.0)]}, 15)
    assert findings.mqtt_redeliveries == 1
    assert findings.ok, findings.failures


def test_two_different_finals_for_one_unit_fail() -> None:
    findings = ChaosFindings()
    events = [
        ACCEPTED,
        _final("delivered", 101, 1001),
        _final("delivered", 101, 1002, stamp="t2"),
        _final("delivered", 102, 1001),
    ]
    check_finals(findings, [CALLOUT], events, {}, 15)
    assert findings.double_finals == 1
    assert not findings.ok


def test_unreached_unit_that_stayed_in_coverage_fails() -> None:
    findings = ChaosFindings()
    events = [ACCEPTED, _final("delivered", 101, 1001), _final("unreached", 102, 1046)]
    check_finals(findings, [CALLOUT], events, {102: [(1000.0, 1005.0)]}, 15)
    assert findings.unreached == 1
    assert findings.unreached_excused == 0
    assert not findings.ok


def test_longest_covered_stretch_skips_gaps() -> None:
    assert longest_covered((0, 45), [(10, 20), (30, 35)]) == 10
    assert longest_covered((0, 45), []) == 45
    assert longest_covered((0, 45), [(-5, 50)]) == 0


def test_duplicate_at_unit_is_explained_only_by_a_fault_in_between() -> None:
    text = {"kind": "text", "text": "Chaos C-1. Hjertestans."}
    inboxes = {101: [{**text, "time": 1001.0}, {**text, "time": 1010.0}]}
    kill = FaultRecord("gateway_kill", "", 1005.0, 1008.0)
    explained = ChaosFindings()
    check_unit_duplicates(explained, [CALLOUT], inboxes, [kill])
    unexplained = ChaosFindings()
    check_unit_duplicates(unexplained, [CALLOUT], inboxes, [])
    assert explained.unit_duplicates == unexplained.unit_duplicates == 1
    assert explained.ok
    assert unexplained.unit_duplicates_unexplained == 1


def test_statuses_lost_or_reordered_fail_unless_the_line_was_dead() -> None:
    probes = [ProbeRecord(101, 0xA000, 1000.0), ProbeRecord(101, 0xA001, 1010.0)]
    reordered = [
        _event("units/101/status", 1011.0, issi=101, status=0xA001),
        _event("units/101/status", 1012.0, issi=101, status=0xA000),
    ]
    findings = ChaosFindings()
    check_statuses(findings, probes, reordered, [])
    assert findings.statuses_out_of_order == 1
    only_second = [_event("units/101/status", 1011.0, issi=101, status=0xA001)]
    lost = ChaosFindings()
    check_statuses(lost, probes, only_second, [])
    assert lost.statuses_lost == 1
    excused = ChaosFindings()
    check_statuses(excused, probes, only_second, [FaultRecord("gateway_kill", "", 999.0, 1001.0)])
    assert excused.statuses_exposed_lost == 1
    assert excused.ok
    held_back = ChaosFindings()
    check_statuses(
        held_back, probes, reordered, [FaultRecord("radio_reboot", "gw1", 999.0, 1001.0)]
    )
    assert held_back.statuses_out_of_order == 0  # the first was sent while its radio was off
    assert held_back.ok


def test_a_status_held_by_a_coverage_gap_is_exposed_when_the_gap_ends() -> None:
    # Seed 7, scaled down: the unit sent during its own coverage gap (1000-1035); the status
    # reached its radio when coverage returned, while that radio's line was cut (1033.4-1034.7).
    probe = ProbeRecord(101, 0xA149, 1001.8)
    gap = FaultRecord("unit_coverage", "101", 1000.0, 1035.0)
    cut = FaultRecord("radio_disconnect", "gw2", 1033.4, 1034.7)
    excused = ChaosFindings()
    check_statuses(excused, [probe], [], [gap, cut])
    assert excused.statuses_exposed_lost == 1
    assert excused.ok
    # Another unit's gap, or a gap with no dead line at either end, excuses nothing.
    for faults in ([FaultRecord("unit_coverage", "102", 1000.0, 1035.0), cut], [gap]):
        lost = ChaosFindings()
        check_statuses(lost, [probe], [], faults)
        assert lost.statuses_lost == 1
        assert not lost.ok


def test_plan_is_the_same_for_the_same_seed_and_spaces_disruptive_faults() -> None:
    options = ChaosOptions(callouts=200, seed=7)
    plan = draw_plan(options)
    assert plan == draw_plan(options)
    assert len(plan.callouts) == 200
    disruptive = [f.at_s for f in plan.faults if f.kind in ("gateway_kill", "broker_restart")]
    assert all(b - a >= 15.0 for a, b in itertools.pairwise(disruptive))
    assert len({p.value for p in plan.probes}) == len(plan.probes)


def _group(callout_id: str, state: str, gssi: int | None, at: float) -> Event:
    return _event(
        f"callouts/{callout_id}/events",
        at,
        callout_id=callout_id,
        event="talkgroup",
        state=state,
        gssi=gssi,
    )


def test_a_closed_incidents_group_never_released_fails() -> None:
    events = [
        _group("C-1", "creating", None, 1000.0),
        _group("C-1", "active", 9001, 1000.1),
        _group("C-2", "creating", None, 1000.2),
        _group("C-2", "active", 9002, 1000.3),
        _group("C-2", "released", 9002, 1030.0),
        _group("C-3", "active", 9003, 1000.4),  # open: keeps its group
    ]
    findings = ChaosFindings()
    check_talkgroups(findings, {"C-1", "C-2"}, events, network_gssis=[9001, 9003])
    assert (findings.talkgroups, findings.talkgroups_closed, findings.talkgroups_left) == (3, 2, 1)
    assert findings.talkgroups_stray == 0
    assert findings.failures == [
        "C-1: incident closed, its group 9001 never released (still held by the DGNA service)"
    ]

    released = [*events, _group("C-1", "released", 9001, 1040.0)]
    findings = ChaosFindings()
    check_talkgroups(findings, {"C-1", "C-2"}, released, network_gssis=[9003])
    assert findings.ok, findings.failures


def test_a_group_the_service_holds_for_no_open_incident_fails() -> None:
    events = [_group("C-1", "active", 9001, 1000.0), _group("C-1", "released", 9001, 1030.0)]
    findings = ChaosFindings()
    # 9001 released but still on the network; 9005 never announced (a create cut off).
    check_talkgroups(findings, {"C-1"}, events, network_gssis=[9001, 9005])
    assert findings.talkgroups_stray == 2
    assert not findings.ok
