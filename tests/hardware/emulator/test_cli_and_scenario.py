"""`tetragw emulator` as a process, the scenario format and the byte pacing."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import serial

from hardware.emulator.app import Emulator
from hardware.emulator.endpoints import Link
from hardware.emulator.pacing import BytePacer
from hardware.emulator.scenario import ScenarioError, load_scenario, quick_scenario
from hardware.emulator.status_table import status_table_path
from tests.hardware.emulator.conftest import make_scenario
from tests.hardware.emulator.peiclient import PeiClient

REPO = Path(__file__).resolve().parents[3]


def test_emulator_command_writes_the_ready_file_serves_and_stops_cleanly(tmp_path):
    ready = tmp_path / "ready.json"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gateway.cli",
            "emulator",
            "--radios",
            "2",
            "--units",
            "2040101-2040105",
            "--vendor",
            "sepura",
            "--seed",
            "1",
            "--ready-file",
            str(ready),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        for _ in range(200):
            if ready.exists() or process.poll() is not None:
                break
            time.sleep(0.05)
        info = json.loads(ready.read_text())
        assert [r["name"] for r in info["radios"]] == ["gw1", "gw2"]
        assert info["radios"][0]["issi"] == 2049999
        assert info["control"].startswith("http://127.0.0.1:")
        device = info["radios"][0]["device"]
        assert os.path.exists(device)
        with serial.Serial(device, 38400, timeout=2) as port:  # a plain serial client
            port.write(b"AT\r")
            first = port.read_until(b"ERROR: 35\r\n")
            assert b"+CME ERROR: 35" in first  # Sepura's stale error after power-up
            port.write(b"AT+CNUMF?\r")
            answer = port.read_until(b"OK\r\n")
            assert b"+CNUMF: 1," in answer
            assert answer.rstrip().endswith(b"OK")
    finally:
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=10)
    assert process.returncode == 0, stderr
    assert json.loads(stdout.decode().splitlines()[0]) == info


def test_bad_scenario_exits_2_with_the_key(tmp_path):
    scenario = tmp_path / "bad.toml"
    scenario.write_text('[[radios]]\nname = "gw1"\nissi = 99999999\n')
    result = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "emulator", "--scenario", str(scenario)],
        cwd=REPO,
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert b"radios[0].issi" in result.stderr


def test_example_scenario_loads():
    scenario = load_scenario((REPO / "config" / "emulator-scenario.toml").read_text())
    assert [r.vendor for r in scenario.radios] == ["motorola", "sepura"]
    assert len(scenario.units) == 14
    assert {u.behaviour for u in scenario.units} == {"responsive", "slow", "unreachable", "silent"}
    assert scenario.faults[0].kind == "garbage"
    assert scenario.faults[0].duration_s is None  # counted: the next `count` bursts


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[network]\ntime_scale = 0\n[[radios]]\nissi = 1\n", "network.time_scale"),
        ("[[radios]]\nissi = 1\nvendor = 'nokia'\n", "radios[0].vendor"),
        ("[[radios]]\nissi = 1\n[[units]]\nissi = 1\n", "units"),
        ("[[radios]]\nissi = 1\n[[units]]\nissi = 2\nbehaviour = 'lazy'\n", "units[0].behaviour"),
        ("[[radios]]\nissi = 1\n[[faults]]\nradio = 'gw9'\nkind = 'reboot'\n", "faults[0].radio"),
        ("radios = 3", "radios"),
        ("[[radios]\n", "TOML"),
    ],
)
def test_scenario_errors_name_the_key(text, key):
    with pytest.raises(ScenarioError, match=key.replace("[", r"\[").replace("]", r"\]")):
        load_scenario(text)


def test_quick_scenario_places_units_from_the_seed():
    first = quick_scenario(units=(1, 5))
    assert first == quick_scenario(units=(1, 5))
    assert len({u.position for u in first.units}) == 5


def test_default_status_table_is_found_in_the_repository():
    assert status_table_path("amk-default") == REPO / "config" / "status" / "amk-default.toml"


async def test_pacer_holds_bytes_to_the_wire_time():
    pacer = BytePacer(9600)
    assert pacer.wire_time(960) == pytest.approx(1.0)
    loop = asyncio.get_running_loop()
    start = loop.time()
    for _ in range(10):
        await pacer.transmit(24)  # 240 bytes at 960 bytes/s: at least 0.25 s
    assert loop.time() - start >= 0.24


def test_pacer_counts_wire_time_from_when_the_bytes_were_ready():
    pacer = BytePacer(9600)  # 960 bytes/s: 48 bytes take 0.05 s
    assert pacer.reserve(48, now=10.0) == pytest.approx(0.05)
    # The emulator woke 0.1 s late for the next 48 bytes, queued at 10.0 behind the first:
    # on a UART they followed back to back and had crossed by 10.10.
    assert pacer.reserve(48, now=10.15, ready_at=10.0) == pytest.approx(-0.05)
    # Bytes arriving when the wire has been free since 10.10 start when they arrived.
    assert pacer.reserve(48, now=10.40, ready_at=10.30) == pytest.approx(-0.05)
    # Without ready_at they start now; a ready_at later than now counts as now.
    assert pacer.reserve(48, now=11.0) == pytest.approx(0.05)
    assert pacer.reserve(48, now=12.0, ready_at=13.0) == pytest.approx(0.05)


def test_pacer_never_moves_bytes_faster_than_the_baud_rate():
    pacer = BytePacer(9600)
    assert pacer.reserve(96, now=0.0) == pytest.approx(0.1)
    # Ready long before, but the wire was busy until 0.1: they follow, never overlap.
    assert pacer.reserve(96, now=0.0, ready_at=-5.0) == pytest.approx(0.2)
    assert pacer.reserve(96, now=0.05, ready_at=-5.0) == pytest.approx(0.25)


async def test_link_paces_from_when_bytes_were_queued_or_arrived(monkeypatch):
    readies: list[tuple[int, float | None]] = []

    async def transmit(self: BytePacer, count: int, ready_at: float | None = None) -> None:
        readies.append((count, ready_at))

    monkeypatch.setattr(BytePacer, "transmit", transmit)
    written: list[bytes] = []

    async def write(chunk: bytes) -> None:
        written.append(chunk)

    link = Link("t", 9600, write)
    loop = asyncio.get_running_loop()
    before = loop.time()
    link.send(b"x" * 40)  # 16-byte chunks at 9600 baud: three of them
    while len(written) < 3:
        await asyncio.sleep(0)
    after = loop.time()
    assert [count for count, _ in readies] == [16, 16, 8]
    queued_at = {ready for _, ready in readies}
    assert len(queued_at) == 1  # every chunk counts from the time the data was queued
    (ready,) = queued_at
    assert ready is not None
    assert before <= ready <= after
    readies.clear()
    assert await link.paced_input(b"AT\r", at=1.0, arrived=123.0) == b"AT\r"
    assert readies == [(3, 123.0)]
    link.close()


async def test_paced_pty_carries_no_more_than_the_baud_rate(start_emulator, clients):
    emulator = await start_emulator(baud=9600)
    client = await PeiClient.over_pty(emulator.terminals[0].pty.path)
    clients.append(client)
    loop = asyncio.get_running_loop()
    start = loop.time()
    for _ in range(10):
        await client.ok(b"AT+CNUMF?\r")  # ~12 bytes up, ~40 down each
    elapsed = loop.time() - start
    moved = emulator.terminals[0].pty.link.bytes_in + emulator.terminals[0].pty.link.bytes_out
    # Lower bound only: a slow machine can be slower, never faster than the wire.
    assert elapsed >= moved * 10 / 9600 / 2 * 0.9


async def test_pyserial_client_in_a_thread_drives_the_pty(start_emulator):
    emulator = await start_emulator()
    path = emulator.terminals[0].pty.path
    answers: list[bytes] = []

    def gateway() -> None:
        with serial.Serial(path, 115200, timeout=2) as port:
            port.write(b"ATE0\r")
            answers.append(port.read_until(b"OK\r\n"))
            port.write(b"AT+CSQ?\r")
            answers.append(port.read_until(b"OK\r\n"))

    thread = threading.Thread(target=gateway)
    thread.start()
    await asyncio.to_thread(thread.join)
    assert answers[0].endswith(b"OK\r\n")
    assert b"+CSQ: 25,99" in answers[1]


async def test_emulator_in_process_writes_its_ready_file(tmp_path):
    ready = tmp_path / "ready.json"
    async with Emulator(make_scenario(radios=2), ready_file=ready) as emulator:
        info = json.loads(ready.read_text())
        assert info == emulator.ready_info()
        assert info["radios"][1]["url"] == emulator.terminals[1].tcp.url
    assert not any(p.name.endswith(".tmp") for p in tmp_path.iterdir())
