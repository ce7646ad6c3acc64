"""A three-unit incident end to end: real Mosquitto, the emulator and the gateway as processes."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.integration.mosquitto import MosquittoBroker
from tests.integration.system import Dispatch, EmulatorProcess, GatewayProcess

pytestmark = pytest.mark.integration

UNITS = [
    {"issi": 2040101, "role": "ambulance"},
    {"issi": 2040102, "role": "first_responder"},
    {"issi": 2040103, "role": "first_responder"},
]
#: Unique per run: on a machine running several suites at once, a pty path freed by one
#: emulator can be taken by another, and another suite's gateway could write to it.
TEXT = f"Hjertestans. Storgata 1, Oslo. Mann 67 år. {uuid.uuid4().hex[:8]}"


@pytest.fixture
async def system(
    tmp_path: Path, mosquitto: MosquittoBroker
) -> AsyncIterator[tuple[Dispatch, EmulatorProcess, GatewayProcess]]:
    emulator = EmulatorProcess(tmp_path, "--radios", "2", "--units", "2040101-2040104")
    emulator.start()
    gateway = GatewayProcess(
        tmp_path,
        broker_url=mosquitto.url,
        radios=[emulator.radio_url("gw1"), emulator.radio_url("gw2")],
        talkgroups=f"emulator://{emulator.ready_file}",
    )
    try:
        async with Dispatch(mosquitto.host, mosquitto.port) as dispatch:
            gateway.start()
            await dispatch.wait_online(gateway.gateway_id)
            yield dispatch, emulator, gateway
    finally:
        gateway.stop()
        emulator.stop()


async def test_three_unit_incident_is_alerted_tracked_and_documented(
    system: tuple[Dispatch, EmulatorProcess, GatewayProcess],
) -> None:
    dispatch, emulator, gateway = system
    await dispatch.callout(
        callout_id="C-1", incident_id="INC-1", priority="1A", units=UNITS, text=TEXT
    )
    issis = [u["issi"] for u in UNITS]
    await dispatch.wait_final("C-1", issis, timeout=30)
    events = dispatch.events("C-1")
    assert events[0]["event"] == "accepted"
    assert dispatch.finals("C-1") == {issi: ["delivered"] for issi in issis}
    # Each unit received the callout text exactly once over the air.
    for issi in issis:
        texts = [m for m in emulator.inbox(issi) if m.get("text") == TEXT]
        assert len(texts) == 1, (issi, emulator.inbox(issi))
    # The talk group: one GSSI for the incident, with the units attached in the network.
    await dispatch.wait_for(
        lambda: any(e.get("state") == "active" for e in dispatch.events("C-1")), 15, "group"
    )
    gssi = next(e["gssi"] for e in dispatch.events("C-1") if e.get("state") == "active")
    groups = emulator.get("/groups")
    assert groups, "the emulator's DGNA service holds no group"

    # Statuses flow back; the timeline documents alert, delivery, arrival and who ended it.
    def all_ended() -> bool:
        timeline = dispatch.on("incidents/INC-1/timeline")
        return bool(timeline) and all(u["ended_at"] for u in timeline[-1]["units"])

    await dispatch.wait_for(all_ended, 45, "every unit's mission_ended")
    timeline = dispatch.on("incidents/INC-1/timeline")[-1]
    assert timeline["gssi"] == gssi
    assert timeline["priority"] == "1A"
    for unit in timeline["units"]:
        for key in ("alerted_at", "delivered_at", "acknowledged_at", "on_scene_at", "ended_at"):
            assert unit[key], (unit["issi"], key)
        assert unit["ended_by"] == str(unit["issi"])
    status = dispatch.on("units/2040101/status")[-1]
    assert status["meaning"] == "mission_ended"
    assert status["incident_id"] == "INC-1"
    # When every unit has ended, the group goes back.
    await dispatch.wait_for(
        lambda: any(e.get("state") == "released" for e in dispatch.events("C-1")), 15, "release"
    )
    # Personal data never leaves the radio path: not in logs, not in events.
    assert "Storgata" not in gateway.log_path.read_text()
    for message in dispatch.messages:
        if message.topic != "tetragw/v1/callouts":
            assert "Storgata" not in str(message.payload)
