"""Delivery to the units end to end: coverage loss, duplicated callouts, a radio rebooting.

Real Mosquitto, the emulator and the gateway as processes over real ptys (``system.py``).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from tests.integration.mosquitto import MosquittoBroker
from tests.integration.system import System, running_system

pytestmark = pytest.mark.integration

TEXT = "Hjertestans. Storgata 1, Oslo. Mann 67 år."


def _callout_texts(system: System, issi: int, text: str = TEXT) -> list[str]:
    """The times ``issi`` received ``text`` over the air."""
    return [m["text"] for m in system.emulator.inbox(issi) if m.get("text") == text]


async def test_unit_out_of_coverage_is_retried_then_unreached_once_while_others_are_delivered(
    tmp_path: Path, mosquitto: MosquittoBroker
) -> None:
    async with running_system(
        tmp_path,
        mosquitto,
        emulator_args=("--units", "2040101-2040103"),
    ) as system:
        dispatch = system.dispatch
        system.emulator.post("/units/2040103/coverage", {"in_coverage": False})
        units = [
            {"issi": 2040101, "role": "ambulance"},
            {"issi": 2040102, "role": "first_responder"},
            {"issi": 2040103, "role": "first_responder"},
        ]
        await dispatch.callout(
            callout_id="COV-1", incident_id="INC-COV", units=units, deadline_s=6, text=TEXT
        )
        await dispatch.wait_final("COV-1", [2040101, 2040102, 2040103], timeout=20)
        # A second ``unreached`` (or a late delivery) would come right after: let it show.
        await asyncio.sleep(1.0)
        finals = dispatch.finals("COV-1")
        assert finals == {
            2040101: ["delivered"],
            2040102: ["delivered"],
            2040103: ["unreached"],
        }
        events = [e for e in dispatch.events("COV-1") if e.get("issi") == 2040103]
        retrying = [e for e in events if e["event"] == "retrying"]
        assert len(retrying) >= 2, events
        assert all(e["reason"] for e in retrying)
        assert [e["event"] for e in events].index("unreached") == len(events) - 1
        assert _callout_texts(system, 2040103) == []
        assert len(_callout_texts(system, 2040101)) == 1


async def test_duplicated_callout_alerts_nobody_twice_and_is_answered_with_the_current_state(
    tmp_path: Path, mosquitto: MosquittoBroker
) -> None:
    async with running_system(
        tmp_path,
        mosquitto,
        emulator_args=("--units", "2040101-2040103"),
    ) as system:
        dispatch = system.dispatch
        units = [{"issi": 2040101, "role": "ambulance"}, {"issi": 2040102, "role": "doctor"}]
        first = await dispatch.callout(
            callout_id="DUP-1", incident_id="INC-DUP", units=units, text=TEXT, deadline_s=20
        )
        # The same message again at once (a broker redelivery), while sends are in flight.
        await dispatch.publish("callouts", first)
        await dispatch.wait_final("DUP-1", [2040101, 2040102], timeout=20)
        # And again, once delivered, with other content (a CAD reusing an id by mistake).
        await dispatch.callout(
            callout_id="DUP-1",
            incident_id="INC-DUP",
            units=[{"issi": 2040103, "role": "ambulance"}],
            text="Annen tekst",
        )

        def answers() -> list[dict[str, Any]]:
            return [e for e in dispatch.events("DUP-1") if e.get("duplicate") is True]

        await dispatch.wait_for(lambda: len(answers()) == 2, 10, "two duplicate answers")
        await asyncio.sleep(1.0)  # a wrongly repeated alert would reach the units by now
        for issi in (2040101, 2040102):
            assert _callout_texts(system, issi) == [TEXT], system.emulator.inbox(issi)
        assert _callout_texts(system, 2040103, "Annen tekst") == []
        assert dispatch.finals("DUP-1") == {2040101: ["delivered"], 2040102: ["delivered"]}
        accepted = [e for e in dispatch.events("DUP-1") if e["event"] == "accepted"]
        assert len(accepted) == 3
        assert "duplicate" not in accepted[0] or accepted[0]["duplicate"] is not True
        later = answers()[-1]
        assert later["event"] == "accepted"
        assert set(later["unit_states"].values()) <= {"delivered", "read"}
        assert later["reason"] == "conflicting_duplicate"
        assert set(later["unit_states"]) == {"2040101", "2040102"}
        assert set(answers()[0]["unit_states"]) == {"2040101", "2040102"}


async def test_every_unit_is_delivered_after_the_radio_reboots_mid_callout(
    tmp_path: Path, mosquitto: MosquittoBroker
) -> None:
    issis = list(range(2040101, 2040107))
    async with running_system(
        tmp_path,
        mosquitto,
        # A slow air interface (1 s each way) keeps the sends in flight when the radio goes down.
        emulator_args=("--units", "2040101-2040106", "--sds-delay-ms", "1000"),
    ) as system:
        dispatch = system.dispatch
        units = [{"issi": issi, "role": "ambulance"} for issi in issis]
        await dispatch.callout(
            callout_id="RB-1", incident_id="INC-RB", units=units, text=TEXT, deadline_s=30
        )

        def sds_taken() -> int:
            (radio,) = system.emulator.get("/radios")
            return int(radio["counters"].get("sds_sent", 0))

        while sds_taken() < 3:
            await asyncio.sleep(0.05)
        assert dispatch.finals("RB-1") == {}, "too late: a unit was delivered before the reboot"
        system.emulator.post("/radios/gw1/fault", {"kind": "reboot", "duration_s": 1.0})
        health = f"gateway/{system.gateway.gateway_id}/health"

        def radio_state() -> list[str]:
            return [r["state"] for h in dispatch.on(health) for r in h.get("radios", [])]

        await dispatch.wait_for(lambda: "down" in radio_state(), 10, "the radio seen down")
        await dispatch.wait_final("RB-1", issis, timeout=30)
        assert dispatch.finals("RB-1") == {issi: ["delivered"] for issi in issis}
        await dispatch.wait_for(
            lambda: radio_state()[-1] == "up", 10, "the radio back up in health"
        )
        for issi in issis:
            inbox = system.emulator.inbox(issi)
            assert 1 <= len(_callout_texts(system, issi)) <= 2, inbox
