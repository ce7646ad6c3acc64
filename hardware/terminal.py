"""The PEI driver of one TETRA radio: commands, sends, received SDS, link supervision.

Patterns from zigpy-znp/bellows and aiomqtt: one command in flight behind a lock; the waiter
is registered BEFORE the command is written; every command has a timeout; unsolicited result
codes are dispatched while a command waits; a pending entry is removed in ``finally``.

A supervisor task owns the link: it opens it (capped, jittered exponential backoff), brings
the radio into a known state with the vendor profile's init sequence, sends a keep-alive
``AT`` when idle, and starts over when the line drops, the radio stops answering
(``max_missed`` timeouts in a row) or the radio shows it rebooted (a stale
``+CME ERROR: 35``, an echo coming back after ``ATE0``, a lost own identity). Sends in flight
when that happens fail with ``radio_fault=True`` so that the pool retries them elsewhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import hashlib
import itertools
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Literal

import structlog

from hardware.delivery import (
    DeliveryTracker,
    PendingSend,
    ReferenceAllocator,
    ReportLevel,
    SendOutcome,
)
from hardware.link import LinkSettings, connect_with_backoff, expected_issi, open_link
from hardware.radio_events import (
    DeliveryReported,
    EmergencyReceived,
    GroupChanged,
    LinkDown,
    LinkUp,
    RadioEvent,
    SignalReport,
    StatusReceived,
    TextReceived,
    location_event,
)
from hardware.vendors import GENERIC, VendorProfile
from protocols.errors import ProtocolError
from protocols.pei import commands
from protocols.pei.events import (
    CmeError,
    CmsError,
    CommandEcho,
    Error,
    FinalResult,
    GroupSelection,
    Ok,
    OwnIdentity,
    PeiEvent,
    SdsInstance,
    SdsOutcome,
    SdsReceived,
    SignalQuality,
    Unrecognised,
)
from protocols.pei.parser import PeiParser
from protocols.sds.lip import LipLongReport, LipShortReport
from protocols.sds.message import StatusMessage, decode_sds
from protocols.sds.text import TextReassembler, build_text_transfers, decode_text
from protocols.sds.tl import DeliveryReportRequest, SdsReport, SdsTransfer, ShortReport, SimpleSds

__all__ = ["CommandReply", "RadioDownError", "SendOutcome", "Terminal", "TerminalConfig"]

log = structlog.get_logger("tetragw.terminal")

Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]

# AI services of AT+CTSDS (PEI reference §3).
_SDS_TYPE4 = 12
_STATUS = 13
# +CME ERROR codes after which a send may succeed if tried again a little later (§9):
# 3 not allowed now, 20 stack full, 41 transmit inhibit (Motorola while transmitting voice),
# 42 busy with signalling (e.g. a DGNA being processed).
_CME_TRY_AGAIN = frozenset({3, 20, 41, 42})
# Codes that say our radio cannot reach the network: another radio may do better.
# 35 (syntax error) to a command we know is well formed is the stale answer of a radio
# that has just rebooted (PEI reference §1): the supervisor re-initialises it.
_CME_SYNTAX = 35
_CME_OUT_OF_SERVICE = 30
_CME_RADIO_FAULT = frozenset({0, _CME_OUT_OF_SERVICE, 31, 41, _CME_SYNTAX})
_CME_ALREADY_REGISTERED = 38
_TEXT_PIDS = frozenset({0x02, 0x09, 0x82, 0x89, 0x8A})


class RadioDownError(ConnectionError):
    """The radio is not connected or not initialised; nothing was sent."""


class CommandTimeoutError(TimeoutError):
    """The radio gave no final result within the command's timeout."""


@dataclass(frozen=True, slots=True)
class TerminalConfig:
    """How to reach and supervise one radio. Times are seconds."""

    name: str
    url: str
    vendor: VendorProfile = GENERIC
    link: LinkSettings = field(default_factory=LinkSettings)
    command_timeout: float = 3.0
    sync_timeout: float = 1.0
    keepalive_interval: float = 10.0
    max_missed: int = 3
    send_deadline: float = 60.0
    busy_retry_delay: float = 0.5
    read_window: float = 600.0
    service_retry: float = 10.0
    reconnect_initial: float = 0.2
    reconnect_max: float = 30.0
    event_queue_size: int = 1000


@dataclass(frozen=True, slots=True)
class CommandReply:
    """The final result of a command and the information responses that came before it."""

    final: FinalResult
    responses: tuple[PeiEvent, ...]

    @property
    def ok(self) -> bool:
        return isinstance(self.final, Ok)


@dataclass(slots=True)
class _CommandWaiter:
    done: asyncio.Future[FinalResult]
    responses: list[PeiEvent] = field(default_factory=list)
    # Called from the reader on "+CMGS: <n>": the outcome line may follow in the same read,
    # before the sender wakes up, so the instance must be bound right there.
    on_instance: Callable[[int], None] | None = None


def text_digest(text: str) -> str:
    """What a log may say about a text: a short digest (never the text itself)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


class Terminal:
    """One radio on a PEI link. Start it, send through it, read its events.

    ``send_text``/``send_status`` may be called before the radio is up: they wait for it
    until their deadline. ``events()`` yields every ``RadioEvent`` from the moment of the call.
    """

    def __init__(
        self,
        config: TerminalConfig,
        *,
        connect: Callable[[], Awaitable[Streams]] | None = None,
    ) -> None:
        self.config = config
        self.name = config.name
        self._connect = connect or self._open_configured_link
        self._log = log.bind(radio=config.name)
        self._allocator = ReferenceAllocator()
        self._tracker = DeliveryTracker(
            self._allocator, on_stage=self._late_stage, read_window=config.read_window
        )
        self._io_lock = asyncio.Lock()
        self._ready = asyncio.Event()  # link open and radio initialised: commands may go
        self._usable = asyncio.Event()  # ready and in service: SDS may go
        self._in_service = True
        self._service_lost_at = 0.0
        self._trouble = asyncio.Event()
        self._trouble_reason = ""
        self._writer: asyncio.StreamWriter | None = None
        self._parser = PeiParser(role="dte")
        self._command_waiter: _CommandWaiter | None = None
        self._subscribers: set[asyncio.Queue[RadioEvent]] = set()
        self._reassembler = TextReassembler()
        self._selected_service: int | None = None
        self._missed = 0
        self._last_answer = 0.0
        self._status_ids = itertools.count(1)
        self._supervisor: asyncio.Task[None] | None = None
        self.issi: int | None = None

    # ---- public API -------------------------------------------------------------------

    @property
    def healthy(self) -> bool:
        """Connected, initialised and in service; sends go out now."""
        return self._usable.is_set()

    @property
    def outstanding(self) -> int:
        """Sends waiting on this radio (for least-outstanding-first spreading)."""
        return self._tracker.outstanding

    async def start(self) -> None:
        """Start supervising the link (returns at once; ``wait_ready`` waits for the radio)."""
        if self._supervisor is None:
            self._supervisor = asyncio.create_task(self._supervise(), name=f"terminal-{self.name}")

    async def stop(self) -> None:
        """Stop supervising and close the link; sends in flight fail as a radio fault."""
        task, self._supervisor = self._supervisor, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def wait_ready(self, within: float | None = None) -> bool:
        """Wait until the radio is up and in service; False if ``within`` seconds passed first."""
        try:
            async with asyncio.timeout(within):
                await self._usable.wait()
        except TimeoutError:
            return False
        return True

    def events(self) -> AsyncIterator[RadioEvent]:
        """Every event of this radio from the moment of the call (each call has its own queue).

        Iterate it: the queue is removed when the iterator is closed.
        """
        queue: asyncio.Queue[RadioEvent] = asyncio.Queue(self.config.event_queue_size)
        self._subscribers.add(queue)
        return self._drain(queue)

    async def _drain(self, queue: asyncio.Queue[RadioEvent]) -> AsyncIterator[RadioEvent]:
        try:
            while True:
                yield await queue.get()
        finally:
            self._subscribers.discard(queue)

    async def send_text(
        self,
        issi: int,
        text: str,
        deadline: float | None = None,
        *,
        reports: ReportLevel = ReportLevel.DELIVERED,
        wait_for: ReportLevel = ReportLevel.DELIVERED,
        send_id: str | None = None,
    ) -> SendOutcome:
        """Send ``text`` to unit ``issi`` as SDS-TL text and wait for the outcome.

        ``deadline`` is event-loop time (``loop.time()``, as for ``asyncio.timeout_at``),
        default ``send_deadline`` seconds from now. ``reports`` is what the unit is asked to
        report (``READ`` asks for both received and consumed); the call returns once
        ``wait_for`` is reached (``delivered`` by default). With ``reports=READ`` and
        ``wait_for=DELIVERED`` the later read arrives as a ``DeliveryReported(stage="read")``
        event carrying ``send_id``. Never raises for radio trouble: it returns an outcome.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.send_deadline if deadline is None else deadline
        request = _REPORT_REQUEST[reports]
        # Build once with placeholder references to learn how many parts the text needs.
        try:
            drafts = build_text_transfers(text, itertools.repeat(0), delivery_report=request)
        except ProtocolError as exc:
            return SendOutcome.failed(f"text_not_encodable: {exc}")
        self._log.info("send_text", issi=issi, length=len(text), digest=text_digest(text))
        parts = len(drafts)
        refs = self._allocator.try_acquire(parts)
        if refs is None and self._tracker.evict_lingering(parts):
            self._log.info("read_wait_evicted", reason="references_exhausted")
        try:
            async with asyncio.timeout_at(deadline):
                refs = refs or await self._allocator.acquire(parts)
        except TimeoutError:
            return SendOutcome("timeout", "no_free_message_reference", radio=self.name)
        if len(drafts) == 1:
            # A single transfer carries no concatenation reference: only its own changes.
            transfers = [dataclasses.replace(drafts[0], message_reference=refs[0])]
        else:
            transfers = build_text_transfers(
                text, iter(refs), delivery_report=request, concat_reference=refs[0]
            )
        pending = self._tracker.register(
            issi, refs, wanted=wait_for, reports_requested=reports, send_id=send_id
        )
        payloads = [(ref, t.encode()) for ref, t in zip(refs, transfers, strict=True)]
        return await self._send(pending, _SDS_TYPE4, issi, payloads, deadline)

    async def send_status(
        self, issi: int, value: int, deadline: float | None = None
    ) -> SendOutcome:
        """Send a 16-bit status to ``issi``; ``sent`` once the network reports it sent.

        Statuses have no end-to-end report (PEI reference §6), so ``sent`` is the best
        this can know.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.send_deadline if deadline is None else deadline
        # Statuses carry no message reference: track them under a private negative key.
        key = -next(self._status_ids)
        pending = self._tracker.register(
            issi, (key,), wanted=ReportLevel.SENT, reports_requested=ReportLevel.SENT
        )
        return await self._send(pending, _STATUS, issi, [(key, value.to_bytes(2, "big"))], deadline)

    async def select_group(self, gssi: int, *, scan: bool = False) -> CommandReply:
        """Select (or, with ``scan``, scan) talk group ``gssi`` on this radio (``AT+CTGS``)."""
        async with self._io_lock:
            self._require_ready()
            return await self._command(commands.select_group(gssi, 2 if scan else 1))

    # ---- sending ----------------------------------------------------------------------

    async def _send(
        self,
        pending: PendingSend,
        ai_service: int,
        issi: int,
        payloads: list[tuple[int, bytes]],
        deadline: float,
    ) -> SendOutcome:
        try:
            async with asyncio.timeout_at(deadline):
                await self._usable.wait()
                for ref, payload in payloads:
                    if pending.outcome.done():
                        break
                    await self._submit(
                        pending,
                        ref=ref,
                        ai_service=ai_service,
                        issi=issi,
                        payload=payload,
                        deadline=deadline,
                    )
                # shield: the deadline must not cancel the tracker's future itself.
                outcome = await asyncio.shield(pending.outcome)
        except TimeoutError:
            outcome = SendOutcome("timeout", message_references=pending.references)
        finally:
            self._tracker.finish(pending)
        return _with_radio(outcome, self.name)

    async def _submit(
        self,
        pending: PendingSend,
        *,
        ref: int,
        ai_service: int,
        issi: int,
        payload: bytes,
        deadline: float,
    ) -> None:
        """Hand one PDU to the radio; failures resolve ``pending`` through the tracker."""
        loop = asyncio.get_running_loop()
        while True:
            await self._usable.wait()
            try:
                async with self._io_lock:
                    self._require_ready()
                    reply = await self._submit_locked(
                        ai_service,
                        issi,
                        payload,
                        functools.partial(self._tracker.bind_instance, pending, ref),
                    )
            except (RadioDownError, CommandTimeoutError) as exc:
                # Whether the radio took the PDU is unknown: fail it as a radio fault, so the
                # pool sends it again (elsewhere). At least once beats a lost callout.
                reason = "radio_down" if isinstance(exc, RadioDownError) else "command_timeout"
                self._tracker.fail_part(pending, reason, temporary=True, radio_fault=True)
                return
            if reply.ok:
                if not self.config.vendor.reports_send_outcome:
                    self._tracker.mark_sent(pending, ref)
                return
            code = reply.final.code if isinstance(reply.final, CmeError | CmsError) else None
            reason = "radio_error" if code is None else f"cme_{code}"
            if code == _CME_OUT_OF_SERVICE:
                self._set_in_service(False, "cme_30")
            if code in _CME_TRY_AGAIN and loop.time() + self.config.busy_retry_delay < deadline:
                self._log.info("send_deferred", reason=reason)
                await asyncio.sleep(self.config.busy_retry_delay)
                continue
            self._tracker.fail_part(
                pending,
                reason,
                temporary=code is not None and (code in _CME_TRY_AGAIN or code in _CME_RADIO_FAULT),
                radio_fault=code in _CME_RADIO_FAULT,
            )
            return

    async def _submit_locked(
        self, ai_service: int, issi: int, payload: bytes, on_instance: Callable[[int], None]
    ) -> CommandReply:
        # AT+CTSDS is sticky on the radio: only repeat it when the service changes.
        if self._selected_service != ai_service:
            self._selected_service = None
            reply = await self._command(commands.select_sds_service(ai_service, 0))
            if not reply.ok:
                return reply
            self._selected_service = ai_service
        return await self._command(commands.send_sds(issi, payload), on_instance=on_instance)

    # ---- commands ---------------------------------------------------------------------

    def _require_ready(self) -> None:
        if not self._ready.is_set() or self._writer is None:
            raise RadioDownError(f"radio {self.name} is not ready")

    async def _command(
        self,
        line: bytes,
        seconds: float | None = None,
        on_instance: Callable[[int], None] | None = None,
    ) -> CommandReply:
        """Write one command and wait for its final result; the caller holds ``_io_lock``."""
        writer = self._writer
        if writer is None:
            raise RadioDownError(f"radio {self.name} is not connected")
        waiter = _CommandWaiter(asyncio.get_running_loop().create_future(), on_instance=on_instance)
        self._command_waiter = waiter  # registered before the write (zigpy-znp)
        try:
            async with asyncio.timeout(seconds or self.config.command_timeout):
                writer.write(line)
                await writer.drain()
                final = await waiter.done
        except TimeoutError:
            self._missed += 1
            self._log.warning("command_timeout", command=_command_name(line), missed=self._missed)
            if self._missed >= self.config.max_missed:
                self._flag_trouble("not_answering")
            raise CommandTimeoutError(_command_name(line)) from None
        except (ConnectionError, OSError) as exc:
            self._flag_trouble("write_failed")
            raise RadioDownError(str(exc)) from exc
        finally:
            if self._command_waiter is waiter:
                self._command_waiter = None
        self._missed = 0
        if isinstance(final, CmeError) and final.code == _CME_SYNTAX and self._ready.is_set():
            # We only send well-formed commands: a syntax error is the stale answer of a
            # radio that has just powered up (PEI reference §1).
            self._flag_trouble("radio_reboot")
        return CommandReply(final, tuple(waiter.responses))

    # ---- receiving --------------------------------------------------------------------

    async def _read_loop(self, reader: asyncio.StreamReader) -> None:
        try:
            while data := await reader.read(4096):
                self._last_answer = time.monotonic()
                for event in self._parser.feed(data):
                    self._dispatch(event)
        except (ConnectionError, OSError) as exc:
            self._log.warning("link_read_failed", error=str(exc))
        self._flag_trouble("link_closed")

    def _dispatch(self, event: PeiEvent) -> None:
        waiter = self._command_waiter
        if isinstance(event, Ok | Error | CmeError | CmsError):
            if waiter is not None and not waiter.done.done():
                waiter.done.set_result(event)
            elif isinstance(event, CmeError) and event.code == _CME_SYNTAX and self.healthy:
                self._flag_trouble("radio_reboot")
            return
        if isinstance(event, SdsOutcome):
            self._tracker.on_outcome(event.instance, event.sds_status, event.message_reference)
        elif isinstance(event, SdsReceived):
            self._on_sds(event)
        elif isinstance(event, CommandEcho):
            # Echo is switched off in init; an echo now means the radio forgot (rebooted).
            if self.healthy:
                self._flag_trouble("radio_reboot")
        elif isinstance(event, Unrecognised):
            self._log.debug("line_unrecognised", reason=event.reason)
        elif waiter is not None and not waiter.done.done():
            waiter.responses.append(event)
            if isinstance(event, SdsInstance) and waiter.on_instance is not None:
                waiter.on_instance(event.instance)
        elif isinstance(event, GroupSelection):
            self._emit(GroupChanged(self.name, event.fields, time.time()))
        elif isinstance(event, SignalQuality):
            self._emit(SignalReport(self.name, event.rssi, event.dbm, time.time()))

    def _on_sds(self, sds: SdsReceived) -> None:
        now = time.time()
        source = sds.calling_ssi
        try:
            message = decode_sds(sds.ai_service, sds.payload, sds.length_bits)
        except ProtocolError as exc:
            self._log.warning("sds_undecodable", source=source, error=str(exc))
            return
        if isinstance(message, ShortReport):
            self._tracker.on_short_report(
                source, message.message_reference, int(message.report_type)
            )
        elif isinstance(message, StatusMessage):
            if message.value == 0:
                self._emit(EmergencyReceived(self.name, source, now))
            else:
                self._emit(StatusReceived(self.name, source, message.value, now))
        elif isinstance(message, SdsReport):
            self._tracker.on_report(source, message.message_reference, message.delivery_status)
        elif isinstance(message, LipShortReport | LipLongReport):
            located = location_event(self.name, source, message, now)
            if located is not None:
                self._emit(located)
        elif isinstance(message, SdsTransfer | SimpleSds) and message.pid in _TEXT_PIDS:
            self._on_text(source, message, now)
        else:
            self._log.debug("sds_ignored", source=source, kind=type(message).__name__)

    def _on_text(self, source: int, message: SdsTransfer | SimpleSds, now: float) -> None:
        try:
            if isinstance(message, SdsTransfer):
                text = self._reassembler.add(source, message)
            else:
                text = decode_text(message).text
        except ProtocolError as exc:
            self._log.warning("text_undecodable", source=source, error=str(exc))
            return
        if text is not None:
            self._log.info(
                "text_received", source=source, length=len(text), digest=text_digest(text)
            )
            self._emit(TextReceived(self.name, source, text, now))

    def _emit(self, event: RadioEvent) -> None:
        for queue in self._subscribers:
            try:
                queue.put_nowait(event)
            except asyncio.QueueFull:
                self._log.warning("event_dropped_queue_full", kind=type(event).__name__)

    def _late_stage(
        self, pending: PendingSend, stage: Literal["sent", "delivered", "read", "failed"]
    ) -> None:
        self._emit(
            DeliveryReported(
                self.name,
                pending.destination,
                pending.send_id,
                stage,
                time.time(),
                message_references=pending.references,
            )
        )

    # ---- supervision ------------------------------------------------------------------

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
        self._emit(LinkUp(self.name, self.issi, time.time()))
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
                    isinstance(reply.final, CmeError)
                    and reply.final.code == _CME_ALREADY_REGISTERED
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

    async def _probe_signal(self) -> None:
        """``AT+CSQ?``; report it, and take "99 = unknown" as not (yet) in service.

        A radio that has just booted answers on its PEI before it is registered with the
        network, and refuses SDS with ``+CME ERROR: 30`` meanwhile. Radios that always say
        99 come back into service after ``service_retry`` seconds anyway.
        """
        reply = await self._command(commands.query_signal())
        for event in reply.responses:
            if isinstance(event, SignalQuality):
                self._emit(SignalReport(self.name, event.rssi, event.dbm, time.time()))
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
            raise InitError(f"{_command_name(line)} answered {reply.final}")
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
        waiter = self._command_waiter
        if waiter is not None and not waiter.done.done():
            waiter.done.set_exception(RadioDownError(reason))
        self._tracker.fail_all(f"link_down:{reason}")
        await self._close(reader_task)
        if was_up:
            self._emit(LinkDown(self.name, reason, time.time()))

    async def _close(self, reader_task: asyncio.Task[None]) -> None:
        reader_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader_task
        writer, self._writer = self._writer, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


class InitError(ConnectionError):
    """The radio answered but refused the init sequence."""


_REPORT_REQUEST = {
    ReportLevel.SENT: DeliveryReportRequest.NONE,
    ReportLevel.DELIVERED: DeliveryReportRequest.RECEIVED,
    ReportLevel.READ: DeliveryReportRequest.BOTH,
}


def _command_name(line: bytes) -> str:
    # Log the command name only: an AT+CMGS line carries the payload.
    head = line.split(b"=", 1)[0].split(b"\r", 1)[0]
    return head.decode("ascii", errors="replace")


def _with_radio(outcome: SendOutcome, radio: str) -> SendOutcome:
    if outcome.radio == radio:
        return outcome
    return SendOutcome(
        outcome.kind,
        outcome.reason,
        temporary=outcome.temporary,
        radio_fault=outcome.radio_fault,
        radio=radio,
        message_references=outcome.message_references,
    )
