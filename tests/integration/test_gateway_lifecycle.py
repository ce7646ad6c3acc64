"""An incident's life end to end: closing it, its talk groups, and what is kept of it.

Real Mosquitto, the emulator and the gateway as processes over real ptys (``system.py``).
"""

from __future__ import annotations

import asyncio
import re
import sqlite3
import subprocess
import sys
import time
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import pytest

from tests.integration.mosquitto import MosquittoBroker
from tests.integration.system import ROOT, Dispatch, System, running_system

pytestmark = pytest.mark.integration

#: A callout text with personal data; the markers are what the search looks for.
TEXT = "Hjerneslag. Kirkeveien 99B, 3. etasje. Kvinne 81 år, Ingrid Haugvik."
MARKERS = ("Kirkeveien 99B", "Ingrid Haugvik")


def _talkgroup_events(dispatch: Dispatch, callout_id: str) -> list[dict[str, Any]]:
    return [e for e in dispatch.events(callout_id) if e["event"] == "talkgroup"]


def _texts(inbox: list[dict[str, Any]], prefix: str) -> list[str]:
    """The texts received that start with ``prefix`` (this test's own callouts)."""
    return [m["text"] for m in inbox if m.get("kind") == "text" and m["text"].startswith(prefix)]


async def test_incident_close_releases_the_group_and_closes_the_timeline(
    tmp_path: Path, mosquitto: MosquittoBroker
) -> None:
    async with running_system(
        tmp_path,
        mosquitto,
        # Silent units never end their mission: only dispatch can close the incident.
        emulator_args=("--units", "2040101-2040103", "--behaviour", "silent"),
    ) as system:
        dispatch, emulator = system.dispatch, system.emulator
        units = [{"issi": 2040101, "role": "ambulance"}, {"issi": 2040102, "role": "doctor"}]
        await dispatch.callout(callout_id="CL-1", incident_id="INC-CL", units=units, text=TEXT)
        await dispatch.wait_final("CL-1", [2040101, 2040102], timeout=15)
        await dispatch.wait_for(
            lambda: any(e["state"] == "active" for e in _talkgroup_events(dispatch, "CL-1")),
            10,
            "the group active",
        )
        gssi = next(
            e["gssi"] for e in _talkgroup_events(dispatch, "CL-1") if e["state"] == "active"
        )
        held = {g["gssi"]: g["attached"] for g in emulator.get("/groups")}
        assert held[gssi] == [2040101, 2040102]

        await dispatch.publish("incidents/INC-CL/close", {"reason": "patient transported"})
        await dispatch.wait_for(
            lambda: any(e["state"] == "released" for e in _talkgroup_events(dispatch, "CL-1")),
            10,
            "the group released",
        )
        released = [e for e in _talkgroup_events(dispatch, "CL-1") if e["state"] == "released"]
        assert [e["gssi"] for e in released] == [gssi]
        assert gssi not in {g["gssi"] for g in emulator.get("/groups")}
        for issi in (2040101, 2040102):
            assert gssi not in emulator.get(f"/units/{issi}")["groups"]

        def closed() -> bool:
            timeline = dispatch.on("incidents/INC-CL/timeline")
            return bool(timeline) and timeline[-1]["closed_at"] is not None

        await dispatch.wait_for(closed, 10, "the timeline closed")
        timeline = dispatch.on("incidents/INC-CL/timeline")[-1]
        assert timeline["closed_at"] >= timeline["opened_at"]
        for unit in timeline["units"]:
            assert unit["ended_by"] == "dispatch"
            assert unit["ended_at"] is not None
        # A closed incident takes no more callouts.
        await dispatch.callout(
            callout_id="CL-2",
            incident_id="INC-CL",
            units=[{"issi": 2040103, "role": "doctor"}],
            text="Nytt oppdrag CL-2",
        )
        await dispatch.wait_for(lambda: bool(dispatch.events("CL-2")), 10, "the refusal")
        assert dispatch.events("CL-2")[0]["event"] == "rejected"
        assert _texts(emulator.inbox(2040103), "Nytt oppdrag") == []


async def test_callout_text_stays_on_the_radio_path_and_the_audit_trail_verifies(
    tmp_path: Path, mosquitto: MosquittoBroker
) -> None:
    issis = [2040101, 2040102, 2040103]
    async with running_system(
        tmp_path,
        mosquitto,
        emulator_args=("--units", "2040101-2040104"),
    ) as system:
        dispatch, emulator, gateway = system.dispatch, system.emulator, system.gateway
        # One unit out of coverage for a while: retries and an unreached end are covered too.
        emulator.post("/units/2040104/coverage", {"in_coverage": False})
        units = [{"issi": issi, "role": "ambulance"} for issi in [*issis, 2040104]]
        await dispatch.callout(
            callout_id="PD-1", incident_id="INC-PD", units=units, text=TEXT, deadline_s=5
        )
        await dispatch.wait_final("PD-1", [*issis, 2040104], timeout=20)
        assert dispatch.finals("PD-1")[2040104] == ["unreached"]
        # A unit answering in free text, with the callout text quoted back.
        emulator.post("/units/2040101/text", {"text": f"Mottatt: {MARKERS[0]}"})
        await dispatch.wait_for(
            lambda: bool(dispatch.on("units/2040101/messages")), 10, "the unit's text"
        )

        def all_ended() -> bool:
            timeline = dispatch.on("incidents/INC-PD/timeline")
            ended = (
                {u["issi"] for u in timeline[-1]["units"] if u["ended_at"]} if timeline else set()
            )
            return ended >= set(issis)

        await dispatch.wait_for(all_ended, 20, "every reached unit's mission_ended")
        for issi in issis:
            assert _texts(emulator.inbox(issi), TEXT) == [TEXT]
        assert gateway.stop() == 0

    store_files = [gateway.data_dir / f"tetragw.sqlite3{suffix}" for suffix in ("", "-wal", "-shm")]
    assert store_files[0].exists()
    searched = {"gateway log": gateway.log_path.read_bytes()}
    searched |= {path.name: path.read_bytes() for path in store_files if path.exists()}
    # The search can find the markers: the callout itself carried them.
    callouts = [m for m in dispatch.messages if m.topic == ROOT + "callouts"]
    assert all(marker in callouts[0].payload["text"] for marker in MARKERS)
    for message in dispatch.messages:
        allowed = message.topic == ROOT + "callouts" or message.topic.endswith("/messages")
        if not allowed:
            searched[message.topic] = repr(message.payload).encode()
    for marker in MARKERS:
        for encoded in (marker.encode(), marker.encode("utf-16-le")):
            found = [where for where, content in searched.items() if encoded in content]
            assert not found, (marker, found)
    # The store still knows the callout, without its text.
    with sqlite3.connect(store_files[0]) as db:
        assert db.execute("select count(*) from callouts").fetchone()[0] == 1
    verify = subprocess.run(
        [
            sys.executable,
            "-m",
            "gateway.cli",
            "audit",
            "verify",
            "--data-dir",
            str(gateway.data_dir),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr


def pool_system(tmp_path: Path, mosquitto: MosquittoBroker) -> AbstractAsyncContextManager[System]:
    """Eight silent units, and three pool groups (9001-9003)."""
    return running_system(
        tmp_path,
        mosquitto,
        emulator_args=("--units", "2040101-2040108", "--behaviour", "silent"),
        talkgroups="pool:9001-9003",
    )


def pair(n: int) -> list[int]:
    """The two units of the ``n``-th two-unit callout."""
    return [2040101 + 2 * n, 2040102 + 2 * n]


async def pair_callout(dispatch: Dispatch, name: str, n: int) -> None:
    """Callout ``name-n`` of incident ``INC-name-n``, to the units ``pair(n)``."""
    await dispatch.callout(
        callout_id=f"{name}-{n}",
        incident_id=f"INC-{name}-{n}",
        units=[{"issi": issi, "role": "ambulance"} for issi in pair(n)],
        text=f"Oppdrag {n}",
    )


async def test_pool_groups_are_named_in_the_callout_text_until_the_pool_runs_out(
    tmp_path: Path, mosquitto: MosquittoBroker
) -> None:
    async with pool_system(tmp_path, mosquitto) as system:
        dispatch, emulator = system.dispatch, system.emulator
        for n in range(4):
            await pair_callout(dispatch, "POOL", n)
        for n in range(4):
            await dispatch.wait_final(f"POOL-{n}", pair(n), 20)
        gssis: list[int] = []
        for n in range(3):
            active = [e for e in _talkgroup_events(dispatch, f"POOL-{n}") if e["state"] == "active"]
            assert len(active) == 1, _talkgroup_events(dispatch, f"POOL-{n}")
            gssi = active[0]["gssi"]
            gssis.append(gssi)
            for issi in pair(n):
                (text,) = _texts(emulator.inbox(issi), f"Oppdrag {n}")
                assert text.startswith(f"Oppdrag {n}")
                assert str(gssi) in text.removeprefix(f"Oppdrag {n}")
        assert sorted(gssis) == [9001, 9002, 9003]
        failed = [e for e in _talkgroup_events(dispatch, "POOL-3") if e["state"] == "failed"]
        assert [e["reason"] for e in failed] == ["pool_exhausted"]
        # The fourth incident's units are still alerted, without a group instruction.
        for issi in (2040107, 2040108):
            assert _texts(emulator.inbox(issi), "Oppdrag") == ["Oppdrag 3"]

        # The gateway's radio scans each group, off the callouts' path (PoolBackend).
        def scanned() -> set[int]:
            return {
                int(match.group(1))
                for read in emulator.get("/radios/gw1/rx-log")
                if (match := re.match(r"AT\+CTGS=\d+,(\d+)", read["head"]))
            }

        for _ in range(50):
            if scanned() == {9001, 9002, 9003}:
                break
            await asyncio.sleep(0.1)
        assert scanned() == {9001, 9002, 9003}


async def test_a_rebooted_radio_scans_the_pool_groups_still_held_again(
    tmp_path: Path, mosquitto: MosquittoBroker
) -> None:
    """A radio forgets its scans when it reboots: the gateway's radio must scan the groups
    still held again, or the gateway no longer hears those incidents; not a released one.
    (The emulator refuses scans of groups no unit is in, as a network refuses unknown groups:
    its rx log shows what the gateway asked for.)"""
    async with pool_system(tmp_path, mosquitto) as system:
        dispatch, emulator = system.dispatch, system.emulator
        for n in (1, 2):
            await pair_callout(dispatch, "RB", n)
            await dispatch.wait_final(f"RB-{n}", pair(n), 20)

        def scans_since(moment: float) -> list[int]:
            return [
                int(match.group(1))
                for read in emulator.get("/radios/gw1/rx-log")
                if read["at"] >= moment and (match := re.match(r"AT\+CTGS=2,(\d+)", read["head"]))
            ]

        async def rebooted_scanning(groups: set[int]) -> list[int]:
            """Reboot gw1; what it was asked to scan once it is back (its signal probe ends
            the initialisation)."""
            moment = time.time()
            emulator.post("/radios/gw1/fault", {"kind": "reboot", "duration_s": 1.0})
            for _ in range(300):
                probed = [
                    r
                    for r in emulator.get("/radios/gw1/rx-log")
                    if r["at"] >= moment and r["head"].startswith("AT+CSQ?")
                ]
                if probed and set(scans_since(moment)) >= groups:
                    return scans_since(moment)
                await asyncio.sleep(0.1)
            raise AssertionError(f"gw1 asked to scan {scans_since(moment)} after its reboot")

        assert sorted(set(await rebooted_scanning({9001, 9002}))) == [9001, 9002]

        await dispatch.publish("incidents/INC-RB-1/close", {})
        await dispatch.wait_for(
            lambda: any(e["state"] == "released" for e in _talkgroup_events(dispatch, "RB-1")),
            10,
            "the release",
        )
        # The released group is not scanned again.
        assert sorted(set(await rebooted_scanning({9002}))) == [9002]
