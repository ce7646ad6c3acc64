"""Byte pacing: hold a PEI link to its baud rate, in both directions.

At 8N1 every byte costs 10 bit times on the wire, so a link at ``baud`` carries
``baud / 10`` bytes per second. A pacer remembers when the wire becomes free; callers
wait until the bytes they move would have finished crossing it. ``baud = 0`` is unpaced.
"""

from __future__ import annotations

import asyncio

BITS_PER_BYTE_8N1 = 10
# Below this a sleep costs more than it is worth; the debt is carried to the next call.
_MIN_SLEEP_S = 0.002


class BytePacer:
    """Accumulates wire time for bytes and sleeps until it has passed."""

    def __init__(self, baud: int) -> None:
        if baud < 0:
            raise ValueError("baud must be >= 0")
        self.baud = baud
        self._byte_time = BITS_PER_BYTE_8N1 / baud if baud else 0.0
        self._free_at = 0.0

    @property
    def chunk_size(self) -> int:
        """A write size worth about 10 ms of wire time (at least 16 bytes)."""
        if not self.baud:
            return 65536
        return max(16, self.baud // BITS_PER_BYTE_8N1 // 100)

    def wire_time(self, count: int) -> float:
        """Seconds that ``count`` bytes occupy the wire."""
        return count * self._byte_time

    async def transmit(self, count: int) -> None:
        """Wait until ``count`` more bytes have crossed the wire after the ones before."""
        if not self._byte_time:
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        self._free_at = max(now, self._free_at) + count * self._byte_time
        delay = self._free_at - now
        if delay >= _MIN_SLEEP_S:
            await asyncio.sleep(delay)
