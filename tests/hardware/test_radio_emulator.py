"""The radio driver over real ptys against the in-process emulator (hardware/emulator)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from hardware.delivery import ReportLevel
from hardware.emulator.app import Emulator
from hardware.emulator.scenario import Behaviour, NetworkSettings, quick_scenario
from hardware.link import LinkSettings
from hardware.pool import RadioPool
from hardware.radio_events import LinkDown, LinkUp, RadioEvent, StatusReceived, TextReceived
from hardware.terminal import Terminal, TerminalConfig
from hardware.vendors import profile_for

UNIT = 2040101


@dataclasses.dataclass
class Rig:
    emulator: Emulator
    ready: Path

    def url(self, name: str = "gw1") -> str:
        return f"emulator://{self.ready}#{name}"

    async def post(self, path: str, body: dict[str, object]) -> dict[str, object]:
        async with (
            aiohttp.ClientSession() as session,
            session.post(self.emulator.control_url + path, json=body) as response,
        ):
            assert response.status < 300, await response.text()
            data: dict[str, object] = await response.json()
            return data

    async def fault(self, radio: str, kind: str, **fields: object) -> None:
        await self.post(f"/radios/{radio}/fault", {"kind": kind, **fields})


async def start_rig(
    tmp_path: Path,
    *,
    radios: int = 1,
    vendor: str = "generic",
    behaviour: Behaviour = "silent",
    **network: Any,
) -> Rig:
    settings = dataclasses.replace(
        NetworkSettings(sds_delay_ms=5.0, unreachable_report_delay_s=0.2), **network
    )
    scenario = quick_scenario(
        radios=radios,
        units=(UNIT, UNIT + 4),
        behaviour=behaviour,
        vendor=vendor,
        network=settings,
    )
    ready = tmp_path / "ready.json"
    emulator = Emulator(scenario, ready_file=ready)
    await emulator.start()
    return Rig(emulator, ready)


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    rig = await start_rig(tmp_path)
    yield rig
    await rig.emulator.stop()


def config(
    rig: Rig, name: str = "gw1", vendor: str = "generic", **overrides: float
) -> TerminalConfig:
    values: dict[str, float] = {
        "command_timeout": 1.0,
        "sync_timeout": 0.3,
        "keepalive_interval": 0.3,
        "send_deadline": 10.0,
        "reconnect_initial": 0.05,
        "reconnect_max": 0.3,
    }
    values.update(overrides)
    return TerminalConfig(
        name=name,
        url=rig.url(name),
        vendor=profile_for(vendor),
        link=LinkSettings(baud=38400),
        **values,  # type: ignore[arg-type]
    )


async def up(cfg: TerminalConfig) -> Terminal:
    terminal = Terminal(cfg)
    await terminal.start()
    assert await terminal.wait_ready(10), "radio did not come up"
    return terminal


async def wait_for(stream: AsyncIterator[RadioEvent], kind: type[RadioEvent]) -> RadioEvent:
    async with asyncio.timeout(15):
        async for event in stream:
            if isinstance(event, kind):
                return event
    raise AssertionError("stream ended")


@pytest.mark.parametrize("vendor", ["motorola", "sepura", "generic"])
async def test_every_vendor_profile_initialises_sends_and_receives(
    tmp_path: Path, vendor: str
) -> None:
    rig = await start_rig(tmp_path, vendor=vendor)
    terminal = await up(config(rig, vendor=vendor))
    stream = terminal.events()
    try:
        radio = rig.emulator.terminal("gw1")
        assert radio is not None
        status_profile = "2" if vendor == "motorola" else "1"
        assert f"{status_profile},2,20" in radio.as_dict()["registrations"]
        assert not radio.at.echo
        assert (await terminal.send_text(UNIT, "Trafikkulykke E18")).kind == "delivered"
        await rig.post(f"/units/{UNIT + 1}/status", {"value": 0x8003})
        status = await wait_for(stream, StatusReceived)
        assert isinstance(status, StatusReceived)
        assert (status.source_issi, status.value) == (UNIT + 1, 0x8003)
        await rig.post(f"/units/{UNIT + 2}/text", {"text": "Framme om 5 min, Æsøy"})
        text = await wait_for(stream, TextReceived)
        assert isinstance(text, TextReceived)
        assert text.text == "Framme om 5 min, Æsøy"
    finally:
        await terminal.stop()
        await rig.emulator.stop()


async def test_reboot_mid_send_is_survived_and_the_radio_reinitialised(rig: Rig) -> None:
    terminal = await up(config(rig))
    stream = terminal.events()
    try:
        # A slow network keeps the first send in flight while the radio reboots.
        rig.emulator.swmi.settings = dataclasses.replace(
            rig.emulator.swmi.settings, sds_delay_ms=400.0
        )
        send = asyncio.create_task(terminal.send_text(UNIT, "Brann i bolig"))
        await asyncio.sleep(0.1)
        await rig.fault("gw1", "reboot", duration_s=0.5)
        outcome = await send
        assert (outcome.kind, outcome.radio_fault) == ("failed", True)
        down = await wait_for(stream, LinkDown)
        assert isinstance(down, LinkDown)
        await wait_for(stream, LinkUp)
        rig.emulator.swmi.settings = dataclasses.replace(
            rig.emulator.swmi.settings, sds_delay_ms=5.0
        )
        radio = rig.emulator.terminal("gw1")
        assert radio is not None
        assert "3,3,130" in radio.as_dict()["registrations"]  # registered again
        again = await terminal.send_text(UNIT, "Brann i bolig")
        assert again.kind == "delivered", again
    finally:
        await terminal.stop()


async def test_disconnected_line_is_detected_and_reopened(rig: Rig) -> None:
    terminal = await up(config(rig, keepalive_interval=0.2, command_timeout=0.3))
    stream = terminal.events()
    try:
        # Long enough for max_missed keep-alives to go unanswered (a short one is ridden out).
        await rig.fault("gw1", "disconnect", duration_s=3.0)
        down = await wait_for(stream, LinkDown)
        assert isinstance(down, LinkDown)
        assert down.reason == "not_answering"
        await wait_for(stream, LinkUp)
        assert (await terminal.send_text(UNIT, "Hei")).kind == "delivered"
    finally:
        await terminal.stop()


async def test_garbage_on_the_line_does_not_lose_a_callout(rig: Rig) -> None:
    pool = RadioPool([Terminal(config(rig))], retry_delay=0.1)
    stream = pool.events()
    await pool.start()
    try:
        assert await pool.wait_ready(10)
        for _ in range(3):
            await rig.fault("gw1", "garbage", count=20)
            # Noise may swallow the radio's next answer (the emulator writes no leading
            # CR LF, so the answer joins the unterminated noise line): the pool retries.
            outcome = await pool.send_text(UNIT, "Hei")
            assert outcome.kind == "delivered"
        await rig.post(f"/units/{UNIT}/status", {"value": 0x8005})
        status = await wait_for(stream, StatusReceived)
        assert isinstance(status, StatusReceived)
        assert status.value == 0x8005
    finally:
        await pool.stop()


async def test_stalled_radio_is_declared_down_and_recovers(rig: Rig) -> None:
    terminal = await up(config(rig, keepalive_interval=0.2, command_timeout=0.3))
    stream = terminal.events()
    try:
        await rig.fault("gw1", "stall", duration_s=2.0)
        down = await wait_for(stream, LinkDown)
        assert isinstance(down, LinkDown)
        assert down.reason == "not_answering"
        await wait_for(stream, LinkUp)
        assert (await terminal.send_text(UNIT, "Hei")).kind == "delivered"
    finally:
        await terminal.stop()


async def test_dropped_report_times_out_and_the_next_send_is_delivered(rig: Rig) -> None:
    terminal = await up(config(rig))
    try:
        await rig.fault("gw1", "drop_reports", count=1)
        loop = asyncio.get_running_loop()
        lost = await terminal.send_text(UNIT, "Hei", loop.time() + 1.0)
        assert lost.kind == "timeout"
        assert (await terminal.send_text(UNIT, "Hei")).kind == "delivered"
        assert terminal.outstanding == 0
    finally:
        await terminal.stop()


async def test_unit_out_of_coverage_fails_with_not_reachable(rig: Rig) -> None:
    terminal = await up(config(rig))
    try:
        await rig.post(f"/units/{UNIT}/coverage", {"in_coverage": False})
        outcome = await terminal.send_text(UNIT, "Hei")
        assert (outcome.kind, outcome.reason, outcome.radio_fault) == (
            "failed",
            "delivery_status_0x5A",
            False,
        )
    finally:
        await terminal.stop()


async def test_message_references_wrap_past_255_without_reuse_in_flight(rig: Rig) -> None:
    terminal = await up(config(rig, send_deadline=60.0))
    try:
        units = [UNIT + i for i in range(4)]
        outcomes = await asyncio.gather(
            *(terminal.send_text(units[i % 4], f"Melding {i}") for i in range(300))
        )
        assert [o.kind for o in outcomes] == ["delivered"] * 300
        refs = [o.message_references[0] for o in outcomes]
        assert max(refs) == 255
        assert len(set(refs)) == 255  # every reference used, then reused after release
        assert not terminal._allocator.in_flight
    finally:
        await terminal.stop()


async def test_read_report_arrives_after_delivered(tmp_path: Path) -> None:
    rig = await start_rig(tmp_path, behaviour="responsive", time_scale=0.05)
    terminal = await up(config(rig))
    try:
        outcome = await terminal.send_text(
            UNIT, "Hjertestans", reports=ReportLevel.READ, wait_for=ReportLevel.READ
        )
        assert outcome.kind == "read"
    finally:
        await terminal.stop()
        await rig.emulator.stop()


async def test_two_radios_one_taken_away_loses_no_send(tmp_path: Path) -> None:
    rig = await start_rig(tmp_path, radios=2, sds_delay_ms=100.0)
    pool = RadioPool([Terminal(config(rig, "gw1")), Terminal(config(rig, "gw2"))], retry_delay=0.1)
    await pool.start()
    try:
        assert await pool.wait_ready(10, count=2)
        sends = [
            asyncio.create_task(pool.send_text(UNIT + i % 4, f"Utalarmering {i}"))
            for i in range(20)
        ]
        await asyncio.sleep(0.05)
        await rig.fault("gw1", "reboot", duration_s=3.0)
        outcomes = await asyncio.gather(*sends)
        assert [o.kind for o in outcomes] == ["delivered"] * 20
        assert {o.radio for o in outcomes} >= {"gw2"}
    finally:
        await pool.stop()
        await rig.emulator.stop()
