"""One stream of events handed to many subscribers, each through a bounded queue of its own.

A subscriber that falls behind loses events (``on_dropped`` hears of each) rather than
holding up the others or the producer. Used by a terminal (its radio's events) and by the
radio pool (the merged events of every terminal).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Generic, TypeVar

__all__ = ["Fanout"]

_T = TypeVar("_T")


class Fanout(Generic[_T]):
    """Subscribers' queues for one stream of ``_T``; :meth:`emit` hands each item to all."""

    def __init__(self, on_dropped: Callable[[_T], None]) -> None:
        self._on_dropped = on_dropped
        self._queues: set[asyncio.Queue[_T]] = set()

    def subscribe(self, queue_size: int) -> AsyncIterator[_T]:
        """Every item from the moment of the call; the queue goes when the iterator closes."""
        return self._drain(self._queue(queue_size))

    def subscribe_batches(self, queue_size: int, max_batch: int) -> AsyncIterator[list[_T]]:
        """As :meth:`subscribe`, in batches: each waits for one item, then takes whatever else
        is already queued (up to ``max_batch`` in all) without waiting. Never an empty batch;
        arrival order is kept within and across batches."""
        if max_batch < 1:
            raise ValueError("max_batch must be at least 1")
        return self._drain_batches(self._queue(queue_size), max_batch)

    def emit(self, item: _T) -> None:
        """Hand ``item`` to every subscriber (a full queue drops it for that subscriber)."""
        for queue in self._queues:
            try:
                queue.put_nowait(item)
            except asyncio.QueueFull:
                self._on_dropped(item)

    def _queue(self, size: int) -> asyncio.Queue[_T]:
        queue: asyncio.Queue[_T] = asyncio.Queue(size)
        self._queues.add(queue)
        return queue

    async def _drain(self, queue: asyncio.Queue[_T]) -> AsyncIterator[_T]:
        try:
            while True:
                yield await queue.get()
        finally:
            self._queues.discard(queue)

    async def _drain_batches(
        self, queue: asyncio.Queue[_T], max_batch: int
    ) -> AsyncIterator[list[_T]]:
        try:
            while True:
                batch = [await queue.get()]
                while len(batch) < max_batch and not queue.empty():
                    batch.append(queue.get_nowait())
                yield batch
        finally:
            self._queues.discard(queue)
