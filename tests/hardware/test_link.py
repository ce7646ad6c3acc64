"""Links: pushed streams (bytes handed over in the transport's read callback) over a
socketpair and over a real pty opened by ``open_link``."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import AsyncIterator, Callable

import pytest

from hardware.link import PushedStream, Streams, open_link, pushed, pushed_streams


@pytest.fixture
async def pair() -> AsyncIterator[tuple[Streams, socket.socket]]:
    """Pushed streams on one end of a socketpair; the other end, blocking, for the test."""
    ours, theirs = socket.socketpair()
    loop = asyncio.get_running_loop()
    streams = await pushed_streams(lambda factory: loop.create_connection(factory, sock=ours))
    yield streams, theirs
    streams[1].close()
    theirs.close()


def collected(writer: asyncio.StreamWriter) -> list[bytes]:
    """Push what ``writer``'s link receives into the list returned."""
    stream = pushed(writer)
    assert stream is not None
    got: list[bytes] = []
    stream.push_to(got.append)
    return got


async def until(condition: Callable[[], bool], seconds: float = 2.0) -> None:
    async with asyncio.timeout(seconds):
        while not condition():
            await asyncio.sleep(0.001)


async def test_bytes_received_before_push_to_are_held_and_handed_over_first(
    pair: tuple[Streams, socket.socket],
) -> None:
    (_reader, writer), peer = pair
    stream = pushed(writer)
    assert isinstance(stream, PushedStream)
    peer.sendall(b"first ")
    await asyncio.sleep(0.05)  # received and held: nobody to push to yet
    got: list[bytes] = []
    stream.push_to(got.append)
    assert got == [b"first "]
    peer.sendall(b"second")
    await until(lambda: b"".join(got) == b"first second")


async def test_push_to_none_drops_what_comes_after(pair: tuple[Streams, socket.socket]) -> None:
    (_reader, writer), peer = pair
    got = collected(writer)
    peer.sendall(b"kept")
    await until(lambda: got == [b"kept"])
    stream = pushed(writer)
    assert stream is not None
    stream.push_to(None)
    peer.sendall(b"dropped")
    await asyncio.sleep(0.05)
    assert got == [b"kept"]
    stream.push_to(got.append)  # nothing was held meanwhile
    assert got == [b"kept"]


async def test_the_reader_gets_no_bytes_but_ends_when_the_peer_closes(
    pair: tuple[Streams, socket.socket],
) -> None:
    (reader, writer), peer = pair
    got = collected(writer)
    peer.sendall(b"OK\r\n")
    peer.close()
    async with asyncio.timeout(2):
        assert await reader.read(4096) == b""  # the bytes went to the sink; then EOF
    assert b"".join(got) == b"OK\r\n"


async def test_a_plain_stream_is_not_pushed() -> None:
    ours, theirs = socket.socketpair()
    reader, writer = await asyncio.open_connection(sock=ours)
    try:
        assert pushed(writer) is None
        theirs.sendall(b"AT\r")
        async with asyncio.timeout(2):
            assert await reader.read(4096) == b"AT\r"
    finally:
        writer.close()
        theirs.close()


async def test_open_link_over_a_real_pty_pushes_what_the_radio_writes() -> None:
    master, slave = os.openpty()
    path = os.ttyname(slave)
    _reader, writer = await open_link(path, baud=115200)
    try:
        got = collected(writer)
        writer.write(b"AT\r")
        loop = asyncio.get_running_loop()
        read = await loop.run_in_executor(None, os.read, master, 64)
        assert read == b"AT\r"
        os.write(master, b"\r\nOK\r\n")
        await until(lambda: b"".join(got) == b"\r\nOK\r\n")
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()
        os.close(master)
        os.close(slave)
