"""Inbound dispatch messages: validate, apply the gateway's limits and policies, hand over.

This is the MQTT bridge's handler. It returns only once what it accepted is stored durably
(so the bridge acknowledges the MQTT message after that). A payload that does not validate,
or that the gateway's limits refuse, is never acted on: it is answered on ``errors`` (and, for
a callout with a readable id, with ``rejected`` on its events topic), audited without any of
its content, and the gateway carries on.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from gateway.audit import redact_text
from gateway.callouts import CalloutEngine, RadioSender
from gateway.incidents import IncidentService
from gateway.logging import get_logger
from gateway.publisher import Publisher
from gateway.rate_limit import CalloutRateLimit
from gateway.store import IncidentClosedError, Store
from gateway.store.requests import UnitRequestRecord
from hardware.delivery import ReportLevel, SendOutcome
from protocols.dispatch import (
    CalloutRequest,
    DispatchRejected,
    IncidentCloseCommand,
    Topics,
    UnitSendCommand,
    is_dispatch_id,
    parse_inbound,
)
from protocols.errors import ProtocolError
from protocols.sds.text import TextTooLong, build_text_transfers

_log = get_logger("tetragw.inbound")


class UnitSender(RadioSender, Protocol):
    """What ``units/<issi>/send`` needs of the radios (``hardware.pool.RadioPool`` provides it)."""

    async def send_status(
        self, issi: int, value: int, deadline: float | None = None
    ) -> SendOutcome: ...


@dataclass(frozen=True, slots=True)
class InboundLimits:
    """What the gateway accepts beyond the contract's own limits (config ``[callouts]``,
    ``[limits]`` and ``allowed_issis``)."""

    max_payload_bytes: int = 65536
    max_text_length: int = 1000
    max_units: int = 100
    issi_allowed: Callable[[int], bool] = lambda _issi: True
    #: Appended to every callout text on the air (the pool backend's group instruction):
    #: the check that a text fits a concatenated SDS must count it too.
    text_suffix: str = ""


#: How long a single send to one unit is tried (``units/<issi>/send`` has no ``deadline_s``).
REQUEST_DEADLINE_S = 60.0


class InboundRouter:
    """Routes each validated inbound message to the callout engine or the incident service."""

    def __init__(
        self,
        *,
        topics: Topics,
        store: Store,
        publisher: Publisher,
        callouts: CalloutEngine,
        incidents: IncidentService,
        pool: UnitSender,
        notify_outbox: Callable[[], None],
        limits: InboundLimits | None = None,
        rate_limit: CalloutRateLimit | None = None,
    ) -> None:
        self._topics = topics
        self._store = store
        self._publisher = publisher
        self._callouts = callouts
        self._incidents = incidents
        self._pool = pool
        self._notify = notify_outbox
        self._limits = limits or InboundLimits()
        self._rate_limit = rate_limit
        self._requests: set[asyncio.Task[None]] = set()

    async def handle(self, topic: str, payload: bytes) -> None:
        """The bridge's ``on_message``: returns once the message is stored (or refused)."""
        try:
            relative = self._topics.relative(topic)
            message = parse_inbound(relative, payload, max_bytes=self._limits.max_payload_bytes)
        except DispatchRejected as exc:
            ids = None
            if exc.error == "invalid_payload" and topic == self._topics.callouts():
                ids = _readable_ids(payload)
            self._reject(topic, exc.error, exc.detail, ids=ids)
            return
        except ProtocolError as exc:
            self._reject(topic, "unknown_topic", str(exc))
            return
        match message:
            case CalloutRequest():
                self._callout(message, topic)
            case IncidentCloseCommand():
                await self._close(message, topic)
            case UnitSendCommand():
                self._unit_send(message, topic)

    # ---- callouts --------------------------------------------------------------------

    def _callout(self, request: CalloutRequest, topic: str) -> None:
        refusal = self._refusal(request)
        if refusal is not None:
            reason, detail = refusal
            ids = (request.callout_id, request.incident_id)
            self._reject(topic, "invalid_payload", detail, ids=ids, reason=reason)
            return
        # Only a new callout id takes a token: a republished one is answered with its state.
        rate = self._rate_limit
        if rate is not None and self._store.callout(request.callout_id) is not None:
            rate = None
        if rate is not None and not rate.try_take():
            self._reject(
                topic,
                "rate_limited",
                "callouts: more new callouts than [limits] callouts_per_minute_per_client",
                ids=(request.callout_id, request.incident_id),
                reason="rate_limited",
            )
            return
        try:
            acceptance = self._callouts.accept(request, topic=topic)
        except IncidentClosedError:
            if rate is not None:
                rate.give_back()
            self._reject(
                topic,
                "invalid_payload",
                "incident_id: incident is closed",
                ids=(request.callout_id, request.incident_id),
                reason="incident_closed",
            )
            return
        if acceptance.created and request.wants_talkgroup:
            self._incidents.on_callout(
                request.incident_id, request.callout_id, [u.issi for u in request.units]
            )
        else:
            self._incidents.touch(request.incident_id)

    def _refusal(self, request: CalloutRequest) -> tuple[str, str] | None:
        """Why the gateway's own limits refuse ``request``: (reason, detail), or None."""
        limits = self._limits
        if len(request.units) > limits.max_units:
            return "too_many_units", f"units: must have at most {limits.max_units} entries"
        for index, unit in enumerate(request.units):
            if not limits.issi_allowed(unit.issi):
                return "issi_not_allowed", f"units[{index}].issi: not in the allowed ISSIs"
        if len(request.text) > limits.max_text_length:
            return "text_too_long", f"text: must be at most {limits.max_text_length} characters"
        try:
            build_text_transfers(request.text + limits.text_suffix, itertools.repeat(1))
        except TextTooLong:
            return "text_too_long", "text: too long for a concatenated SDS"
        except ProtocolError:
            return "text_not_encodable", "text: cannot be encoded as SDS text"
        return None

    # ---- incidents and single sends --------------------------------------------------

    async def _close(self, command: IncidentCloseCommand, topic: str) -> None:
        with self._store.transaction() as tx:
            tx.audit(
                "inbound_request",
                command.incident_id,
                {
                    "topic": topic,
                    "kind": "incident_close",
                    "has_reason": bool(command.request.reason),
                },
            )
        closed = await self._incidents.close(command.incident_id, reason=command.request.reason)
        if not closed:
            self._reject(topic, "invalid_payload", "topic: incident is unknown or already closed")

    def _unit_send(self, command: UnitSendCommand, topic: str) -> None:
        """A message or status to one unit: stored, then sent; idempotent on ``request_id``."""
        request = command.request
        # Its ``accepted`` promises the send as a callout's does: a durable transaction.
        with self._store.transaction(durable=True) as tx:
            data: dict[str, object] = {"topic": topic, "kind": "unit_send"}
            if request.text is not None:
                data["text"] = redact_text(request.text)
            else:
                data["status"] = request.status
            tx.audit("inbound_request", request.request_id, data, issi=command.issi)
            created, stored = tx.accept_request(
                request.request_id,
                issi=command.issi,
                text=request.text,
                status=request.status,
                deadline_s=REQUEST_DEADLINE_S,
            )
            if created:
                self._publisher.request_event(tx, request_id=request.request_id, event="accepted")
            else:
                # A republished request alerts nobody twice: answer with where it stands.
                self._publisher.request_event(
                    tx,
                    request_id=request.request_id,
                    event="accepted",
                    reason=f"duplicate:{stored.outcome or stored.state}",
                )
        self._notify()
        if created:
            self._start_request(stored)

    def resume(self) -> None:
        """After a restart: send every request that had not ended (at least once)."""
        with self._store.transaction() as tx:
            pending = tx.pending_requests()
        for stored in pending:
            self._start_request(stored)

    def _start_request(self, stored: UnitRequestRecord) -> None:
        task = asyncio.create_task(self._send_one(stored), name=f"request-{stored.request_id}")
        self._requests.add(task)
        task.add_done_callback(self._requests.discard)

    async def _send_one(self, stored: UnitRequestRecord) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(0.0, stored.deadline_at - self._store.now())
        try:
            if stored.text is not None:
                outcome = await self._pool.send_text(
                    stored.issi, stored.text, deadline, wait_for=ReportLevel.DELIVERED
                )
            elif stored.status is not None:
                outcome = await self._pool.send_status(stored.issi, stored.status, deadline)
            else:  # the text was erased: the request ended before a restart
                outcome = SendOutcome.failed("text_erased")
        except Exception as exc:
            # The request must still end (``unreached``), as a callout's send does.
            _log.error(
                "request_send_crashed", request_id=stored.request_id, error=type(exc).__name__
            )
            outcome = SendOutcome.failed("internal_error")
        self._request_outcome(stored, outcome)

    def _request_outcome(self, stored: UnitRequestRecord, outcome: SendOutcome) -> None:
        rid = stored.request_id
        issi = stored.issi
        with self._store.transaction() as tx:
            if not tx.finish_request(rid, outcome=outcome.kind):
                return
            if outcome.ok:
                self._publisher.request_event(
                    tx, request_id=rid, event="sent", issi=issi, attempt=1
                )
                if outcome.kind in ("delivered", "read"):
                    self._publisher.request_event(tx, request_id=rid, event=outcome.kind, issi=issi)
            else:
                self._publisher.request_event(
                    tx,
                    request_id=rid,
                    event="unreached",
                    issi=issi,
                    reason=outcome.reason or outcome.kind,
                )
        self._notify()

    # ---- refusals --------------------------------------------------------------------

    def _reject(
        self,
        topic: str,
        error: str,
        detail: str,
        *,
        ids: tuple[str, str] | None = None,
        reason: str | None = None,
    ) -> None:
        """Answer on ``errors``; with ``ids`` (callout_id, incident_id) also ``rejected``,
        unless that callout id was accepted before (its units were alerted)."""
        with self._store.transaction() as tx:
            subject = ids[0] if ids is not None else "rejected"
            tx.audit(
                "inbound_request",
                subject,
                {"topic": topic, "outcome": "rejected", "error": error, "detail": detail},
            )
            self._publisher.error(tx, topic=topic, error=error, detail=detail)
            if ids is not None and tx.callout(ids[0]) is None:
                self._publisher.callout_event(
                    tx,
                    callout_id=ids[0],
                    incident_id=ids[1],
                    event="rejected",
                    reason=reason or error,
                )
        self._notify()
        _log.warning("inbound_rejected", topic=topic, error=error, detail=detail)

    async def stop(self) -> None:
        for task in list(self._requests):
            task.cancel()


def _readable_ids(payload: bytes) -> tuple[str, str] | None:
    """``(callout_id, incident_id)`` of a refused callout payload, where both are valid ids
    (a ``rejected`` event needs both); nothing else of the payload is looked at."""
    try:
        body = json.loads(payload)
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    callout_id, incident_id = body.get("callout_id"), body.get("incident_id")
    if not isinstance(callout_id, str) or not isinstance(incident_id, str):
        return None
    if not (is_dispatch_id(callout_id) and is_dispatch_id(incident_id)):
        return None
    return callout_id, incident_id
