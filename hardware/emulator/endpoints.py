"""The byte pipes of a gateway terminal: a real pty and a TCP port on 127.0.0.1.

Each open byte stream is a `Link`. Bytes are paced at the configured baud rate in both
directions (`hardware.emulator.pacing`): a link reads no faster than the wire would carry
them (so a fast writer meets back-pressure in the kernel buffer) and writes no faster either.

The pty: the emulator holds the master and a second handle on the slave, so a gateway can
close and reopen the slave path without the master seeing EIO. Closing the endpoint (a
reboot) closes both: the gateway reads EOF and the ``/dev/pts/N`` node disappears. Linux
frees the index only once the gateway has closed its descriptor too; reopening waits for that
and then allocates the same index again (holding lower free ones meanwhile). If the gateway
has not closed its descriptor within ``PTY_REUSE_WAIT_S``, a new path is taken and the
``on_path_change`` callback runs (the emulator rewrites its ready file).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import random
import socket
import termios
import time
import tty
from collections import deque
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Protocol

from hardware.emulator.pacing import BytePacer

PTY_REUSE_WAIT_S = 5.0
EPHEMERAL_RANGE = "/proc/sys/net/ipv4/ip_local_port_range"
_UNREAD_GIVE_UP_S = 1.0
_READ_SIZE = 4096
#: Reads kept per link in `Link.rx_log` (``GET /radios/<name>/rx-log``).
RX_LOG_SIZE = 4096
RX_LOG_HEAD = 40


class LinkOwner(Protocol):
    """What a link reports to: the terminal it belongs to."""

    def link_opened(self, link: Link) -> None:
        """A new byte stream is connected."""

    def link_received(self, link: Link, data: bytes) -> None:
        """Bytes arrived (already paced)."""

    def link_closed(self, link: Link) -> None:
        """The byte stream is gone."""


class Link:
    """One byte stream between a gateway and the terminal, with paced output."""

    def __init__(self, name: str, baud: int, write: Callable[[bytes], Awaitable[None]]) -> None:
        self.name = name
        self.spoken = False
        self.hung_until = 0.0
        self.bytes_in = 0
        self.bytes_out = 0
        # (wall-clock time, first bytes) of each read from the gateway, taken before pacing:
        # when a command's first byte reached the radio (benchmarks/latency.py uses it).
        self.rx_log: deque[tuple[float, bytes]] = deque(maxlen=RX_LOG_SIZE)
        self._write = write
        self._pacer = BytePacer(baud)
        # What the radio has to send, with the event-loop time it was queued.
        self._queue: deque[tuple[float, bytes]] = deque()
        self._wake = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"out-{name}")

    def hung(self) -> bool:
        """True while a ``disconnect`` fault holds the line dead."""
        return asyncio.get_running_loop().time() < self.hung_until

    def send(self, data: bytes) -> None:
        """Queue ``data`` for the gateway (lost while the line is hung)."""
        if data and not self.hung():
            self._queue.append((asyncio.get_running_loop().time(), data))
            self._wake.set()

    async def _run(self) -> None:
        chunk_size = self._pacer.chunk_size
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self._queue:
                queued_at, data = self._queue.popleft()
                for start in range(0, len(data), chunk_size):
                    chunk = data[start : start + chunk_size]
                    await self._pacer.transmit(len(chunk), ready_at=queued_at)
                    try:
                        await self._write(chunk)
                    except OSError:
                        return
                    self.bytes_out += len(chunk)

    async def paced_input(
        self, data: bytes, at: float | None = None, arrived: float | None = None
    ) -> bytes | None:
        """Hold ``data`` for its wire time; ``None`` when the hung line swallows it. ``at``:
        when its first byte was seen to have arrived (wall clock; default now); ``arrived``:
        the same in event-loop time, where its wire time starts (default now)."""
        self.rx_log.append((time.time() if at is None else at, data[:RX_LOG_HEAD]))
        await self._pacer.transmit(len(data), ready_at=arrived)
        self.bytes_in += len(data)
        if self.hung():
            return None
        self.spoken = True
        return data

    def close(self) -> None:
        """Stop writing; queued output is dropped."""
        self._task.cancel()
        self._queue.clear()


class PtyEndpoint:
    """The terminal's pty: one link whose path is the slave device."""

    def __init__(
        self,
        owner: LinkOwner,
        name: str,
        baud: int,
        on_path_change: Callable[[str], None] | None = None,
    ) -> None:
        self.owner = owner
        self.name = name
        self.baud = baud
        self.path = ""
        self.link: Link | None = None
        self._on_path_change = on_path_change
        self._master = -1
        self._slave = -1
        self._reader: asyncio.Task[None] | None = None

    async def open(self) -> None:
        """Create (or re-create, at the same path if possible) the pty and start serving it."""
        master, slave = await self._allocate()
        tty.setraw(slave)
        os.set_blocking(master, False)
        self._master, self._slave = master, slave
        new_path = os.ttyname(slave)
        changed = bool(self.path) and new_path != self.path
        self.path = new_path
        self.link = Link(f"{self.name}-pty", self.baud, self._write)
        self.owner.link_opened(self.link)
        self._reader = asyncio.get_running_loop().create_task(self._read_loop(self.link))
        if changed and self._on_path_change is not None:
            self._on_path_change(new_path)

    async def _allocate(self) -> tuple[int, int]:
        if not self.path:
            return os.openpty()
        # The old index stays taken until the gateway closes its descriptor (Linux devpts).
        loop = asyncio.get_running_loop()
        deadline = loop.time() + PTY_REUSE_WAIT_S
        # Polling: devpts offers no event for "index released" (a stat is cheap, not blocking).
        while Path(self.path).exists() and loop.time() < deadline:  # noqa: ASYNC110, ASYNC240
            await asyncio.sleep(0.05)
        held: list[tuple[int, int]] = []
        try:
            while True:
                master, slave = os.openpty()
                path = os.ttyname(slave)
                if path == self.path or not _lower_index(path, self.path):
                    return master, slave
                held.append((master, slave))  # a lower free index: hold it, try again
        finally:
            for fds in held:
                for fd in fds:
                    os.close(fd)

    async def _write(self, chunk: bytes) -> None:
        loop = asyncio.get_running_loop()
        view = memoryview(chunk)
        while view:
            try:
                written = os.write(self._master, view)
                view = view[written:]
                continue
            except BlockingIOError:
                pass
            ready = loop.create_future()
            loop.add_writer(self._master, ready.set_result, None)
            try:
                await asyncio.wait_for(ready, _UNREAD_GIVE_UP_S)
            except TimeoutError:
                # Nobody reads the slave: on a serial line those bytes would be lost.
                termios.tcflush(self._slave, termios.TCIFLUSH)
            finally:
                loop.remove_writer(self._master)

    async def _read_loop(self, link: Link) -> None:
        loop = asyncio.get_running_loop()
        fd = self._master
        while True:
            ready: asyncio.Future[_Arrival] = loop.create_future()
            # Read, and take the time, when the loop sees the data, not when this task next
            # runs: the rx log's times are as close to the gateway's write as the loop allows,
            # and no byte that came later is counted from that time (BytePacer.reserve).
            loop.add_reader(fd, _read_arrival, fd, ready)
            try:
                data, at, arrived = await ready
            except OSError as exc:
                if exc.errno != errno.EIO:
                    raise
                data = b""  # no slave open at all: wait for one, as after an empty read
            finally:
                loop.remove_reader(fd)
            if not data:
                await asyncio.sleep(0.05)
                continue
            paced = await link.paced_input(data, at, arrived)
            if paced is not None:
                self.owner.link_received(link, paced)

    async def close(self) -> None:
        """Close master and slave handle: the gateway reads EOF, the path disappears."""
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
            self._reader = None
        if self.link is not None:
            self.link.close()
            self.owner.link_closed(self.link)
            self.link = None
        for fd in (self._master, self._slave):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._master = self._slave = -1


#: Bytes read from a pty, with when the loop saw them: (data, wall clock, event-loop time).
_Arrival = tuple[bytes, float, float]


def _read_arrival(fd: int, ready: asyncio.Future[_Arrival]) -> None:
    """The pty's read callback: read what is there and note when."""
    if ready.done():
        return
    try:
        data = os.read(fd, _READ_SIZE)
    except BlockingIOError:
        return  # nothing after all: wait for the next readiness
    except OSError as exc:
        ready.set_exception(exc)
        return
    ready.set_result((data, time.time(), ready.get_loop().time()))


def _lower_index(path: str, wanted: str) -> bool:
    try:
        return int(Path(path).name) < int(Path(wanted).name)
    except ValueError:
        return False


def _free_port_below_ephemeral() -> int:
    try:
        low = int(Path(EPHEMERAL_RANGE).read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0
    for _ in range(50):
        port = random.randrange(max(1024, low // 2), low)
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    return 0


class TcpEndpoint:
    """The terminal's TCP port on 127.0.0.1 (``socket://``): one link per connection."""

    def __init__(self, owner: LinkOwner, name: str, baud: int, port: int = 0) -> None:
        self.owner = owner
        self.name = name
        self.baud = baud
        self.port = port
        self.links: dict[Link, asyncio.StreamWriter] = {}
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self._count = 0

    @property
    def url(self) -> str:
        """``socket://127.0.0.1:<port>``."""
        return f"socket://127.0.0.1:{self.port}"

    async def open(self) -> None:
        """Listen (on the same port as before after a reboot).

        A port chosen by the kernel (port 0) lies in the ephemeral range, where a client
        that keeps reconnecting while the radio is off can connect to itself (TCP
        simultaneous open) and take the port. So a free port below that range is chosen.
        """
        if self.port == 0:
            self.port = _free_port_below_ephemeral()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + PTY_REUSE_WAIT_S
        while True:
            try:
                self._server = await asyncio.start_server(
                    self._serve, "127.0.0.1", self.port, reuse_address=True
                )
                break
            except OSError:
                if loop.time() >= deadline:
                    raise
                await asyncio.sleep(0.05)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        self._count += 1

        async def write(chunk: bytes) -> None:
            writer.write(chunk)
            await writer.drain()

        link = Link(f"{self.name}-tcp{self._count}", self.baud, write)
        self.links[link] = writer
        self.owner.link_opened(link)
        try:
            chunk = 64 if self.baud else _READ_SIZE
            while data := await reader.read(chunk):
                paced = await link.paced_input(data)
                if paced is not None:
                    self.owner.link_received(link, paced)
        except (ConnectionError, OSError):
            pass
        finally:
            self.links.pop(link, None)
            link.close()
            self.owner.link_closed(link)
            writer.close()
            self._handlers.discard(task)

    async def drop_connections(self) -> None:
        """Close every connection; keep listening."""
        for writer in list(self.links.values()):
            writer.transport.abort()  # the handler sees EOF and cleans up after itself
        if self._handlers:
            # Cancelling a stream handler makes asyncio log an error; let them end instead.
            _, stuck = await asyncio.wait(set(self._handlers), timeout=1.0)
            for task in stuck:
                task.cancel()

    async def close(self) -> None:
        """Stop listening and close every connection (the port goes away)."""
        if self._server is not None:
            self._server.close()
        await self.drop_connections()
        if self._server is not None:
            await self._server.wait_closed()
            self._server = None
