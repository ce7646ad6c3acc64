"""One stream to many subscribers: each gets every item; a full queue drops for itself only."""

from __future__ import annotations

import asyncio

import pytest

from hardware.fanout import Fanout


async def test_every_subscriber_gets_every_item_and_a_full_one_loses_only_its_own() -> None:
    dropped: list[int] = []
    fanout: Fanout[int] = Fanout(dropped.append)
    roomy = fanout.subscribe(10)
    tight = fanout.subscribe(1)
    for item in (1, 2, 3):
        fanout.emit(item)

    assert [await anext(roomy) for _ in range(3)] == [1, 2, 3]
    assert await anext(tight) == 1
    assert dropped == [2, 3]  # tight's queue was full for them; roomy kept them


async def test_batches_take_what_is_queued_up_to_the_limit_in_order() -> None:
    fanout: Fanout[int] = Fanout(lambda _: None)
    batches = fanout.subscribe_batches(10, max_batch=3)
    for item in range(5):
        fanout.emit(item)

    assert await anext(batches) == [0, 1, 2]
    assert await anext(batches) == [3, 4]
    waiting = asyncio.ensure_future(anext(batches))
    await asyncio.sleep(0)
    assert not waiting.done()  # never an empty batch: it waits for the next item
    fanout.emit(5)
    assert await waiting == [5]


async def test_a_closed_subscription_no_longer_receives() -> None:
    dropped: list[int] = []
    fanout: Fanout[int] = Fanout(dropped.append)
    stream = fanout.subscribe(1)
    fanout.emit(1)
    assert await anext(stream) == 1
    await stream.aclose()  # type: ignore[attr-defined]
    fanout.emit(2)
    fanout.emit(3)
    assert dropped == []  # its queue is gone, so nothing was dropped for it


def test_a_batch_limit_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="max_batch"):
        Fanout[int](lambda _: None).subscribe_batches(10, max_batch=0)
