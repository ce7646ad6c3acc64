"""A small in-memory radio for unit tests of the terminal driver.

Built from the production codec, driven from the radio's side (as bellows' tests do): it
reads the gateway's bytes with ``PeiParser(role="mt")`` and answers with the DTE events'
``to_bytes()``. Each ``connect()`` gives a fresh socketpair session; the radio's state
(registrations, echo) survives a reconnect and is lost on ``reboot()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from dataclasses import dataclass, field
from typing import Literal

from hardware.link import pushed_streams
from protocols.pei.commands import AtCommand, SendSds
from protocols.pei.events import (
    CmeError,
    CommandEcho,
    Ok,
    OwnIdentity,
    PeiEvent,
    SdsInstance,
    SdsOutcome,
    SdsReceived,
    SignalQuality,
)
from protocols.pei.parser import PeiParser
from protocols.sds.message import decode_sds
from protocols.sds.tl import SdsReport, SdsTransfer, ShortReport, ShortReportType

UnitAnswer = Literal["received", "short", "consumed", "both", "fail", "congestion", "none"]


@dataclass
class FakeRadio:
    """What the radio does; tests flip these fields while it runs."""

    issi: int = 2049999
    stale_errors: int = 0  # the first N commands after power-up get +CME ERROR: 35
    unit_answer: UnitAnswer = "received"
    report_delay: float = 0.0
    stalled: bool = False
    #: While set to an event not yet set, the radio reads commands but answers none.
    hold: asyncio.Event | None = None
    send_outcome_status: int = 4
    busy_errors: int = 0  # the next N AT+CMGS get +CME ERROR: 41 (transmitting)
    sds_error: int | None = None  # every AT+CMGS gets this +CME ERROR
    commands: list[str] = field(default_factory=list)
    sent: list[SendSds] = field(default_factory=list)
    connects: int = 0
    echo: bool = True
    registrations: set[tuple[str, ...]] = field(default_factory=set)
    #: Groups selected or scanned with AT+CTGS, as (type, GSSI); a reboot forgets them.
    groups: set[tuple[str, ...]] = field(default_factory=set)
    #: While set, AT+CTGS is refused (a group the network does not know).
    refuse_groups: bool = False
    #: ``connect`` gives a plain stream (read by the terminal's task), not a pushed one.
    plain_stream: bool = False
    _writer: asyncio.StreamWriter | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    ai_service: int = 12
    _instance: int = 0

    async def connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """The terminal's ``connect`` callable: a new session on a fresh socketpair."""
        ours, theirs = socket.socketpair()
        loop = asyncio.get_running_loop()
        if self.plain_stream:
            reader, writer = await asyncio.open_connection(sock=ours)
        else:  # as open_link's: the terminal handles the bytes in the transport's read callback
            reader, writer = await pushed_streams(
                lambda factory: loop.create_connection(factory, sock=ours)
            )
        self.connects += 1
        task = asyncio.create_task(self._serve(theirs))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return reader, writer

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def write(self, data: bytes) -> None:
        if self._writer is not None and not self._writer.is_closing():
            self._writer.write(data)

    def inject(self, event: PeiEvent) -> None:
        """The radio writes ``event`` now (a URC)."""
        self.write(event.to_bytes())

    def unit_sends(self, ai_service: int, source: int, payload: bytes) -> None:
        self.inject(SdsReceived.from_payload(ai_service, source, self.issi, payload))

    def drop_line(self) -> None:
        """The cable is pulled: the current session ends."""
        if self._writer is not None:
            self._writer.close()

    def reboot(self) -> None:
        """Power cycle without dropping the line: state lost, stale syntax error next."""
        self.registrations.clear()
        self.groups.clear()
        self.echo = True
        self.stale_errors = 1
        self.write(CmeError(35).to_bytes())

    async def _serve(self, sock: socket.socket) -> None:
        reader, writer = await asyncio.open_connection(sock=sock)
        self._writer = writer
        parser = PeiParser(role="mt")
        try:
            while data := await reader.read(4096):
                if self.stalled:
                    continue
                for command in parser.feed(data):
                    await self._answer(command)
        finally:
            writer.close()

    async def _answer(self, command: object) -> None:
        if self.hold is not None:
            await self.hold.wait()
        if isinstance(command, SendSds):
            self.commands.append("+CMGS")
            if self.echo:
                self.write(CommandEcho(f"AT+CMGS={command.called_issi}").to_bytes())
            self._send_sds(command)
            return
        if not isinstance(command, AtCommand):
            return
        self.commands.append(command.name + {"read": "?", "test": "=?"}.get(command.op, ""))
        if self.echo:
            self.write(CommandEcho("AT" + command.name).to_bytes())
        if self.stale_errors > 0:
            self.stale_errors -= 1
            self.write(CmeError(35).to_bytes())
            return
        name = command.name
        if name == "E0":
            self.echo = False
        elif name == "+CTSDS":
            self.ai_service = int(command.args[0])
        elif name == "+CTSP":
            self.registrations.add(command.args)
        elif name == "+CTGS" and command.op == "set":
            if self.refuse_groups:
                self.write(CmeError(34).to_bytes())
                return
            self.groups.add(command.args)
        elif name == "+CNUMF" and command.op == "read":
            self.inject(OwnIdentity.from_tsi(f"24201{self.issi:08d}", 0))
        elif name == "+CSQ" and command.op == "read":
            self.inject(SignalQuality(25, 99))
        self.write(Ok().to_bytes())

    def _send_sds(self, command: SendSds) -> None:
        self.sent.append(command)
        if self.sds_error is not None:
            self.write(CmeError(self.sds_error).to_bytes())
            return
        if self.busy_errors > 0:
            self.busy_errors -= 1
            self.write(CmeError(41).to_bytes())
            return
        self._instance += 1
        instance = self._instance
        self.write(SdsInstance(instance).to_bytes() + Ok().to_bytes())
        message = decode_sds(self.ai_service, command.payload)
        ref = message.message_reference if isinstance(message, SdsTransfer) else None
        self.write(SdsOutcome(instance, self.send_outcome_status, ref).to_bytes())
        if ref is not None and self.send_outcome_status == 4:
            loop = asyncio.get_running_loop()
            loop.call_later(self.report_delay, self._report, command.called_issi, ref)

    def _report(self, unit: int, ref: int) -> None:
        def full(status: int) -> None:
            self.unit_sends(12, unit, SdsReport(0x82, False, False, status, ref).encode())

        def short(kind: ShortReportType) -> None:
            self.unit_sends(13, unit, ShortReport(kind, ref).encode())

        answer = self.unit_answer
        if answer == "received":
            full(0x00)
        elif answer == "short":
            short(ShortReportType.RECEIVED)
        elif answer == "consumed":
            full(0x02)
        elif answer == "both":
            full(0x00)
            asyncio.get_running_loop().call_later(0.05, short, ShortReportType.CONSUMED)
        elif answer == "fail":
            full(0x4A)
        elif answer == "congestion":
            full(0x20)
