"""The gateway's health: radio states from link and signal events, and the retained payload."""

from __future__ import annotations

import json

from gateway.health import RadioStates, health_payload
from hardware.radio_events import LinkDown, LinkUp, SignalReport
from protocols.dispatch import HealthEvent

T0 = 1_800_000_000.0


def test_configured_radios_start_connecting_with_nothing_known() -> None:
    states = RadioStates(["gw1", "gw2"])
    assert [(r.name, r.state, r.issi, r.rssi_dbm) for r in states.health()] == [
        ("gw1", "connecting", None, None),
        ("gw2", "connecting", None, None),
    ]
    assert states.up() == []


def test_link_changes_are_followed_and_announced_once_per_change() -> None:
    changes: list[int] = []
    states = RadioStates(["gw1", "gw2"], on_change=lambda: changes.append(1))

    states.update(LinkUp("gw1", 2049001, T0))
    states.update(LinkUp("gw1", 2049001, T0))  # no change: nothing to announce
    states.update(LinkUp("gw2", 2049002, T0))
    states.update(LinkDown("gw1", "rebooted", T0))

    assert len(changes) == 3
    assert states.up() == ["gw2"]
    assert [(r.name, r.state) for r in states.health()] == [("gw1", "down"), ("gw2", "up")]


def test_signal_reports_update_rssi_without_announcing_a_change() -> None:
    changes: list[int] = []
    states = RadioStates(["gw1"], on_change=lambda: changes.append(1))
    states.update(SignalReport("gw1", 20, -73, T0))
    states.update(SignalReport("gw1", 99, None, T0))
    states.update(SignalReport("gw1", 25, -63, T0))

    assert changes == []
    assert states.health()[0].rssi_dbm == -63


def test_identity_is_kept_when_a_reconnect_does_not_report_it() -> None:
    states = RadioStates(["gw1"])
    states.update(LinkUp("gw1", 2049001, T0))
    states.update(LinkDown("gw1", "line_dropped", T0))
    states.update(LinkUp("gw1", None, T0))
    assert (states.health()[0].state, states.health()[0].issi) == ("up", 2049001)


def test_events_of_an_unconfigured_radio_add_it() -> None:
    states = RadioStates(["gw1"])
    states.update(LinkUp("spare", 2049009, T0))
    assert [r.name for r in states.health()] == ["gw1", "spare"]
    assert states.up() == ["spare"]


def test_health_payload_is_the_contract_online_event() -> None:
    states = RadioStates(["gw1", "gw2"])
    states.update(LinkUp("gw1", 2049001, T0))
    states.update(SignalReport("gw1", 20, -71, T0))

    payload = health_payload("1.2.3", states, outbox=4)

    assert json.loads(payload) == {
        "state": "online",
        "version": "1.2.3",
        "radios": [
            {"name": "gw1", "state": "up", "issi": 2049001, "rssi_dbm": -71},
            {"name": "gw2", "state": "connecting", "issi": None, "rssi_dbm": None},
        ],
        "outbox": 4,
    }
    assert HealthEvent.model_validate_json(payload).state == "online"
