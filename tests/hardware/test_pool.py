"""The radio pool over in-memory radios: spreading, failover, merged events."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable

import pytest

from hardware.pool import RadioPool
from hardware.radio_events import LinkDown, LinkUp, RadioEvent, StatusReceived
from hardware.terminal import Terminal
from tests.hardware.fake_radio import FakeRadio
from tests.hardware.test_terminal import fast_config, next_event

UNIT = 2040101


@pytest.fixture
async def radios() -> AsyncIterator[tuple[FakeRadio, FakeRadio]]:
    pair = (FakeRadio(issi=2049999), FakeRadio(issi=2049998))
    yield pair
    for radio in pair:
        await radio.close()


async def started_pool(radios: tuple[FakeRadio, ...]) -> RadioPool:
    terminals = [
        Terminal(dataclasses.replace(fast_config(), name=f"gw{i + 1}"), connect=r.connect)
        for i, r in enumerate(radios)
    ]
    pool = RadioPool(terminals, retry_delay=0.05)
    await pool.start()
    assert await pool.wait_ready(5, count=len(radios))
    return pool


async def next_status(stream: AsyncIterator[RadioEvent]) -> StatusReceived:
    async with asyncio.timeout(5):
        async for event in stream:
            if isinstance(event, StatusReceived):
                return event
    raise AssertionError("stream ended")


async def test_sends_are_spread_least_outstanding_first(
    radios: tuple[FakeRadio, FakeRadio],
) -> None:
    for radio in radios:
        radio.report_delay = 0.2
    pool = await started_pool(radios)
    try:
        outcomes = await asyncio.gather(*(pool.send_text(UNIT + i, "Hei") for i in range(10)))
        assert [o.kind for o in outcomes] == ["delivered"] * 10
        assert sorted(len(r.sent) for r in radios) == [5, 5]
    finally:
        await pool.stop()


async def test_send_in_flight_on_a_radio_that_dies_is_retried_on_another(
    radios: tuple[FakeRadio, FakeRadio],
) -> None:
    doomed, survivor = radios
    doomed.unit_answer = "none"  # its report never comes: the send stays in flight
    survivor.report_delay = 0.3
    pool = await started_pool(radios)
    try:
        sends = [asyncio.create_task(pool.send_text(UNIT, f"Callout {i}")) for i in range(2)]
        await asyncio.sleep(0.1)
        assert len(doomed.sent) == 1
        doomed.drop_line()
        outcomes = await asyncio.gather(*sends)
        assert [o.kind for o in outcomes] == ["delivered", "delivered"]
        assert {o.radio for o in outcomes} == {"gw2"}
        assert len(survivor.sent) == 2
    finally:
        await pool.stop()


async def test_send_waits_for_a_radio_when_none_is_up() -> None:
    radio = FakeRadio()
    terminal = Terminal(fast_config(), connect=radio.connect)
    pool = RadioPool([terminal])
    send = asyncio.create_task(pool.send_text(UNIT, "Hei"))
    await asyncio.sleep(0.05)
    assert not send.done()
    await pool.start()
    try:
        assert (await send).kind == "delivered"
    finally:
        await pool.stop()
        await radio.close()


async def test_status_heard_by_two_radios_is_one_event(
    radios: tuple[FakeRadio, FakeRadio],
) -> None:
    pool = await started_pool(radios)
    stream = pool.events()
    try:
        for radio in radios:
            radio.unit_sends(13, UNIT, b"\x80\x04")
        first = await next_status(stream)
        assert first.value == 0x8004
        radios[1].unit_sends(13, UNIT, b"\x80\x05")  # a different status is not a duplicate
        second = await next_status(stream)
        assert second.value == 0x8005
    finally:
        await pool.stop()


async def test_event_batches_take_what_is_already_queued_in_order_up_to_max_batch(
    radios: tuple[FakeRadio, FakeRadio],
) -> None:
    pool = await started_pool(radios)
    batches = pool.event_batches(max_batch=3)
    witness = pool.events()
    try:
        values = [0x8002, 0x8003, 0x8004, 0x8005, 0x8006]
        for value in values:
            radios[0].unit_sends(13, UNIT, value.to_bytes(2, "big"))
        # Both subscriptions receive each event at once: once the witness has seen the
        # last status, every status waits in the batch stream's queue too.
        for _ in values:
            await next_status(witness)
        taken: list[list[RadioEvent]] = []
        async with asyncio.timeout(5):
            while sum(isinstance(e, StatusReceived) for b in taken for e in b) < len(values):
                taken.append(await anext(batches))
        statuses = [e for b in taken for e in b if isinstance(e, StatusReceived)]
        assert [e.value for e in statuses] == values
        assert len(taken[0]) == 3  # more was queued: taken at once, up to max_batch
        assert all(1 <= len(batch) <= 3 for batch in taken)
    finally:
        await pool.stop()


async def test_event_batches_refuse_a_max_batch_below_one(
    radios: tuple[FakeRadio, FakeRadio],
) -> None:
    pool = RadioPool([Terminal(fast_config(), connect=radios[0].connect)])
    with pytest.raises(ValueError, match="max_batch"):
        pool.event_batches(max_batch=0)


async def test_incident_groups_are_scanned_again_after_a_reboot_and_by_late_radios(
    radios: tuple[FakeRadio, FakeRadio],
) -> None:
    """A reboot forgets a radio's scans, and a radio down at the scan never got it: both
    scan every group still held when they initialise. A released one is not scanned again."""
    first, late = radios
    terminals = [
        Terminal(dataclasses.replace(fast_config(), name=f"gw{i + 1}"), connect=r.connect)
        for i, r in enumerate(radios)
    ]
    pool = RadioPool(terminals, retry_delay=0.05)
    pool.keep_scanning([9001])  # held before a restart
    await terminals[0].start()
    stream = terminals[0].events()
    try:
        assert await pool.wait_ready(5)
        await settled(lambda: first.groups == {("2", "9001")})  # once up, not before
        await pool.scan_group(9002)  # gw2 is not up
        pool.forget_group(9001)
        assert first.groups == {("2", "9001"), ("2", "9002")}

        first.reboot()
        await next_event(stream, LinkDown)
        await next_event(stream, LinkUp)
        await settled(lambda: first.groups == {("2", "9002")})

        late.refuse_groups = True  # a refusal is logged; the radio stays up
        await terminals[1].start()
        assert await pool.wait_ready(5, count=2)
        await settled(lambda: "+CTGS" in late.commands)
        assert terminals[1].healthy
    finally:
        await pool.stop()


async def settled(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(5):
        while not condition():
            await asyncio.sleep(0.01)
