"""A plain PEI client for the tests: what a gateway does, over a real pty or TCP.

It writes raw command bytes and reads the radio's output with the project's DTE parser.
"""

from __future__ import annotations

import asyncio
import os
import tty
from collections.abc import Callable
from typing import Any

from protocols.pei.events import CmeError, CmsError, Error, Ok
from protocols.pei.parser import PeiParser

FINAL = (Ok, Error, CmeError, CmsError)


class PeiClient:
    """Collects every event the radio sends; `command` and `wait_for` pick from them."""

    def __init__(self) -> None:
        self.parser = PeiParser("dte")
        self.received: list[Any] = []
        self.raw = bytearray()
        self.eof = False
        self._taken: set[int] = set()
        self._changed = asyncio.Event()
        self._close: Callable[[], None] = lambda: None
        self._write: Callable[[bytes], None] = lambda _: None

    # -- transports ---------------------------------------------------------------------
    @classmethod
    async def over_pty(cls, path: str) -> PeiClient:
        client = cls()
        fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        tty.setraw(fd)
        loop = asyncio.get_running_loop()

        def readable() -> None:
            try:
                data = os.read(fd, 4096)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            if not data:
                loop.remove_reader(fd)
                client._mark_eof()
                return
            client._feed(data)

        def close() -> None:
            loop.remove_reader(fd)
            os.close(fd)

        loop.add_reader(fd, readable)
        client._write = lambda data: _write_all(fd, data)
        client._close = close
        return client

    @classmethod
    async def over_tcp(cls, url: str) -> PeiClient:
        client = cls()
        host, port = url.removeprefix("socket://").rsplit(":", 1)
        reader, writer = await asyncio.open_connection(host, int(port))

        async def pump() -> None:
            while data := await reader.read(4096):
                client._feed(data)
            client._mark_eof()

        task = asyncio.get_running_loop().create_task(pump())

        def close() -> None:
            task.cancel()
            writer.close()

        client._write = writer.write
        client._close = close
        return client

    def close(self) -> None:
        self._close()

    # -- reading ---------------------------------------------------------------------------
    def _feed(self, data: bytes) -> None:
        self.raw.extend(data)
        self.received.extend(self.parser.feed(data))
        self._changed.set()

    def _mark_eof(self) -> None:
        self.eof = True
        self._changed.set()

    async def wait_for(
        self, predicate: Callable[[Any], bool], timeout: float = 5.0, *, start: int = 0
    ) -> Any:
        """The first event (not yet taken) matching ``predicate``; TimeoutError otherwise."""
        async with asyncio.timeout(timeout):
            while True:
                for index in range(start, len(self.received)):
                    if index not in self._taken and predicate(self.received[index]):
                        self._taken.add(index)
                        return self.received[index]
                self._changed.clear()
                await self._changed.wait()

    async def wait_eof(self, timeout: float = 5.0) -> None:
        async with asyncio.timeout(timeout):
            while not self.eof:
                self._changed.clear()
                await self._changed.wait()

    def send(self, data: bytes) -> None:
        self._write(data)

    async def command(self, data: bytes, timeout: float = 5.0) -> list[Any]:
        """Write one command; the events up to and including its final result."""
        start = len(self.received)
        self._write(data)
        final = await self.wait_for(lambda e: isinstance(e, FINAL), timeout, start=start)
        end = self.received.index(final, start)
        return self.received[start : end + 1]

    async def ok(self, data: bytes) -> list[Any]:
        """`command`, asserting it ends in OK."""
        events = await self.command(data)
        assert isinstance(events[-1], Ok), (data, events)
        return events

    async def until_ok(self, data: bytes = b"AT\r", attempts: int = 5) -> None:
        """Send ``data`` until it is answered OK (the stale error after power-up)."""
        for _ in range(attempts):
            if isinstance((await self.command(data))[-1], Ok):
                return
        raise AssertionError("no OK")


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view) :]
        except BlockingIOError:
            continue
