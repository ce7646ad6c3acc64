"""The PEI driver of one TETRA radio: commands, sends, received SDS, link supervision.

Patterns from zigpy-znp/bellows and aiomqtt: one command in flight (``hardware.command_queue``,
which writes the next command from the reader the moment the last one is answered); the waiter
is registered BEFORE the command is written; every command has a timeout; unsolicited result
codes are dispatched while a command waits; a pending entry is removed in ``finally``. A lock
keeps multi-command sequences (init, selecting the SDS service and queueing the send) together;
an SDS for the service already selected is a single command and queues without it. An urgent
text (an urgent callout's) takes the next free message reference and is written before every
waiting command that is not urgent.

A supervisor task owns the link (``hardware.terminal_link``): it opens it (capped, jittered
exponential backoff), brings the radio into a known state with the vendor profile's init
sequence, sends a keep-alive ``AT`` when idle, and starts over when the line drops, the radio
stops answering (``max_missed`` timeouts in a row) or the radio shows it rebooted (a stale
``+CME ERROR: 35``, an echo coming back after ``ATE0``, a lost own identity). Sends in flight
when that happens fail with ``radio_fault=True`` so that the pool retries them elsewhere.
Received SDS become ``RadioEvent``s in ``hardware.terminal_inbound``; settings, replies and
errors live in ``hardware.terminal_types`` and are re-exported here.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import itertools
import time
from collections.abc import AsyncIterator, Awaitable, Callable

import structlog

from hardware.command_queue import CommandQueue
from hardware.delivery import (
    DeliveryTracker,
    PendingSend,
    ReferenceAllocator,
    ReportLevel,
    SendOutcome,
)
from hardware.link import pushed
from hardware.radio_events import GroupChanged, RadioEvent, SignalReport
from hardware.terminal_inbound import InboundEvents
from hardware.terminal_link import LinkSupervision
from hardware.terminal_types import (
    CME_OUT_OF_SERVICE,
    CME_RADIO_FAULT,
    CME_SYNTAX,
    CME_TRY_AGAIN,
    REPORT_REQUEST,
    CommandReply,
    CommandTimeoutError,
    CommandWaiter,
    InitError,
    RadioDownError,
    Streams,
    TerminalConfig,
    command_name,
    text_digest,
    with_radio,
)
from protocols.errors import ProtocolError
from protocols.pei import commands
from protocols.pei.events import (
    CmeError,
    CmsError,
    CommandEcho,
    Error,
    GroupSelection,
    Ok,
    PeiEvent,
    SdsInstance,
    SdsOutcome,
    SdsReceived,
    SignalQuality,
    Unrecognised,
)
from protocols.pei.parser import PeiParser
from protocols.sds.text import build_text_transfers

__all__ = [
    "CommandReply",
    "CommandTimeoutError",
    "InitError",
    "RadioDownError",
    "SendOutcome",
    "Terminal",
    "TerminalConfig",
    "text_digest",
]

log = structlog.get_logger("tetragw.terminal")

# AI services of AT+CTSDS (PEI reference §3).
_SDS_TYPE4 = 12
_STATUS = 13


class Terminal(LinkSupervision):
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
        self._inbound = InboundEvents(config.name, self._log)
        self._tracker = DeliveryTracker(
            self._allocator, on_stage=self._inbound.late_stage, read_window=config.read_window
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
        self._commands = CommandQueue(self._write_line, self._write_failed)
        self._selected_service: int | None = None
        self._missed = 0
        self._last_answer = 0.0
        self._status_ids = itertools.count(1)
        self._supervisor: asyncio.Task[None] | None = None
        self.issi: int | None = None
        #: Incident groups this radio scans, again at every (re)initialisation: a reboot
        #: forgets them. A ``RadioPool`` shares one set among its terminals.
        self.scanned_groups: set[int] = set()
        self._group_scans: asyncio.Task[None] | None = None

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
        return self._inbound.subscribe(self.config.event_queue_size)

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
        """Send ``text`` to unit ``issi`` as SDS-TL text and wait for the outcome.

        ``deadline`` is event-loop time (``loop.time()``, as for ``asyncio.timeout_at``),
        default ``send_deadline`` seconds from now. ``reports`` is what the unit is asked to
        report (``READ`` asks for both received and consumed); the call returns once
        ``wait_for`` is reached (``delivered`` by default). With ``reports=READ`` and
        ``wait_for=DELIVERED`` the later read arrives as a ``DeliveryReported(stage="read")``
        event carrying ``send_id``. An ``urgent`` text takes the next free message reference
        and is written before every waiting command that is not urgent. Never raises for radio
        trouble: it returns an outcome.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.config.send_deadline if deadline is None else deadline
        request = REPORT_REQUEST[reports]
        # Build once with placeholder references to learn how many parts the text needs.
        try:
            drafts = build_text_transfers(text, itertools.repeat(0), delivery_report=request)
        except ProtocolError as exc:
            return SendOutcome.failed(f"text_not_encodable: {exc}")
        self._log.info(
            "send_text", issi=issi, length=len(text), digest=text_digest(text), urgent=urgent
        )
        parts = len(drafts)
        refs = self._allocator.try_acquire(parts, urgent=urgent)
        if refs is None and self._tracker.evict_lingering(parts):
            self._log.info("read_wait_evicted", reason="references_exhausted")
        try:
            async with asyncio.timeout_at(deadline):
                refs = refs or await self._allocator.acquire(parts, urgent=urgent)
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
        return await self._send(pending, _SDS_TYPE4, issi, payloads, deadline, urgent=urgent)

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
        *,
        urgent: bool = False,
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
                        urgent=urgent,
                    )
                # shield: the deadline must not cancel the tracker's future itself.
                outcome = await asyncio.shield(pending.outcome)
        except TimeoutError:
            outcome = SendOutcome("timeout", message_references=pending.references)
        finally:
            self._tracker.finish(pending)
        return with_radio(outcome, self.name)

    async def _submit(
        self,
        pending: PendingSend,
        *,
        ref: int,
        ai_service: int,
        issi: int,
        payload: bytes,
        deadline: float,
        urgent: bool = False,
    ) -> None:
        """Hand one PDU to the radio; failures resolve ``pending`` through the tracker."""
        loop = asyncio.get_running_loop()
        while True:
            await self._usable.wait()
            bind = functools.partial(self._tracker.bind_instance, pending, ref)
            try:
                line = commands.send_sds(issi, payload)
                queued: CommandWaiter | CommandReply
                if self._selected_service == ai_service:
                    # The service is selected already: one command, queued without the lock
                    # (a sequence that changes the service first clears _selected_service).
                    self._require_ready()
                    queued = self._queue(line, on_instance=bind, urgent=urgent)
                else:
                    async with self._io_lock:
                        self._require_ready()
                        queued = await self._select_and_queue(ai_service, line, bind, urgent)
                reply = queued if isinstance(queued, CommandReply) else await self._result(queued)
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
            if code == CME_OUT_OF_SERVICE:
                self._set_in_service(False, "cme_30")
            if code in CME_TRY_AGAIN and loop.time() + self.config.busy_retry_delay < deadline:
                self._log.info("send_deferred", reason=reason)
                await asyncio.sleep(self.config.busy_retry_delay)
                continue
            self._tracker.fail_part(
                pending,
                reason,
                temporary=code is not None and (code in CME_TRY_AGAIN or code in CME_RADIO_FAULT),
                radio_fault=code in CME_RADIO_FAULT,
            )
            return

    async def _select_and_queue(
        self, ai_service: int, line: bytes, on_instance: Callable[[int], None], urgent: bool
    ) -> CommandWaiter | CommandReply:
        """Under ``_io_lock``: select ``ai_service`` unless it is selected, then queue ``line``.

        Returns the refused selection's reply, or the queued command. The command is queued
        before the lock is let go, so no other service can be selected ahead of it; its answer
        is awaited without the lock, so the senders waiting for the lock queue theirs as soon
        as the service is selected, in their order and with their urgency, instead of one
        round trip each while the senders that came later queue without the lock.
        """
        # AT+CTSDS is sticky on the radio: only repeat it when the service changes.
        if self._selected_service != ai_service:
            self._selected_service = None
            reply = await self._command(commands.select_sds_service(ai_service, 0))
            if not reply.ok:
                return reply
            self._selected_service = ai_service
        return self._queue(line, on_instance=on_instance, urgent=urgent)

    # ---- commands ---------------------------------------------------------------------

    def _require_ready(self) -> None:
        if not self._ready.is_set() or self._writer is None:
            raise RadioDownError(f"radio {self.name} is not ready")

    async def _command(
        self,
        line: bytes,
        seconds: float | None = None,
        on_instance: Callable[[int], None] | None = None,
        *,
        urgent: bool = False,
    ) -> CommandReply:
        """Queue one command and wait for its final result (``seconds`` from its write).

        Commands that must follow each other unbroken are sent under ``_io_lock``."""
        return await self._result(self._queue(line, seconds, on_instance, urgent=urgent))

    def _queue(
        self,
        line: bytes,
        seconds: float | None = None,
        on_instance: Callable[[int], None] | None = None,
        *,
        urgent: bool = False,
    ) -> CommandWaiter:
        """Queue one command (an ``urgent`` one before the waiting commands that are not)."""
        if self._writer is None:
            raise RadioDownError(f"radio {self.name} is not connected")
        waiter = CommandWaiter(
            asyncio.get_running_loop().create_future(),
            line=line,
            timeout=seconds or self.config.command_timeout,
            on_instance=on_instance,
            urgent=urgent,
        )
        self._commands.submit(waiter)  # registered before the write (zigpy-znp)
        return waiter

    async def _result(self, waiter: CommandWaiter) -> CommandReply:
        """Wait for a queued command's final result; count and report an unanswered one."""
        try:
            # A cancelled caller cancels this future: the queue then skips the command.
            final = await waiter.done
        except CommandTimeoutError:
            self._missed += 1
            self._log.warning(
                "command_timeout", command=command_name(waiter.line), missed=self._missed
            )
            if self._missed >= self.config.max_missed:
                self._flag_trouble("not_answering")
            raise
        self._missed = 0
        if isinstance(final, CmeError) and final.code == CME_SYNTAX and self._ready.is_set():
            # We only send well-formed commands: a syntax error is the stale answer of a
            # radio that has just powered up (PEI reference §1).
            self._flag_trouble("radio_reboot")
        return CommandReply(final, tuple(waiter.responses))

    def _write_line(self, line: bytes) -> None:
        writer = self._writer
        if writer is None or writer.transport.is_closing():
            raise RadioDownError(f"radio {self.name} is not connected")
        writer.write(line)

    def _write_failed(self, exc: Exception) -> None:
        self._log.warning("link_write_failed", error=str(exc))
        self._flag_trouble("write_failed")

    # ---- receiving --------------------------------------------------------------------

    async def _read_loop(self, reader: asyncio.StreamReader) -> None:
        """Handle what the radio writes until the link ends. A link of ``open_link`` pushes
        its bytes (``hardware.link.PushedStream``): they are handled in the transport's read
        callback, and this task only waits for the end. A plain stream is read here."""
        stream = pushed(self._writer) if self._writer is not None else None
        try:
            if stream is not None:
                stream.push_to(self._received)
            while data := await reader.read(4096):
                self._received(data)
        except (ConnectionError, OSError) as exc:
            self._log.warning("link_read_failed", error=str(exc))
        finally:
            if stream is not None:
                stream.push_to(None)
        self._flag_trouble("link_closed")

    def _received(self, data: bytes) -> None:
        self._last_answer = time.monotonic()
        try:
            for event in self._parser.feed(data):
                self._dispatch(event)
        except Exception:  # a bug here must cost the link, not the daemon or the bytes after
            self._log.exception("pei_handling_failed")
            self._flag_trouble("reader_failed")

    def _dispatch(self, event: PeiEvent) -> None:
        if isinstance(event, Ok | Error | CmeError | CmsError):
            answered = self._commands.finish(event)  # writes the next command, if any
            stale = isinstance(event, CmeError) and event.code == CME_SYNTAX
            if answered is None and stale and self.healthy:
                self._flag_trouble("radio_reboot")
            return
        waiter = self._commands.in_flight
        if isinstance(event, SdsOutcome):
            self._tracker.on_outcome(event.instance, event.sds_status, event.message_reference)
        elif isinstance(event, SdsReceived):
            self._inbound.on_sds(event, self._tracker)
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
            self._inbound.emit(GroupChanged(self.name, event.fields, time.time()))
        elif isinstance(event, SignalQuality):
            self._inbound.emit(SignalReport(self.name, event.rssi, event.dbm, time.time()))
