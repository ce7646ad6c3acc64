"""The command queue of one radio: order, the next write from the reader's call, timeouts."""

from __future__ import annotations

import asyncio

import pytest

from hardware.command_queue import CommandQueue
from hardware.terminal_types import CommandTimeoutError, CommandWaiter, RadioDownError
from protocols.pei.events import CmeError, Ok


class Line:
    """The radio's side of the line: what was written, in order; may refuse writes."""

    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.refuse: OSError | None = None
        self.failures: list[Exception] = []

    def write(self, line: bytes) -> None:
        if self.refuse is not None:
            raise self.refuse
        self.written.append(line)

    def failed(self, exc: Exception) -> None:
        self.failures.append(exc)


def waiter(line: bytes, timeout: float = 1.0) -> CommandWaiter:
    return CommandWaiter(asyncio.get_running_loop().create_future(), line=line, timeout=timeout)


def submit(queue: CommandQueue, *lines: bytes) -> list[CommandWaiter]:
    """A waiter for each of ``lines``, submitted in order."""
    waiters = [waiter(line) for line in lines]
    for w in waiters:
        queue.submit(w)
    return waiters


@pytest.fixture
def line() -> Line:
    return Line()


@pytest.fixture
def queue(line: Line) -> CommandQueue:
    return CommandQueue(line.write, line.failed)


async def test_the_next_command_is_written_by_the_call_that_reads_the_final_result(
    line: Line, queue: CommandQueue
) -> None:
    first, second, third = submit(queue, b"AT1\r", b"AT2\r", b"AT3\r")
    assert line.written == [b"AT1\r"]  # one in flight
    assert len(queue) == 3

    assert queue.finish(Ok()) is first
    # No loop step in between: the reader's own call wrote the next command.
    assert line.written == [b"AT1\r", b"AT2\r"]
    assert queue.in_flight is second
    assert first.done.result() == Ok()
    assert not second.done.done()

    assert queue.finish(CmeError(41)) is second
    assert second.done.result() == CmeError(41)
    assert queue.finish(Ok()) is third
    assert line.written == [b"AT1\r", b"AT2\r", b"AT3\r"]
    assert len(queue) == 0
    assert queue.finish(Ok()) is None  # an answer to nothing


async def test_a_timeout_runs_from_the_write_and_moves_on_to_the_next_command(
    line: Line, queue: CommandQueue
) -> None:
    unanswered, behind = waiter(b"AT1\r", timeout=0.15), waiter(b"AT2\r", timeout=0.05)
    queue.submit(unanswered)
    queue.submit(behind)
    with pytest.raises(CommandTimeoutError):
        await unanswered.done
    # ``behind`` waited 0.15 s in the queue, three times its own timeout, and is in flight now.
    assert queue.in_flight is behind
    assert line.written == [b"AT1\r", b"AT2\r"]
    assert queue.finish(Ok()) is behind
    assert behind.done.result() == Ok()


async def test_a_command_whose_caller_gave_up_before_its_write_is_never_written(
    line: Line, queue: CommandQueue
) -> None:
    _first, dropped, last = submit(queue, b"AT1\r", b"AT2\r", b"AT3\r")
    dropped.done.cancel()  # what cancelling the caller awaiting it does
    assert len(queue) == 3
    queue.finish(Ok())
    assert line.written == [b"AT1\r", b"AT3\r"]
    assert queue.in_flight is last
    queue.finish(Ok())
    assert len(queue) == 0


async def test_a_cancelled_command_in_flight_keeps_the_line_until_the_radio_answers_it(
    line: Line, queue: CommandQueue
) -> None:
    gave_up, next_one = submit(queue, b"AT1\r", b"AT2\r")
    gave_up.done.cancel()
    assert line.written == [b"AT1\r"]  # the radio's answer is still due to AT1
    assert queue.finish(Ok()) is gave_up
    assert line.written == [b"AT1\r", b"AT2\r"]
    assert not next_one.done.done()  # AT1's OK was not taken for AT2's


async def test_a_failed_write_fails_that_command_and_the_next_is_tried(
    line: Line, queue: CommandQueue
) -> None:
    line.refuse = OSError(5, "Input/output error")
    broken = waiter(b"AT1\r")
    queue.submit(broken)
    with pytest.raises(RadioDownError):
        await broken.done
    assert queue.in_flight is None
    assert len(line.failures) == 1
    line.refuse = None
    works = waiter(b"AT2\r")
    queue.submit(works)
    assert line.written == [b"AT2\r"]


async def test_fail_all_fails_the_command_in_flight_and_every_waiting_one(
    line: Line, queue: CommandQueue
) -> None:
    waiters = [waiter(b"AT1\r", timeout=0.05), waiter(b"AT2\r"), waiter(b"AT3\r")]
    for w in waiters:
        queue.submit(w)
    queue.fail_all(RadioDownError("link_closed"))
    for w in waiters:
        with pytest.raises(RadioDownError):
            await w.done
    assert len(queue) == 0
    await asyncio.sleep(0.1)  # the in-flight timer was cancelled: nothing else is written
    assert line.written == [b"AT1\r"]


async def test_an_urgent_command_is_written_before_every_waiting_one_that_is_not(
    line: Line, queue: CommandQueue
) -> None:
    routine = submit(queue, b"AT1\r", b"AT2\r", b"AT3\r")
    first_urgent, second_urgent = waiter(b"URGENT1\r"), waiter(b"URGENT2\r")
    first_urgent.urgent = second_urgent.urgent = True
    queue.submit(first_urgent)
    queue.submit(second_urgent)
    assert len(queue) == 5
    assert line.written == [b"AT1\r"]  # the command in flight is not interrupted

    for _ in range(4):
        queue.finish(Ok())
    # Urgent ones first, in their own order; then the others, in theirs.
    assert line.written == [b"AT1\r", b"URGENT1\r", b"URGENT2\r", b"AT2\r", b"AT3\r"]
    assert routine[0].done.result() == Ok()
    assert first_urgent.done.result() == Ok()


async def test_fail_all_fails_waiting_urgent_commands_too(line: Line, queue: CommandQueue) -> None:
    (in_flight,) = submit(queue, b"AT1\r")
    urgent = waiter(b"URGENT\r")
    urgent.urgent = True
    queue.submit(urgent)
    queue.fail_all(RadioDownError("link_closed"))
    for w in (in_flight, urgent):
        with pytest.raises(RadioDownError):
            await w.done
    assert len(queue) == 0
    assert line.written == [b"AT1\r"]
