"""Link supervision of a PEI terminal: connect, initialise, keep alive, take down.

A supervisor task owns the link: it opens it (capped, jittered exponential backoff), brings
the radio into a known state with the vendor profile's init sequence, sends a keep-alive
``AT`` when idle, and starts over when the line drops, the radio stops answering
(``max_missed`` timeouts in a row) or the radio shows it rebooted. ``LinkSupervision`` is a
mixin of ``hardware.terminal.Terminal``, which owns the state declared here and provides
``_command`` (one command in flight, ``hardware.command_queue``) and ``_read_loop`` (the
reader task).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import structlog

from hardware.command_queue import CommandQueue
from hardware.delivery import DeliveryTracker
from hardware.link import connect_with_backoff, expected_issi, open_link
from hardware.radio_events import LinkDown, LinkUp, SignalReport
from hardware.terminal_inbound import InboundEvents
from hardware.terminal_types import (
    CME_ALREADY_REGISTERED,
    CommandReply,
    CommandTimeoutError,
    InitError,
    RadioDownError,
    Streams,
    TerminalConfig,
    command_name,
)
from hardware.vendors import VendorProfile
from protocols.pei import commands
from protocols.pei.events import CmeError, OwnIdentity, PeiEvent, SignalQuality
from protocols.pei.parser import PeiParser

__all__ = ["LinkSupervision"]


class LinkSupervision:
    """Supervision of the link of a ``Terminal`` (a mixin: the terminal owns the state)."""

    config: TerminalConfig
    name: str
    issi: int | None
    scanned_groups: set[int]
    _group_scans: asyncio.Task[None] | None
    _connect: Callable[[], Awaitable[Streams]]
    _log: structlog.typing.FilteringBoundLogger
    _tracker: DeliveryTracker
    _inbound: InboundEvents
    _io_lock: asyncio.Lock
    _ready: asyncio.Event
    _usable: asyncio.Event
    _in_service: bool
    _service_lost_at: float
    _trouble: asyncio.Event
    _trouble_reason: str
    _writer: asyncio.StreamWriter | None
    _parser: PeiParser[PeiEvent]
    _commands: CommandQueue
    _selected_service: int | None
    _missed: int
    _last_answer: float

    if TYPE_CHECKING:

        async def _command(
            self,
            line: bytes,
            seconds: float | None = None,
            on_instance: Callable[[int], None] | None = None,
        ) -> CommandReply: ...

        async def _read_loop(self, reader: asyncio.StreamReader) -> None: ...

        async def select_group(self, gssi: int, *, scan: bool = False) -> CommandReply: ...

    async def _open_configured_link(self) -> Streams:
        link = self.config.link
        return await open_link(
            self.config.url,
            baud=link.baud,
            rtscts=link.rtscts,
            parity=link.parity,
            open_timeout=link.open_timeout,
        )

    def _flag_trouble(self, reason: str) -> None:
        if not self._trouble.is_set():
            self._trouble_reason = reason
            self._trouble.set()

    async def _supervise(self) -> None:
        reader_task: asyncio.Task[None] | None = None
        try:
            while True:
                try:
                    reader_task = await connect_with_backoff(
                        self._connect_and_initialise,
                        initial=self.config.reconnect_initial,
                        maximum=self.config.reconnect_max,
                        url=self.config.url,
                    )
                    reason = await self._watch(reader_task)
                except Exception:
                    # A bug must not silently stop a radio that an AMK depends on.
                    self._log.exception("supervisor_failed")
                    reason = "supervisor_error"
                    await asyncio.sleep(self.config.reconnect_max)
                if reader_task is not None:
                    await self._take_down(reason, reader_task)
                    reader_task = None
        finally:
            if reader_task is not None:
                await self._take_down("stopped", reader_task)

    async def _connect_and_initialise(self) -> asyncio.Task[None]:
        reader, writer = await self._connect()
        self._writer = writer
        self._parser = PeiParser(role="dte")
        self._trouble.clear()
        self._missed = 0
        reader_task = asyncio.create_task(self._read_loop(reader), name=f"pei-read-{self.name}")
        try:
            await self._initialise()
        except BaseException as exc:
            await self._close(reader_task)
            if isinstance(exc, CommandTimeoutError | RadioDownError | InitError):
                raise InitError(f"radio {self.name} did not initialise: {exc}") from exc
            raise
        if reader_task.done():
            await self._close(reader_task)
            raise InitError(f"radio {self.name} closed the link during init")
        # Timeouts while syncing with a radio that was booting are not trouble.
        self._trouble.clear()
        self._missed = 0
        self._ready.set()
        self._update_usable()
        self._log.info("radio_up", issi=self.issi, vendor=self.config.vendor.name)
        self._inbound.emit(LinkUp(self.name, self.issi, time.time()))
        if self.scanned_groups:
            self._group_scans = asyncio.create_task(
                self._scan_groups(), name=f"group-scans-{self.name}"
            )
        return reader_task

    async def _initialise(self) -> None:
        """The vendor profile's init sequence; raises ``InitError`` if the radio refuses."""
        profile = self.config.vendor
        async with self._io_lock:
            self._selected_service = None
            await self._sync(profile)
            await self._expect_ok(commands.echo_off())
            if profile.charset:
                await self._expect_ok(commands.set_charset(profile.charset))
            await self._expect_ok(commands.set_operating_mode(profile.operating_mode))
            for reg in profile.registrations:
                reply = await self._command(
                    commands.register_service(reg.profile, reg.layer1, reg.layer2)
                )
                # 38 = PID already registered (Sepura, after a reconnect without a reboot).
                accepted = reply.ok or (
                    isinstance(reply.final, CmeError) and reply.final.code == CME_ALREADY_REGISTERED
                )
                if not accepted and reg.required:
                    raise InitError(f"registration {reg} refused: {reply.final}")
            reply = await self._expect_ok(commands.query_own_identity())
            identity = next((e for e in reply.responses if isinstance(e, OwnIdentity)), None)
            expected = expected_issi(self.config.url)
            if identity is not None and expected is not None and identity.issi != expected:
                # A stale emulator pty path led to another radio: never drive it as this one.
                raise InitError(f"wrong radio: ISSI {identity.issi}, expected {expected}")
            if identity is not None:
                if self.issi is not None and identity.issi != self.issi:
                    self._log.warning("own_identity_changed", old=self.issi, new=identity.issi)
                self.issi = identity.issi
            await self._probe_signal()

    async def _scan_groups(self) -> None:
        """Scan the incident groups again (``scanned_groups``): a radio forgets its scans when
        it reboots. Run once the radio is up, one command at a time like any other, and not
        in the initialisation: with many groups held that would keep callouts from the radio
        meanwhile. A refusal (a group the network does not know) is logged."""
        for gssi in sorted(self.scanned_groups):
            try:
                reply = await self.select_group(gssi, scan=True)
            except (ConnectionError, TimeoutError) as exc:  # down again, or not answering
                self._log.warning("group_scan_failed", gssi=gssi, error=repr(exc))
                return
            if not reply.ok:
                self._log.warning("group_scan_refused", gssi=gssi, error=str(reply.final))

    async def _probe_signal(self) -> None:
        """``AT+CSQ?``; report it, and take "99 = unknown" as not (yet) in service.

        A radio that has just booted answers on its PEI before it is registered with the
        network, and refuses SDS with ``+CME ERROR: 30`` meanwhile. Radios that always say
        99 come back into service after ``service_retry`` seconds anyway.
        """
        reply = await self._command(commands.query_signal())
        for event in reply.responses:
            if isinstance(event, SignalQuality):
                self._inbound.emit(SignalReport(self.name, event.rssi, event.dbm, time.time()))
                if event.dbm is not None:
                    self._set_in_service(True, "signal")
                elif self._in_service:
                    self._set_in_service(False, "no_signal")
        if (
            not self._in_service
            and time.monotonic() - self._service_lost_at > self.config.service_retry
        ):
            self._set_in_service(True, "retry")

    def _set_in_service(self, value: bool, reason: str) -> None:
        if value != self._in_service:
            self._log.info("radio_service", in_service=value, reason=reason)
            self._in_service = value
            if not value:
                self._service_lost_at = time.monotonic()
        self._update_usable()

    def _update_usable(self) -> None:
        if self._ready.is_set() and self._in_service:
            self._usable.set()
        else:
            self._usable.clear()

    async def _sync(self, profile: VendorProfile) -> None:
        # Radios answer a stale "+CME ERROR: 35" after power-up: repeat AT until OK (§1).
        for _ in range(profile.sync_attempts):
            try:
                reply = await self._command(commands.at(), self.config.sync_timeout)
            except CommandTimeoutError:
                continue
            if reply.ok:
                self._missed = 0
                return
        raise InitError("no OK to AT")

    async def _expect_ok(self, line: bytes) -> CommandReply:
        reply = await self._command(line)
        if not reply.ok:
            raise InitError(f"{command_name(line)} answered {reply.final}")
        return reply

    async def _watch(self, reader_task: asyncio.Task[None]) -> str:
        """Keep the radio alive until trouble; return the reason."""
        while True:
            try:
                async with asyncio.timeout(self.config.keepalive_interval):
                    await self._trouble.wait()
                return self._trouble_reason
            except TimeoutError:
                pass
            if reader_task.done():
                return "link_closed"
            if self._in_service and (
                time.monotonic() - self._last_answer < self.config.keepalive_interval
            ):
                continue  # the radio spoke recently: no need to poke it
            async with self._io_lock:
                with contextlib.suppress(CommandTimeoutError, RadioDownError):
                    if self._in_service:
                        await self._command(commands.at())
                    else:
                        await self._probe_signal()

    async def _take_down(self, reason: str, reader_task: asyncio.Task[None]) -> None:
        was_up = self._ready.is_set()
        self._ready.clear()
        self._update_usable()
        self._log.warning("radio_down", reason=reason)
        self._commands.fail_all(RadioDownError(reason))
        self._tracker.fail_all(f"link_down:{reason}")
        if self._group_scans is not None:
            self._group_scans.cancel()
            self._group_scans = None
        await self._close(reader_task)
        if was_up:
            self._inbound.emit(LinkDown(self.name, reason, time.time()))

    async def _close(self, reader_task: asyncio.Task[None]) -> None:
        reader_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader_task
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
