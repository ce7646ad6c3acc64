"""The commands to one radio: one in flight, the next written as soon as the last is answered.

A PEI takes one command at a time: the next may be written only once the previous one's final
result (``OK``, ``ERROR``, ``+CME ERROR``...) has been read. ``CommandQueue`` keeps the
command in flight and those waiting behind it, in order, and writes the next one from the
reader's own call (``finish``), in the same event-loop step that read the final result. A
hand-over through a lock and the waiting task's wake-up would cost two more loop steps, each
as long as whatever else the gateway has to do at that moment; on a busy gateway that was
milliseconds of idle line per SDS.

An urgent command (``CommandWaiter.urgent``: an SDS of an urgent callout) is written before
every waiting command that is not urgent; among themselves, urgent and other commands keep
their order. A sequence that must not be broken (changing the SDS service, then sending) is
held together by the terminal's lock, not by this queue: only single commands are urgent.

Each command's timeout runs from its write, not from its queueing, so a queue behind a slow
command does not time out; a timeout or a failed write moves on to the next command. A caller
that gives up cancels its waiter's future: a waiter still queued is then skipped, never
written; one in flight stays in flight until the radio answers it or its timeout passes (the
answer is the radio's to that command, and must not be taken for the next one's).
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

from hardware.terminal_types import (
    CommandTimeoutError,
    CommandWaiter,
    RadioDownError,
    command_name,
)
from protocols.pei.events import FinalResult

__all__ = ["CommandQueue"]


class CommandQueue:
    """One radio's commands, in order (urgent ones first), one in flight (the reader calls
    ``finish``)."""

    def __init__(
        self,
        write: Callable[[bytes], None],
        on_write_failed: Callable[[Exception], None],
    ) -> None:
        """``write`` puts one command's bytes on the line (raises ``ConnectionError`` or
        ``OSError`` when it cannot); ``on_write_failed`` hears of each failed write."""
        self._write = write
        self._on_write_failed = on_write_failed
        self._waiting: deque[CommandWaiter] = deque()
        self._urgent: deque[CommandWaiter] = deque()
        self.in_flight: CommandWaiter | None = None

    def __len__(self) -> int:
        """Commands not yet answered: the one in flight and those waiting (a waiter given up
        while waiting counts until the queue reaches and skips it)."""
        return len(self._urgent) + len(self._waiting) + (self.in_flight is not None)

    def submit(self, waiter: CommandWaiter) -> None:
        """Queue ``waiter``'s command (behind the other urgent ones if it is urgent); written at
        once if nothing is in flight."""
        (self._urgent if waiter.urgent else self._waiting).append(waiter)
        if self.in_flight is None:
            self._start_next()

    def finish(self, final: FinalResult) -> CommandWaiter | None:
        """The radio's final result for the command in flight, which is returned (None if no
        command was in flight); the next command is written before this returns."""
        waiter = self.in_flight
        if waiter is None:
            return None
        self._settle(waiter)
        if not waiter.done.done():
            waiter.done.set_result(final)
        self._start_next()
        return waiter

    def fail_all(self, exc: Exception) -> None:
        """Fail the command in flight and every waiting one with ``exc`` (the link is gone)."""
        waiters = [*self._urgent, *self._waiting]
        self._urgent.clear()
        self._waiting.clear()
        if self.in_flight is not None:
            waiters.insert(0, self.in_flight)
            self._settle(self.in_flight)
        for waiter in waiters:
            if not waiter.done.done():
                waiter.done.set_exception(exc)

    def _settle(self, waiter: CommandWaiter) -> None:
        if waiter.timer is not None:
            waiter.timer.cancel()
            waiter.timer = None
        self.in_flight = None

    def _start_next(self) -> None:
        while self.in_flight is None and (self._urgent or self._waiting):
            waiter = (self._urgent or self._waiting).popleft()
            if waiter.done.done():
                continue  # its caller gave up before it was written
            try:
                self._write(waiter.line)
            except (ConnectionError, OSError) as exc:
                failure = exc if isinstance(exc, RadioDownError) else RadioDownError(str(exc))
                waiter.done.set_exception(failure)
                self._on_write_failed(failure)
                continue
            self.in_flight = waiter
            waiter.timer = asyncio.get_running_loop().call_later(
                waiter.timeout, self._expire, waiter
            )

    def _expire(self, waiter: CommandWaiter) -> None:
        if self.in_flight is not waiter:
            return
        self._settle(waiter)
        if not waiter.done.done():
            waiter.done.set_exception(CommandTimeoutError(command_name(waiter.line)))
        self._start_next()
