"""Message references and the delivery tracker, without a radio."""

from __future__ import annotations

import asyncio

import pytest

from hardware.delivery import DeliveryTracker, PendingSend, ReferenceAllocator, ReportLevel

UNIT = 2040101


async def test_references_wrap_past_255_skipping_those_in_flight() -> None:
    allocator = ReferenceAllocator()
    held = allocator.try_acquire(3)
    assert held == (1, 2, 3)
    first_round = allocator.try_acquire(252)
    assert first_round is not None
    assert first_round[-1] == 255
    allocator.release(first_round)
    # 1-3 are still in flight: the next ones wrap around past 255 and skip them.
    assert allocator.try_acquire(2) == (4, 5)
    assert not set(held) & set(allocator.try_acquire(250) or ())


def exhausted() -> ReferenceAllocator:
    """An allocator with all 255 references in flight."""
    allocator = ReferenceAllocator()
    assert allocator.try_acquire(255) is not None
    return allocator


async def test_send_waits_while_all_255_references_are_in_flight() -> None:
    allocator = exhausted()
    waiter = asyncio.create_task(allocator.acquire(1))
    await asyncio.sleep(0.01)
    assert not waiter.done()
    allocator.release([77])
    assert await asyncio.wait_for(waiter, 2) == (77,)


async def test_an_urgent_sender_takes_the_next_freed_reference_before_earlier_waiters() -> None:
    allocator = exhausted()
    routine = asyncio.create_task(allocator.acquire(1))
    await asyncio.sleep(0.01)
    urgent = asyncio.create_task(allocator.acquire(1, urgent=True))
    await asyncio.sleep(0.01)
    # While the urgent one waits, a freed reference is nobody else's, not even on the spot.
    allocator.release([10])
    assert allocator.try_acquire(1) is None
    assert await asyncio.wait_for(urgent, 2) == (10,)
    assert not routine.done()
    # With no urgent sender left waiting, the others are served again.
    allocator.release([20])
    assert await asyncio.wait_for(routine, 2) == (20,)


async def test_a_cancelled_urgent_waiter_does_not_hold_back_the_others() -> None:
    allocator = exhausted()
    urgent = asyncio.create_task(allocator.acquire(1, urgent=True))
    routine = asyncio.create_task(allocator.acquire(1))
    await asyncio.sleep(0.01)
    urgent.cancel()
    with pytest.raises(asyncio.CancelledError):
        await urgent
    allocator.release([5])
    assert await asyncio.wait_for(routine, 2) == (5,)


async def test_asking_for_more_references_than_exist_is_an_error() -> None:
    with pytest.raises(ValueError, match="256"):
        ReferenceAllocator().try_acquire(256)


def tracker_with_stages() -> tuple[DeliveryTracker, list[str]]:
    stages: list[str] = []

    def on_stage(pending: PendingSend, stage: str) -> None:
        stages.append(stage)

    return DeliveryTracker(ReferenceAllocator(), on_stage=on_stage), stages


async def test_report_from_another_unit_with_the_same_reference_is_ignored() -> None:
    tracker, _ = tracker_with_stages()
    pending = tracker.register(
        UNIT, (9,), wanted=ReportLevel.DELIVERED, reports_requested=ReportLevel.DELIVERED
    )
    tracker.on_report(UNIT + 1, 9, 0x00)
    assert not pending.outcome.done()
    tracker.on_report(UNIT, 9, 0x00)
    assert pending.outcome.result().kind == "delivered"
    tracker.finish(pending)
    assert tracker.outstanding == 0


async def test_read_decoded_before_the_sender_woke_is_still_announced() -> None:
    tracker, stages = tracker_with_stages()
    pending = tracker.register(
        UNIT, (5,), wanted=ReportLevel.DELIVERED, reports_requested=ReportLevel.READ
    )
    tracker.on_short_report(UNIT, 5, 2)  # received
    tracker.on_short_report(UNIT, 5, 3)  # consumed, in the same read from the line
    assert pending.outcome.result().kind == "delivered"
    tracker.finish(pending)
    assert stages == ["read"]
    assert tracker.outstanding == 0


async def test_delivered_send_waiting_for_read_holds_its_reference_until_read() -> None:
    tracker, stages = tracker_with_stages()
    pending = tracker.register(
        UNIT, (5,), wanted=ReportLevel.DELIVERED, reports_requested=ReportLevel.READ
    )
    tracker.on_report(UNIT, 5, 0x00)
    tracker.finish(pending)
    assert tracker.outstanding == 1  # lingering for the read report
    tracker.on_report(UNIT, 5, 0x02)
    assert stages == ["read"]
    assert tracker.outstanding == 0


async def test_multi_part_send_fails_when_one_part_fails() -> None:
    tracker, _ = tracker_with_stages()
    pending = tracker.register(
        UNIT, (1, 2, 3), wanted=ReportLevel.DELIVERED, reports_requested=ReportLevel.DELIVERED
    )
    tracker.on_report(UNIT, 1, 0x00)
    tracker.on_report(UNIT, 2, 0x4B)
    outcome = pending.outcome.result()
    assert (outcome.kind, outcome.reason, outcome.temporary) == (
        "failed",
        "delivery_status_0x4B",
        False,
    )


async def test_sent_is_announced_when_the_network_takes_every_part_before_any_report() -> None:
    tracker, stages = tracker_with_stages()
    pending = tracker.register(
        UNIT, (5, 6), wanted=ReportLevel.DELIVERED, reports_requested=ReportLevel.DELIVERED
    )
    tracker.mark_sent(pending, 5)
    assert stages == []  # one part of two is not the send
    tracker.mark_sent(pending, 6)
    assert stages == ["sent"]
    assert not pending.outcome.done()  # still waiting for the unit's report
    tracker.on_report(UNIT, 5, 0x00)
    tracker.on_report(UNIT, 6, 0x00)
    assert pending.outcome.result().kind == "delivered"
    assert stages == ["sent"]
    tracker.finish(pending)
