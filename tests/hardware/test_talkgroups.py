"""Talk-group backends: the pre-provisioned pool and the emulator's DGNA service."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from pathlib import Path

import aiohttp
import pytest
from structlog.testing import capture_logs

from hardware.talkgroups import (
    DgnaBackend,
    GssiRange,
    PoolBackend,
    TalkgroupError,
    TalkgroupPoolExhausted,
    TalkgroupUnavailable,
    backend_from_url,
)
from tests.hardware.test_radio_emulator import UNIT, Rig, start_rig


class FakeScans:
    """``GroupScans`` that records; ``scan`` (if set) is awaited for each scan."""

    def __init__(self, scan: Callable[[int], Awaitable[None]] | None = None) -> None:
        self.scan = scan
        self.scanned: list[int] = []
        self.kept: set[int] = set()

    async def scan_group(self, gssi: int) -> None:
        if self.scan is not None:
            await self.scan(gssi)
        self.scanned.append(gssi)
        self.kept.add(gssi)

    def forget_group(self, gssi: int) -> None:
        self.kept.discard(gssi)

    def keep_scanning(self, gssis: Iterable[int]) -> None:
        self.kept.update(gssis)


async def test_pool_never_gives_one_group_to_two_incidents() -> None:
    scans = FakeScans()
    scanned = scans.scanned
    backend = PoolBackend(GssiRange.parse("9001-9002"), scanner=scans)
    first = await backend.create("inc-1", [UNIT])
    again = await backend.create("inc-1", [UNIT + 1])
    second = await backend.create("inc-2", [UNIT + 2])
    assert (first.gssi, again.gssi, second.gssi) == (9001, 9001, 9002)
    assert dict(again.targets) == {UNIT: "instructed", UNIT + 1: "instructed"}
    assert first.instruction_text is not None
    assert "9001" in first.instruction_text
    await asyncio.sleep(0)  # the scans run in the background
    assert scanned == [9001, 9001, 9002]
    with pytest.raises(TalkgroupPoolExhausted):
        await backend.create("inc-3", [UNIT])
    await backend.release("inc-1")
    assert (await backend.create("inc-3", [UNIT])).gssi == 9001


async def test_pool_group_is_handed_out_before_the_radios_have_scanned_it() -> None:
    # A callout's first SDS waits for create(): the AT+CTGS of every radio must not.
    scans_may_finish = asyncio.Event()

    async def slow_scan(gssi: int) -> None:
        await scans_may_finish.wait()

    scans = FakeScans(slow_scan)
    scanned = scans.scanned
    backend = PoolBackend(GssiRange.parse("9001-9002"), scanner=scans)
    assignment = await asyncio.wait_for(backend.create("inc-1", [UNIT]), 1)
    assert assignment.gssi == 9001
    assert scanned == []
    scans_may_finish.set()
    for _ in range(10):
        await asyncio.sleep(0)
    assert scanned == [9001]


async def test_a_failed_scan_is_logged_and_close_cancels_the_scans_still_running() -> None:
    never = asyncio.Event()

    async def scan(gssi: int) -> None:
        if gssi == 9001:
            raise RuntimeError("radio pool stopped")
        await never.wait()

    backend = PoolBackend(GssiRange.parse("9001-9002"), scanner=FakeScans(scan))
    with capture_logs() as logs:
        await backend.create("inc-1", [UNIT])
        await backend.create("inc-2", [UNIT])
        for _ in range(10):
            await asyncio.sleep(0)
        await asyncio.wait_for(backend.close(), 1)  # the second scan is still waiting
    assert [(e["event"], e["gssi"]) for e in logs] == [("group_scan_failed", 9001)]
    assert "RuntimeError" in logs[0]["error"]


async def test_pool_allocation_is_restored_after_a_restart() -> None:
    scans = FakeScans()
    backend = PoolBackend(GssiRange.parse("9001-9003"), scanner=scans)
    backend.restore({"inc-old": 9001, "inc-older": 9002})
    assert scans.kept == {9001, 9002}  # the radios scan them whenever they initialise
    assert (await backend.create("inc-new", [UNIT])).gssi == 9003
    assert (await backend.create("inc-old", [UNIT])).gssi == 9001
    with pytest.raises(ValueError, match="9001"):
        backend.restore({"a": 9001, "b": 9001})
    await backend.release("inc-older")
    assert 9002 not in scans.kept  # a released group is scanned no more
    assert 9001 in scans.kept


def test_backend_urls_pick_the_backend() -> None:
    assert isinstance(backend_from_url("pool:9001-9099"), PoolBackend)
    assert isinstance(backend_from_url("emulator:///nonexistent/ready.json"), DgnaBackend)
    with pytest.raises(ValueError, match="talk-group"):
        backend_from_url("ftp://x")


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_dgna_service_that_cannot_be_asked_is_unavailable_not_refusing(
    tmp_path: Path,
) -> None:
    unreachable = DgnaBackend(f"http://127.0.0.1:{_closed_port()}", GssiRange(9001, 9099))
    no_ready_file = DgnaBackend(f"emulator://{tmp_path}/ready.json", GssiRange(9001, 9099))
    try:
        with pytest.raises(TalkgroupUnavailable) as down:
            await unreachable.create("inc-1", [UNIT])
        assert down.value.cause == "ClientConnectorError"
        with pytest.raises(TalkgroupUnavailable) as missing:
            await no_ready_file.create("inc-1", [UNIT])
        assert missing.value.cause == "LinkError"  # read_ready_file: no such file
    finally:
        await unreachable.close()
        await no_ready_file.close()


async def test_dgna_refusal_is_not_unavailability(dgna_rig: Rig) -> None:
    backend = DgnaBackend(dgna_rig.emulator.control_url, GssiRange(9001, 9099))
    try:
        assert (await backend.create("inc-1", [UNIT])).gssi == 9001
        async with (
            aiohttp.ClientSession() as session,
            session.delete(dgna_rig.emulator.control_url + "/dgna/groups/9001") as response,
        ):
            assert response.status < 300
        with pytest.raises(TalkgroupError, match="answered 404") as refused:
            await backend.modify("inc-1", add=[UNIT + 1])
        assert not isinstance(refused.value, TalkgroupUnavailable)
    finally:
        await backend.close()


@pytest.fixture
async def dgna_rig(tmp_path: Path) -> AsyncIterator[Rig]:
    rig = await start_rig(tmp_path, dgna_delay_ms=20.0, dgna_timeout_s=0.5)
    yield rig
    await rig.emulator.stop()


async def test_dgna_group_is_created_modified_and_released(dgna_rig: Rig) -> None:
    backend = DgnaBackend(f"emulator://{dgna_rig.ready}", GssiRange(9001, 9099), poll_interval=0.05)
    try:
        await dgna_rig.post(f"/units/{UNIT + 2}/coverage", {"in_coverage": False})
        created = await backend.create("inc-1", [UNIT, UNIT + 1, UNIT + 2])
        assert created.gssi == 9001
        assert dict(created.targets) == {
            UNIT: "acknowledged",
            UNIT + 1: "acknowledged",
            UNIT + 2: "timeout",
        }
        modified = await backend.modify("inc-1", add=[UNIT + 3], remove=[UNIT])
        assert dict(modified.targets)[UNIT + 3] == "acknowledged"
        assert UNIT not in modified.targets
        await backend.release("inc-1")
        async with (
            aiohttp.ClientSession() as session,
            session.get(dgna_rig.emulator.control_url + "/dgna/groups") as response,
        ):
            assert await response.json() == []
        await backend.release("inc-1")  # idempotent
    finally:
        await backend.close()


async def test_dgna_skips_a_group_already_taken_on_the_network(dgna_rig: Rig) -> None:
    await dgna_rig.post("/dgna/groups", {"gssi": 9001, "targets": [UNIT]})
    backend = DgnaBackend(dgna_rig.emulator.control_url, GssiRange(9001, 9099))
    try:
        assert (await backend.create("inc-1", [UNIT + 1])).gssi == 9002
    finally:
        await backend.close()


async def _network_groups(rig: Rig) -> dict[int, list[int]]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(rig.emulator.control_url + "/dgna/groups") as response,
    ):
        return {g["gssi"]: sorted(int(i) for i in g["targets"]) for g in await response.json()}


async def test_dgna_reserves_each_gssi_before_asking_the_network_for_it(dgna_rig: Rig) -> None:
    await dgna_rig.post("/dgna/groups", {"gssi": 9001, "targets": [UNIT]})  # someone else's
    backend = DgnaBackend(dgna_rig.emulator.control_url, GssiRange(9001, 9099))
    asked: list[tuple[int, dict[int, list[int]]]] = []

    async def reserve(gssi: int) -> bool:
        asked.append((gssi, await _network_groups(dgna_rig)))
        return gssi != 9002  # the caller's record says 9002 is taken

    try:
        assert (await backend.create("inc-1", [UNIT + 1], reserve=reserve)).gssi == 9003
        # Each GSSI reserved before the network had it; 9001 refused by the network (409),
        # 9002 by the caller.
        assert [(gssi, sorted(groups)) for gssi, groups in asked] == [
            (9001, [9001]),
            (9002, [9001]),
            (9003, [9001]),
        ]
        assert backend.gssis.held == {"inc-1": 9003}
    finally:
        await backend.close()


async def test_dgna_create_for_a_held_gssi_takes_up_the_group_or_creates_it_anew(
    dgna_rig: Rig,
) -> None:
    """After a restart the incident holds a GSSI reserved for a create that was cut off:
    the group exists if the network said yes before the gateway died, else not."""
    backend = DgnaBackend(dgna_rig.emulator.control_url, GssiRange(9001, 9099))
    try:
        await dgna_rig.post("/dgna/groups", {"gssi": 9005, "targets": [UNIT]})
        backend.restore({"inc-1": 9005, "inc-2": 9006})  # 9006 never reached the network
        taken_up = await backend.create("inc-1", [UNIT, UNIT + 1])
        assert taken_up.gssi == 9005
        assert set(taken_up.targets) == {UNIT, UNIT + 1}
        anew = await backend.create("inc-2", [UNIT + 2])
        assert anew.gssi == 9001  # the held one was gone (404): a fresh allocation
        assert await _network_groups(dgna_rig) == {9001: [UNIT + 2], 9005: [UNIT, UNIT + 1]}
        assert backend.gssis.held == {"inc-1": 9005, "inc-2": 9001}
    finally:
        await backend.close()
