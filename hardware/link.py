"""Byte links to radios: serial devices, ptys, serial-over-IP and the emulator.

One link type for every way a PEI is reached, because the terminal driver above does not
care: ``/dev/ttyUSB0`` or a pty path, ``socket://host:port`` (serial-over-IP servers such
as MOXA NPort, handled by pyserial's ``serial_for_url``), and ``emulator://READY_FILE[#name]``
(the PEI pty of a radio listed in an emulator's ready file; the first radio without ``#name``).

``connect_with_backoff`` reopens a link after it drops: capped exponential backoff with
jitter (tenacity), fresh for every outage so that it resets after a success.

A link's received bytes are pushed (``PushedStream``): the reader of a radio hands them to
the PEI parser from the transport's own read callback, so that a radio's final result is
answered with the next command in the same event-loop step that read it. Through a
``StreamReader`` the reading task would see them one step later, behind whatever else is
ready; on a busy gateway that was a millisecond or more of idle line per command.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

import serial
import serial_asyncio_fast
import structlog
from tenacity import AsyncRetrying, retry_if_exception_type, wait_exponential_jitter

__all__ = [
    "LinkError",
    "LinkSettings",
    "PushedStream",
    "connect_with_backoff",
    "expected_issi",
    "open_link",
    "pushed",
    "pushed_streams",
    "read_ready_file",
    "resolve_url",
]

log = structlog.get_logger("tetragw.link")

Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]
_T = TypeVar("_T")
#: Opens a transport with the protocol the factory makes (``loop.create_connection``,
#: ``serial_asyncio_fast.create_serial_connection``); the protocol it returns is not used.
TransportOpener = Callable[
    [Callable[[], asyncio.Protocol]], Awaitable[tuple[asyncio.Transport, object]]
]


class LinkError(OSError):
    """A link cannot be opened now (device missing, refused, ready file absent)."""


@dataclass(frozen=True, slots=True)
class LinkSettings:
    """Line settings from configuration; 8 data bits and 1 stop bit throughout (8N1/8E1/8O1)."""

    baud: int = 38400
    parity: Literal["N", "E", "O"] = "N"
    rtscts: bool = False
    open_timeout: float = 10.0


class PushedStream(asyncio.StreamReaderProtocol):
    """The protocol of a link's streams: each received chunk goes to a callback (``push_to``),
    called from the transport's read callback, never to the ``StreamReader``. The reader
    still ends: at EOF ``read()`` returns ``b""`` and a lost link's error is raised, so a
    task can await the link's end. Chunks received before ``push_to`` are held for it, in
    order; after ``push_to(None)`` they are dropped.
    """

    def __init__(self, reader: asyncio.StreamReader) -> None:
        super().__init__(reader)
        self._sink: Callable[[bytes], None] | None = None
        self._held: list[bytes] | None = []

    def push_to(self, sink: Callable[[bytes], None] | None) -> None:
        """Hand every chunk to ``sink`` from now on, the held ones first (``None``: drop)."""
        held, self._held = self._held or [], None
        self._sink = sink
        if sink is not None:
            for chunk in held:
                sink(chunk)

    def data_received(self, data: bytes) -> None:
        if self._sink is not None:
            self._sink(data)
        elif self._held is not None:
            self._held.append(bytes(data))


async def pushed_streams(open_transport: TransportOpener) -> Streams:
    """A reader and writer over the transport ``open_transport`` opens, whose received
    bytes are pushed (the reader's protocol is a ``PushedStream``)."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(loop=loop)
    protocol = PushedStream(reader)
    transport, _ = await open_transport(lambda: protocol)
    return reader, asyncio.StreamWriter(transport, protocol, reader, loop)


def pushed(writer: asyncio.StreamWriter) -> PushedStream | None:
    """The ``PushedStream`` behind ``writer``, or None for a plain stream."""
    protocol = writer.transport.get_protocol()
    return protocol if isinstance(protocol, PushedStream) else None


def read_ready_file(path: str | Path) -> dict[str, Any]:
    """The emulator's ready file as a dict; ``LinkError`` while it does not exist yet."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise LinkError(f"emulator ready file {path} does not exist (yet)") from exc
    except (OSError, ValueError) as exc:
        raise LinkError(f"emulator ready file {path} is unreadable: {exc}") from exc
    if not isinstance(data, dict):
        raise LinkError(f"emulator ready file {path} is not a JSON object")
    return data


def resolve_url(url: str) -> str:
    """The pyserial URL or device path behind ``url`` (reads a ready file for ``emulator://``)."""
    if not url.startswith("emulator://"):
        return url
    path, _, name = url.removeprefix("emulator://").partition("#")
    radios = read_ready_file(path).get("radios") or []
    for radio in radios:
        if not name or radio.get("name") == name:
            return str(radio["device"])
    raise LinkError(f"emulator ready file {path} lists no radio named {name!r}")


def expected_issi(url: str) -> int | None:
    """The ISSI the radio behind ``url`` must report, where the URL says (``emulator://``).

    A pty path can be stale: after a reboot the emulator may give the radio a new pty and
    hand the old index to another radio, so the path read a moment ago can lead to the
    wrong radio. The ready file's ``issi`` for the name is the authority.
    """
    if not url.startswith("emulator://"):
        return None
    path, _, name = url.removeprefix("emulator://").partition("#")
    for radio in read_ready_file(path).get("radios") or []:
        if (not name or radio.get("name") == name) and isinstance(radio.get("issi"), int):
            return int(radio["issi"])
    return None


async def open_link(
    url: str,
    *,
    baud: int = 38400,
    rtscts: bool = False,
    parity: Literal["N", "E", "O"] = "N",
    open_timeout: float = 10.0,
) -> Streams:
    """Open the link at ``url`` and return its reader and writer (bytes pushed: see
    ``PushedStream``).

    Raises ``LinkError`` (an ``OSError``) when it cannot be opened; callers retry.
    """
    target = await asyncio.to_thread(resolve_url, url)
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(open_timeout):
            reader, writer = await pushed_streams(
                lambda factory: serial_asyncio_fast.create_serial_connection(
                    loop,
                    factory,
                    target,
                    baudrate=baud,
                    parity=parity,
                    rtscts=rtscts,
                    bytesize=8,
                    stopbits=1,
                )
            )
    except (OSError, serial.SerialException, TimeoutError) as exc:
        raise LinkError(f"cannot open {url}: {exc}") from exc
    log.info("link_opened", url=url, baud=baud, rtscts=rtscts, parity=parity)
    return reader, writer


async def connect_with_backoff(
    connect: Callable[[], Awaitable[_T]],
    *,
    initial: float = 0.2,
    maximum: float = 30.0,
    jitter: float | None = None,
    url: str = "",
) -> _T:
    """Call ``connect`` until it succeeds, sleeping a capped, jittered, growing time between.

    The n-th wait is ``min(maximum, initial · 2^(n-1) + uniform(0, jitter))``; ``jitter``
    defaults to ``initial``. Each call starts a fresh schedule, so the backoff resets after
    every successful connect.
    Only ``OSError``s (``LinkError`` included) are retried; cancellation stops the loop.
    """
    retrying = AsyncRetrying(
        wait=wait_exponential_jitter(
            multiplier=initial, max=maximum, jitter=initial if jitter is None else jitter
        ),
        retry=retry_if_exception_type(OSError),
        before_sleep=lambda state: log.warning(
            "link_open_failed",
            url=url,
            attempt=state.attempt_number,
            error=str(state.outcome.exception()) if state.outcome else None,
        ),
        reraise=True,
    )
    async for attempt in retrying:
        with attempt:
            return await connect()
    raise AssertionError("unreachable: tenacity retries forever")  # pragma: no cover
