"""Byte pacing: hold a PEI link to its baud rate, in both directions.

At 8N1 every byte costs 10 bit times on the wire, so a link at ``baud`` carries
``baud / 10`` bytes per second. A pacer remembers when the wire becomes free; callers
wait until the bytes they move would have finished crossing it, counted from when the bytes
were ready to move (not from when the emulator's event loop got to them). ``baud = 0`` is
unpaced.
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

    def reserve(self, count: int, now: float, ready_at: float | None = None) -> float:
        """Book ``count`` bytes on the wire; return how long after ``now`` they have crossed it
        (zero or less: already).

        ``ready_at`` (default ``now``): when the bytes were there to be moved, queued by the
        radio or arrived from the gateway. Their wire time starts then, or when the wire is
        free, not when the caller got to run: a UART sends queued bytes back to back, so a
        late wake-up of this process must not leave the wire idle and take line time that a
        gateway would have had. Bytes never cross faster than the baud rate: each booking
        starts no earlier than the end of the one before.
        """
        start = now if ready_at is None else min(now, ready_at)
        self._free_at = max(start, self._free_at) + count * self._byte_time
        return self._free_at - now

    async def transmit(self, count: int, ready_at: float | None = None) -> None:
        """Wait until ``count`` more bytes have crossed the wire after the ones before
        (``ready_at``: see :meth:`reserve`)."""
        if not self._byte_time:
            return
        delay = self.reserve(count, asyncio.get_running_loop().time(), ready_at)
        if delay >= _MIN_SLEEP_S:
            await asyncio.sleep(delay)
