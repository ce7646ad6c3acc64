"""What dispatch and the units send, end to end: hostile input, unit messages, single sends.

Real Mosquitto, the emulator and the gateway as processes over real ptys (``system.py``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.integration.mosquitto import MosquittoBroker
from tests.integration.system import ROOT, Dispatch, read_retained, running_system

pytestmark = pytest.mark.integration

#: Personal data in a payload; it must never come back in an error, an event or the log.
SECRET = "Storgata 1 Kari Nordmann 67"


def _callout(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "callout_id": "BAD-1",
        "incident_id": "INC-BAD",
        "units": [{"issi": 2040101, "role": "ambulance"}],
        "text": SECRET,
        "deadline_s": 20,
    }
    body.update(fields)
    return body


def _nested(depth: int) -> bytes:
    return b'{"callout_id": ' + b"[" * depth + b"]" * depth + b"}"


#: (topic, payload, error, field named in the detail)
HOSTILE: list[tuple[str, bytes, str, str]] = [
    ("callouts", b'{"callout_id": "BAD-1", "text": "' + SECRET.encode(), "invalid_json", "payload"),
    ("callouts", json.dumps([SECRET]).encode(), "invalid_payload", "payload"),
    (
        "callouts",
        json.dumps(_callout(deadline_s="sixty")).encode(),
        "invalid_payload",
        "deadline_s",
    ),
    (
        "callouts",
        json.dumps(_callout(units=[{"issi": "2040101"}])).encode(),
        "invalid_payload",
        "units[0].issi",
    ),
    ("callouts", json.dumps(_callout(text=12345)).encode(), "invalid_payload", "text"),
    (
        "callouts",
        json.dumps(_callout(units=[{"issi": 2040101}, {"issi": 16777216}])).encode(),
        "invalid_payload",
        "units[1].issi",
    ),
    (
        "callouts",
        json.dumps(_callout(units=[{"issi": 2040000 + n} for n in range(101)])).encode(),
        "invalid_payload",
        "units",
    ),
    (
        "callouts",
        json.dumps(_callout(units=[{"issi": 2040101}, {"issi": 2040101}])).encode(),
        "invalid_payload",
        "units[1].issi",
    ),
    ("callouts", json.dumps(_callout(padding="x" * 1_000_000)).encode(), "payload_too_large", ""),
    ("callouts", _nested(20_000), "invalid_json", "payload"),
    (
        "callouts",
        json.dumps(_callout(callout_id="A B/" + SECRET)).encode(),
        "invalid_payload",
        "callout_id",
    ),
    # A valid-looking callout whose personal-data text is fine but whose deadline is not.
    ("callouts", json.dumps(_callout(deadline_s=1)).encode(), "invalid_payload", "deadline_s"),
    ("units/not-an-issi/send", b'{"request_id": "r1", "text": "x"}', "unknown_topic", "topic"),
    ("units/16777216/send", b'{"request_id": "r1", "text": "x"}', "unknown_topic", "topic"),
    ("incidents/" + "I" * 65 + "/close", b"{}", "unknown_topic", "topic"),
    ("units/2040101/send", json.dumps({"request_id": "r2"}).encode(), "invalid_payload", ""),
    (
        "units/2040101/send",
        json.dumps({"request_id": "r3", "text": SECRET, "status": 32771}).encode(),
        "invalid_payload",
        "",
    ),
]


async def test_hostile_payloads_are_answered_on_errors_without_their_values(
    tmp_path: Path, mosquitto: MosquittoBroker
) -> None:
    async with running_system(
        tmp_path,
        mosquitto,
        emulator_args=("--units", "2040101-2040102"),
    ) as system:
        dispatch = system.dispatch
        for number, (topic, payload, error, named) in enumerate(HOSTILE, start=1):
            await dispatch.publish(topic, payload)
            await dispatch.wait_for(
                _errors_at_least(dispatch, number), 10, f"the error for {topic}"
            )
            answer = dispatch.on("errors")[number - 1]
            assert answer["topic"] == ROOT + topic
            assert answer["error"] == error, (topic, answer)
            assert answer["detail"].startswith(named), (named, answer)
            assert SECRET not in json.dumps(answer)
            assert "sixty" not in answer["detail"]
            assert "16777216" not in answer["detail"]
        assert len(dispatch.on("errors")) == len(HOSTILE)
        # Nothing was acted on: no unit was alerted, no callout accepted.
        assert not [e for e in dispatch.events("BAD-1") if e["event"] == "accepted"]
        assert not [m for m in system.emulator.inbox(2040101) if SECRET in m.get("text", "")]
        # The gateway is alive and handles a good callout afterwards.
        assert system.gateway.running
        await dispatch.callout(
            callout_id="GOOD-1",
            incident_id="INC-GOOD",
            units=[{"issi": 2040101, "role": "ambulance"}],
            text="Good callout",
        )
        await dispatch.wait_final("GOOD-1", [2040101], timeout=15)
        assert dispatch.finals("GOOD-1") == {2040101: ["delivered"]}
    log = system.gateway.log_path.read_text()
    assert SECRET not in log
    for message in dispatch.messages:
        if not _inbound(message.topic):
            assert SECRET not in json.dumps(message.payload), message.topic


def _errors_at_least(dispatch: Dispatch, count: int) -> Callable[[], bool]:
    return lambda: len(dispatch.on("errors")) >= count


def _inbound(topic: str) -> bool:
    """Dispatch → gateway topics (what the test itself published)."""
    return topic == ROOT + "callouts" or topic.endswith(("/send", "/close"))


async def test_unit_text_emergency_and_position_reach_dispatch(
    tmp_path: Path, mosquitto: MosquittoBroker
) -> None:
    async with running_system(
        tmp_path,
        mosquitto,
        emulator_args=("--units", "2040101-2040102"),
    ) as system:
        dispatch, emulator = system.dispatch, system.emulator
        emulator.post("/units/2040101/text", {"text": "Trenger politi, Storgata 1"})
        await dispatch.wait_for(
            lambda: bool(dispatch.on("units/2040101/messages")), 10, "the unit's text"
        )
        message = dispatch.on("units/2040101/messages")[-1]
        assert message["issi"] == 2040101
        assert message["text"] == "Trenger politi, Storgata 1"
        assert message["at"].endswith("Z")

        emulator.post("/units/2040102/status", {"value": 0})
        await dispatch.wait_for(lambda: bool(dispatch.on("alarms")), 10, "the emergency alarm")
        alarm = dispatch.on("alarms")[-1]
        assert alarm["issi"] == 2040102
        assert alarm["status"] == 0
        assert alarm["meaning"] == "emergency"
        status = dispatch.on("units/2040102/status")[-1]
        assert (status["status"], status["meaning"]) == (0, "emergency")

        emulator.post("/units/2040101/position", {"lat": 59.9127, "lon": 10.7461})
        await dispatch.wait_for(
            lambda: bool(dispatch.on("units/2040101/position")), 10, "the position"
        )
        retained = await read_retained(mosquitto.host, mosquitto.port, "units/2040101/position")
        assert retained.retain
        for position in (dispatch.on("units/2040101/position")[-1], retained.payload):
            assert position["issi"] == 2040101
            assert position["lat"] == pytest.approx(59.9127, abs=1e-4)
            assert position["lon"] == pytest.approx(10.7461, abs=1e-4)
    # The unit's free text is personal data: only on its messages topic, never in the log.
    assert "Storgata" not in system.gateway.log_path.read_text()


async def test_unit_send_with_text_and_with_status_is_answered_on_request_events(
    tmp_path: Path, mosquitto: MosquittoBroker
) -> None:
    async with running_system(
        tmp_path,
        mosquitto,
        emulator_args=("--units", "2040101-2040102"),
    ) as system:
        dispatch, emulator = system.dispatch, system.emulator
        await dispatch.publish("units/2040101/send", {"request_id": "REQ-T", "text": "Ring AMK"})
        await dispatch.publish("units/2040102/send", {"request_id": "REQ-S", "status": 32771})

        def kinds(request_id: str) -> list[str]:
            return [e["event"] for e in dispatch.on(f"requests/{request_id}/events")]

        await dispatch.wait_for(lambda: "delivered" in kinds("REQ-T"), 15, "text delivered")
        await dispatch.wait_for(lambda: "sent" in kinds("REQ-S"), 15, "status sent")
        assert kinds("REQ-T")[:3] == ["accepted", "sent", "delivered"]
        assert kinds("REQ-S")[:2] == ["accepted", "sent"]
        for request_id, issi in (("REQ-T", 2040101), ("REQ-S", 2040102)):
            for event in dispatch.on(f"requests/{request_id}/events"):
                assert event["request_id"] == request_id
                assert event.get("issi") in (None, issi)
        texts = [m["text"] for m in emulator.inbox(2040101) if m.get("text") == "Ring AMK"]
        assert texts == ["Ring AMK"]
        statuses = [m["value"] for m in emulator.inbox(2040102) if m.get("kind") == "status"]
        assert statuses == [32771]
        # Sent to a unit the network does not know: the request ends unreached, not hanging.
        await dispatch.publish("units/2049000/send", {"request_id": "REQ-X", "status": 32771})
        await dispatch.wait_for(lambda: "unreached" in kinds("REQ-X"), 20, "unknown unit")
