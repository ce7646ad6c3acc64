"""Several radios used as one: sends spread over healthy terminals, one merged event stream.

A send goes to the healthy terminal with the fewest sends outstanding. A send that fails
because of the radio itself (link lost, radio rebooted, out of service: ``radio_fault``)
is sent again on another terminal, within the same deadline. Events that field units
originate are heard by every gateway radio in range; the pool merges them so that one
transmission is one event: same (source ISSI, kind, payload) within ``dedupe_window`` seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from typing import Any

import structlog

from hardware.delivery import ReportLevel, SendOutcome
from hardware.fanout import Fanout
from hardware.radio_events import RadioEvent
from hardware.terminal import CommandReply, Terminal

__all__ = ["RadioPool"]

log = structlog.get_logger("tetragw.pool")


class RadioPool:
    """Terminals used together. ``start()`` starts them all; ``stop()`` stops them."""

    def __init__(
        self,
        terminals: Sequence[Terminal],
        *,
        dedupe_window: float = 5.0,
        retry_delay: float = 0.5,
        default_deadline: float = 60.0,
        event_queue_size: int = 5000,
    ) -> None:
        if not terminals:
            raise ValueError("a radio pool needs at least one terminal")
        self.terminals: tuple[Terminal, ...] = tuple(terminals)
        self._dedupe_window = dedupe_window
        self._retry_delay = retry_delay
        self._default_deadline = default_deadline
        self._queue_size = event_queue_size
        self._assigned: dict[str, int] = {t.name: 0 for t in self.terminals}
        self._recent: OrderedDict[tuple[Any, ...], float] = OrderedDict()
        self._events: Fanout[RadioEvent] = Fanout(
            lambda event: log.warning("pool_event_dropped_queue_full", kind=type(event).__name__)
        )
        self._tasks: list[asyncio.Task[None]] = []
        # The incident groups every radio scans, shared with each: a radio scans them again
        # whenever it initialises (a reboot forgets its scans).
        self._scanned: set[int] = set()
        for terminal in self.terminals:
            terminal.scanned_groups = self._scanned

    async def start(self) -> None:
        """Subscribe to every terminal's events, then start the terminals."""
        for terminal in self.terminals:
            stream = terminal.events()  # subscribed now, before the terminal starts
            self._tasks.append(
                asyncio.create_task(self._relay(stream), name=f"pool-relay-{terminal.name}")
            )
        for terminal in self.terminals:
            await terminal.start()

    async def stop(self) -> None:
        """Stop every terminal and the event relays."""
        for terminal in self.terminals:
            await terminal.stop()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()

    def healthy(self) -> list[Terminal]:
        """The terminals that are up now."""
        return [t for t in self.terminals if t.healthy]

    def outstanding(self) -> dict[str, int]:
        """Sends in progress per terminal, as the pool counts them."""
        return dict(self._assigned)

    async def wait_ready(self, within: float | None = None, *, count: int = 1) -> bool:
        """Wait until ``count`` terminals are up; False if ``within`` seconds pass first."""
        waiters = [asyncio.ensure_future(t.wait_ready()) for t in self.terminals]
        try:
            async with asyncio.timeout(within):
                while len(self.healthy()) < count:
                    await asyncio.wait(
                        [w for w in waiters if not w.done()] or waiters,
                        return_when=asyncio.FIRST_COMPLETED,
                    )
                    if all(w.done() for w in waiters) and len(self.healthy()) < count:
                        return False
        except TimeoutError:
            return False
        finally:
            for w in waiters:
                w.cancel()
        return True

    def events(self) -> AsyncIterator[RadioEvent]:
        """The merged events of every terminal from now on, duplicates removed."""
        return self._events.subscribe(self._queue_size)

    def event_batches(self, max_batch: int = 256) -> AsyncIterator[list[RadioEvent]]:
        """The stream of :meth:`events`, in batches: each waits for one event, then takes
        whatever else is already queued (up to ``max_batch`` events in all) without waiting.

        Subscribed on the call, like :meth:`events`. Never yields an empty batch; arrival
        order is kept within and across batches.
        """
        return self._events.subscribe_batches(self._queue_size, max_batch)

    async def send_text(
        self,
        issi: int,
        text: str,
        deadline: float | None = None,
        *,
        reports: ReportLevel = ReportLevel.DELIVERED,
        wait_for: ReportLevel = ReportLevel.DELIVERED,
        send_id: str | None = None,
        urgent: bool = False,
    ) -> SendOutcome:
        """``Terminal.send_text`` on the best terminal; moved to another on a radio fault."""

        async def attempt(terminal: Terminal, until: float) -> SendOutcome:
            return await terminal.send_text(
                issi,
                text,
                until,
                reports=reports,
                wait_for=wait_for,
                send_id=send_id,
                urgent=urgent,
            )

        return await self._send(attempt, deadline, issi)

    async def send_status(
        self, issi: int, value: int, deadline: float | None = None
    ) -> SendOutcome:
        """``Terminal.send_status`` on the best terminal; moved to another on a radio fault."""

        async def attempt(terminal: Terminal, until: float) -> SendOutcome:
            return await terminal.send_status(issi, value, until)

        return await self._send(attempt, deadline, issi)

    async def scan_group(self, gssi: int) -> dict[str, CommandReply | None]:
        """Let every terminal scan ``gssi`` (so the gateway hears an incident group): the
        healthy ones now, and every one whenever it next initialises."""
        self._scanned.add(gssi)
        replies: dict[str, CommandReply | None] = {}
        for terminal in self.healthy():
            try:
                replies[terminal.name] = await terminal.select_group(gssi, scan=True)
            except (ConnectionError, TimeoutError):
                replies[terminal.name] = None
        return replies

    def forget_group(self, gssi: int) -> None:
        """Scan ``gssi`` no more from each terminal's next initialisation on. The PEI cannot
        drop one scanned group (``AT+CTGS=0`` detaches every group), so a radio that scans
        it goes on until it reboots."""
        self._scanned.discard(gssi)

    def keep_scanning(self, gssis: Iterable[int]) -> None:
        """After a restart: groups still held, scanned whenever a terminal initialises."""
        self._scanned.update(gssis)

    # ---- internals --------------------------------------------------------------------

    async def _send(
        self,
        attempt: Callable[[Terminal, float], Awaitable[SendOutcome]],
        deadline: float | None,
        issi: int,
    ) -> SendOutcome:
        loop = asyncio.get_running_loop()
        until = loop.time() + self._default_deadline if deadline is None else deadline
        avoid: Terminal | None = None
        while True:
            terminal = await self._pick(until, avoid)
            if terminal is None:
                return SendOutcome("timeout", "no_radio_up")
            self._assigned[terminal.name] += 1
            try:
                outcome = await attempt(terminal, until)
            finally:
                self._assigned[terminal.name] -= 1
            if not (outcome.kind == "failed" and outcome.radio_fault):
                return outcome
            log.warning("send_moved", radio=terminal.name, issi=issi, reason=outcome.reason)
            if loop.time() + self._retry_delay >= until:
                return outcome
            avoid = terminal
            if len(self.healthy()) <= 1:
                # Only this radio (or none) is left: give it a moment to recover.
                await asyncio.sleep(self._retry_delay)

    async def _pick(self, until: float, avoid: Terminal | None) -> Terminal | None:
        """The healthy terminal with the fewest sends, preferring one that is not ``avoid``."""
        while True:
            candidates = self.healthy()
            others = [t for t in candidates if t is not avoid]
            chosen = others or candidates
            if chosen:
                return min(chosen, key=lambda t: (self._assigned[t.name], t.outstanding))
            remaining = until - asyncio.get_running_loop().time()
            if remaining <= 0 or not await self.wait_ready(remaining):
                return None

    async def _relay(self, stream: AsyncIterator[RadioEvent]) -> None:
        async for event in stream:
            if not self._is_duplicate(event):
                self._events.emit(event)

    def _is_duplicate(self, event: RadioEvent) -> bool:
        key = event.dedupe_key()
        if key is None:
            return False
        now = asyncio.get_running_loop().time()
        while self._recent:
            oldest_key, seen = next(iter(self._recent.items()))
            if now - seen <= self._dedupe_window:
                break
            del self._recent[oldest_key]
        if key in self._recent:
            return True
        self._recent[key] = now
        return False
