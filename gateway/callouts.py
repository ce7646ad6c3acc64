"""The callout engine: accept a callout durably, send it to every unit, retry until the deadline.

The flow of architecture.md: a validated callout is stored with its per-unit sends and its
``accepted`` event in one transaction; only then does anything go to a radio. Each unit's send
is one task that asks the radio pool for an SDS-TL text with a delivery report; its outcome is
recorded, with the events that announce it, in one transaction. A failed try is retried with
capped exponential backoff and jitter until the callout's deadline; a send still not delivered
at the deadline ends ``unreached``. Every unit of every accepted callout therefore ends in
exactly one of ``delivered``/``read`` or ``unreached``.

After a restart (also after SIGKILL) the store still holds every unfinished send. A send that
was ``sent`` (waiting for its report) when the gateway died is sent again: the radio that took
it has forgotten the message reference, so its report could not be matched. A try whose report
does not come within ``RetryPolicy.attempt_timeout_s`` is tried again too (the report may have
been lost on a dead line). These are the only cases in which a unit may receive a callout twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from gateway.audit import redact_text
from gateway.logging import get_logger
from gateway.publisher import Publisher
from gateway.store import (
    Acceptance,
    CalloutRecord,
    IncidentClosedError,
    NewCallout,
    SendRecord,
    Store,
    Transaction,
    UnitAssignment,
)
from hardware.delivery import ReportLevel, SendOutcome
from protocols.dispatch import CalloutEventKind, CalloutRequest

_log = get_logger("tetragw.callouts")

#: Roles that count as "an ambulance in the same incident" for the parallel-alert policy.
AMBULANCE_ROLES = frozenset({"ambulance"})
FIRST_RESPONDER_ROLES = frozenset({"first_responder", "fire", "volunteer"})


class RadioSender(Protocol):
    """What the engine needs of the radios (``hardware.pool.RadioPool`` provides it)."""

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
    ) -> SendOutcome: ...


class GroupInstructions(Protocol):
    """Adds the talk-group instruction to a callout text where the backend needs one."""

    async def callout_text(self, incident_id: str, text: str) -> str: ...


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Capped exponential backoff with jitter between tries of one send."""

    initial_s: float = 2.0
    max_s: float = 30.0
    jitter: float = 0.2
    #: How long one try waits for the unit's report before it is tried again. A report (or
    #: the SDS itself) lost on the way gives no failure at all (SDS-TL, EN 300 392-2 §29):
    #: without this bound one lost report would leave the unit unalerted until the deadline.
    attempt_timeout_s: float = 20.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait after the ``attempt``-th failed try (1-based)."""
        base = min(self.max_s, self.initial_s * 2.0 ** max(0, attempt - 1))
        return base * (1 + random.uniform(-self.jitter, self.jitter))


class CalloutEngine:
    """Runs every send of every accepted callout to its end. One per gateway."""

    def __init__(
        self,
        *,
        store: Store,
        publisher: Publisher,
        radios: RadioSender,
        notify_outbox: Callable[[], None],
        retry: RetryPolicy | None = None,
        groups: GroupInstructions | None = None,
        policy_warnings: bool = True,
        clock: Callable[[], float] = time.time,
        min_tick_interval_s: float = 0.02,
        urgent_priorities: Collection[str] = (),
    ) -> None:
        """``urgent_priorities``: the ``priority`` labels (any case) whose callouts go to
        the radio before the others waiting for it (``[callouts] urgent_priorities``)."""
        self._store = store
        self._publisher = publisher
        self._radios = radios
        self._notify = notify_outbox
        self._retry = retry or RetryPolicy()
        self._groups = groups
        self._policy_warnings_on = policy_warnings
        self._clock = clock
        self._in_flight: dict[int, asyncio.Task[bool]] = {}
        self._wake = asyncio.Event()
        self._running = False
        self._min_tick_interval_s = min_tick_interval_s
        self._urgent = frozenset(label.strip().casefold() for label in urgent_priorities)

    # ---- accepting -------------------------------------------------------------------

    def accept(self, request: CalloutRequest, *, topic: str) -> Acceptance:
        """Store ``request`` durably and queue its sends; publish ``accepted`` (or the
        current state, for a callout id already known). Raises ``IncidentClosedError``."""
        now = self._clock()
        callout = NewCallout(
            callout_id=request.callout_id,
            incident_id=request.incident_id,
            units=tuple(UnitAssignment(u.issi, u.role or "") for u in request.units),
            text=request.text,
            deadline_s=float(request.deadline_s),
            talkgroup=request.wants_talkgroup,
            priority=request.priority,
        )
        # "accepted ⇒ cannot be lost": a promise (durable). Under group commit the bridge
        # publishes ``accepted`` and PUBACKs the callout only after the store's flush
        # (gateway/store/durability.py); the sends start at once, while that flush runs.
        with self._store.transaction(now, durable=True) as tx:
            tx.audit(
                "inbound_request",
                request.callout_id,
                {
                    "topic": topic,
                    "kind": "callout",
                    "incident_id": request.incident_id,
                    "units": [u.issi for u in request.units],
                    "text": redact_text(request.text),
                    "deadline_s": request.deadline_s,
                },
            )
            acceptance = tx.accept_callout(callout)
            if acceptance.created:
                self._publisher.callout_event(
                    tx,
                    callout_id=request.callout_id,
                    incident_id=request.incident_id,
                    event="accepted",
                    priority=request.priority,
                )
                if self._policy_warnings_on:
                    self._policy_warnings(tx, request)
                self._publisher.timeline_of(tx, request.incident_id)
            else:
                self._publish_current_state(tx, acceptance)
        if self._running and acceptance.created:
            # The fast path to the radio: no waiting for the loop's next wake-up, and no
            # reading back what was just written. Started before the outbox pump is woken,
            # so the first AT byte goes out before the pump commits and flushes the group.
            for send in acceptance.sends:
                if send.state == "pending" and send.send_id not in self._in_flight:
                    self._start(send, acceptance.callout, request.text)
        else:
            self._wake.set()
        self._notify()
        _log.info(
            "callout_accepted" if acceptance.created else "callout_duplicate",
            callout_id=request.callout_id,
            incident_id=request.incident_id,
            units=len(request.units),
        )
        return acceptance

    def _policy_warnings(self, tx: Transaction, request: CalloutRequest) -> None:
        """The national guideline: a first responder is alerted in parallel with an ambulance."""
        requested = {u.role or "" for u in request.units}
        if requested & AMBULANCE_ROLES:
            return  # an ambulance in this very callout: no need to read the incident
        timeline = tx.timeline(request.incident_id)
        roles = {unit.role for unit in timeline.units} if timeline else set()
        roles |= requested
        if roles & FIRST_RESPONDER_ROLES and not roles & AMBULANCE_ROLES:
            self._publisher.callout_event(
                tx,
                callout_id=request.callout_id,
                incident_id=request.incident_id,
                event="policy_warning",
                reason="first_responder_without_ambulance",
            )

    def _publish_current_state(self, tx: Transaction, acceptance: Acceptance) -> None:
        """Answer a repeated callout id with the state of the callout, alerting nobody."""
        callout = acceptance.callout
        self._publisher.callout_event(
            tx,
            callout_id=callout.callout_id,
            incident_id=callout.incident_id,
            event="accepted",
            priority=callout.priority,
            duplicate=True,
            unit_states={str(send.issi): send.state for send in acceptance.sends},
            reason="conflicting_duplicate" if acceptance.differs else None,
        )

    # ---- the send loop ---------------------------------------------------------------

    async def run(self) -> None:
        """Resume what a previous run left, then start every send when it falls due."""
        self._resume()
        self._running = True
        try:
            while True:
                self._wake.clear()
                timeout = self._tick()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout)
                # A burst of finished sends wakes the loop once, not once each: a tick reads
                # every unfinished send, and retries and deadlines are seconds apart anyway.
                await asyncio.sleep(self._min_tick_interval_s)
        finally:
            self._running = False
            for task in list(self._in_flight.values()):
                task.cancel()
            for task in list(self._in_flight.values()):
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    def wake(self) -> None:
        self._wake.set()

    def _resume(self) -> None:
        """Sends ``sent`` before a restart go out again: their radio forgot the reference."""
        now = self._clock()
        with self._store.transaction(now) as tx:
            expired = {send.send_id for send in tx.expired_sends(now)}
            for send in tx.unfinished_sends():
                # An expired one is left to ``_expire``: its reason is the deadline, not us.
                if send.state == "sent" and send.send_id not in expired:
                    tx.record_retrying(send.send_id, reason="gateway_restart", next_attempt_at=now)

    def _tick(self) -> float | None:
        """Start due sends, end expired ones; return seconds until the next thing to do.

        Runs on every wake-up (each acceptance, each finished try), so it reads only ids and
        times and builds a record only for a send it starts: with many sends in flight the
        cost per wake-up stays a query, not a record per unfinished send.
        """
        now = self._clock()
        self._expire(now)
        for send_id in self._store.due_send_ids(now):
            if send_id not in self._in_flight:
                send = self._store.send(send_id)
                if send is not None:
                    self._start(send)
        for send_id, at in self._store.send_wakeups():
            if send_id not in self._in_flight:
                return max(0.01, at - now)
        return None

    def _expire(self, now: float) -> None:
        expired = [s for s in self._store.expired_sends(now) if s.send_id not in self._in_flight]
        if not expired:
            return
        with self._store.transaction(now) as tx:
            for send in expired:
                self._unreached(tx, send, send.last_reason or "deadline")
        self._notify()

    def _start(
        self, send: SendRecord, callout: CalloutRecord | None = None, text: str | None = None
    ) -> None:
        task = asyncio.create_task(self._attempt(send, callout, text), name=f"send-{send.send_id}")
        self._in_flight[send.send_id] = task
        send_id = send.send_id
        task.add_done_callback(lambda done: self._finished(send_id, done))

    def _is_urgent(self, priority: str | None) -> bool:
        """Whether a callout of ``priority`` goes to the radio ahead of the others."""
        return priority is not None and priority.strip().casefold() in self._urgent

    def _finished(self, send_id: int, task: asyncio.Task[bool]) -> None:
        """A try ended. The loop is woken only if the send is still unfinished (a retry or a
        deadline to watch) or the try did not end normally: a send that became final leaves
        nothing to do, and a tick reads every unfinished send (a backlog of hundreds of
        callouts made that a query of hundreds of rows per delivered SDS)."""
        self._in_flight.pop(send_id, None)
        if task.cancelled() or task.exception() is not None or task.result():
            self._wake.set()

    async def _attempt(
        self, send: SendRecord, callout: CalloutRecord | None, text: str | None
    ) -> bool:
        """One try of ``send``; ``callout`` and ``text`` are read from the store unless the
        caller (the acceptance) has them at hand. True unless the send is now final."""
        if callout is None:
            callout = self._store.callout(send.callout_id)
        if text is None:
            text = self._store.callout_text(send.callout_id)
        if callout is None or text is None:
            return True
        if self._groups is not None:
            text = await self._groups.callout_text(callout.incident_id, text)
        attempt = send.attempts + 1
        urgent = self._is_urgent(callout.priority)
        loop = asyncio.get_running_loop()
        started = self._clock()
        remaining = min(callout.deadline_at - started, self._retry.attempt_timeout_s)
        with self._store.transaction() as tx:
            tx.audit(
                "radio_command",
                send.callout_id,
                {
                    "command": "send_text",
                    "attempt": attempt,
                    "text": redact_text(text),
                    # Why it may have gone to the radio before callouts accepted earlier.
                    "urgent": urgent,
                },
                issi=send.issi,
            )
        try:
            outcome = await self._radios.send_text(
                send.issi,
                text,
                loop.time() + remaining,
                reports=ReportLevel.READ,
                wait_for=ReportLevel.DELIVERED,
                send_id=str(send.send_id),
                urgent=urgent,
            )
        except Exception as exc:
            _log.error("send_crashed", send_id=send.send_id, error=type(exc).__name__)
            outcome = SendOutcome.failed("internal_error", temporary=True)
        # A try that waited its whole bound for a report is tried again; a timeout that came
        # sooner is the radio layer's own verdict at the deadline.
        waited = outcome.kind == "timeout" and self._clock() - started >= remaining - 0.5
        return self._record(
            send, callout.incident_id, callout.deadline_at, attempt, outcome, retry_timeout=waited
        )

    def _record(
        self,
        send: SendRecord,
        incident_id: str,
        deadline_at: float,
        attempt: int,
        outcome: SendOutcome,
        *,
        retry_timeout: bool = False,
    ) -> bool:
        """Record one try's outcome; True unless the send is now final (delivered, read or
        unreached)."""
        now = self._clock()
        ids = {"callout_id": send.callout_id, "incident_id": incident_id}
        unfinished = True
        with self._store.transaction(now) as tx:
            if outcome.kind in ("sent", "delivered", "read"):
                self.sent(
                    tx, send.send_id, radio=outcome.radio, message_refs=outcome.message_references
                )
                if outcome.kind in ("delivered", "read"):
                    self.delivered(tx, send.send_id, read=outcome.kind == "read")
                    unfinished = False
            elif now >= deadline_at or (outcome.kind == "timeout" and not retry_timeout):
                self._unreached(tx, send, outcome.reason or "deadline")
                unfinished = False
            else:
                reason = outcome.reason or ("no_report" if outcome.kind == "timeout" else "failed")
                next_at = now + self._retry.delay(attempt)
                if next_at >= deadline_at:
                    # No time for another try: the send waits for its deadline, which then
                    # reports it ``unreached`` with this reason. ``retrying`` would promise a
                    # try that never comes (dispatch-api.md: "another will follow").
                    tx.record_retrying(send.send_id, reason=reason, next_attempt_at=deadline_at)
                elif tx.record_retrying(send.send_id, reason=reason, next_attempt_at=next_at):
                    self._publisher.callout_event(
                        tx, **ids, event="retrying", issi=send.issi, attempt=attempt, reason=reason
                    )
        _log.info(
            "send_outcome",
            callout_id=send.callout_id,
            issi=send.issi,
            attempt=attempt,
            outcome=outcome.kind,
            reason=outcome.reason,
            radio=outcome.radio,
        )
        self._notify()
        return unfinished

    def sent(
        self, tx: Transaction, send_id: int, *, radio: str | None, message_refs: Sequence[int]
    ) -> None:
        """Record that the network took ``send_id``'s text (once per try; later calls for the
        same try change nothing)."""
        updated = tx.record_sent(send_id, radio=radio or "unknown", message_refs=message_refs)
        if updated is not None:
            self._send_event(tx, updated, "sent")

    def delivered(self, tx: Transaction, send_id: int, *, read: bool = False) -> None:
        """Record that the unit confirmed receipt (or reading) of ``send_id``'s text."""
        before = tx.send(send_id)
        if before is None or before.state in ("unreached", "read"):
            return
        if before.state in ("pending", "sent") and tx.record_delivered(send_id):
            incident_id = self._send_event(tx, before, "delivered")
            if incident_id is not None:
                self._publisher.timeline_of(tx, incident_id)
        if read and tx.record_read(send_id):
            self._send_event(tx, before, "read")

    def _unreached(self, tx: Transaction, send: SendRecord, reason: str) -> None:
        if tx.record_unreached(send.send_id, reason=reason) is None:
            return
        incident_id = self._send_event(tx, send, "unreached", reason=reason)
        if incident_id is not None:
            self._publisher.timeline_of(tx, incident_id)
        _log.warning("unit_unreached", callout_id=send.callout_id, issi=send.issi, reason=reason)

    def _send_event(
        self, tx: Transaction, send: SendRecord, event: CalloutEventKind, **fields: Any
    ) -> str | None:
        """Publish ``event`` for ``send`` on its callout's topic; its incident id (or None)."""
        callout = tx.callout(send.callout_id)
        if callout is None:
            return None
        self._publisher.callout_event(
            tx,
            callout_id=callout.callout_id,
            incident_id=callout.incident_id,
            event=event,
            issi=send.issi,
            attempt=max(1, send.attempts),
            **fields,
        )
        return callout.incident_id

    @property
    def in_flight(self) -> int:
        return len(self._in_flight)


__all__ = [
    "AMBULANCE_ROLES",
    "CalloutEngine",
    "GroupInstructions",
    "IncidentClosedError",
    "RadioSender",
    "RetryPolicy",
]
