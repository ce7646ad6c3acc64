"""What a PEI terminal received, as ``RadioEvent``s: decoded SDS and the fan-out to subscribers.

Statuses, emergencies, locations and texts (reassembled across SDS-TL parts) become events;
SDS-TL reports and short reports go to the send's ``DeliveryTracker``. Every event reaches
each subscriber's own bounded queue; a full queue drops the event with a warning.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Literal

import structlog

from hardware.delivery import DeliveryTracker, PendingSend
from hardware.fanout import Fanout
from hardware.radio_events import (
    DeliveryReported,
    EmergencyReceived,
    RadioEvent,
    StatusReceived,
    TextReceived,
    location_event,
)
from hardware.terminal_types import text_digest
from protocols.errors import ProtocolError
from protocols.pei.events import SdsReceived
from protocols.sds.lip import LipLongReport, LipShortReport
from protocols.sds.message import StatusMessage, decode_sds
from protocols.sds.text import TextReassembler, decode_text
from protocols.sds.tl import SdsReport, SdsTransfer, ShortReport, SimpleSds

__all__ = ["InboundEvents"]

_TEXT_PIDS = frozenset({0x02, 0x09, 0x82, 0x89, 0x8A})


class InboundEvents:
    """The events of one radio: received SDS decoded, and each event handed to subscribers."""

    def __init__(self, radio: str, log: structlog.typing.FilteringBoundLogger) -> None:
        self.name = radio
        self._log = log
        self._events: Fanout[RadioEvent] = Fanout(
            lambda event: log.warning("event_dropped_queue_full", kind=type(event).__name__)
        )
        self._reassembler = TextReassembler()

    def subscribe(self, queue_size: int) -> AsyncIterator[RadioEvent]:
        """Every event from the moment of the call, through a queue of its own.

        Iterate it: the queue is removed when the iterator is closed.
        """
        return self._events.subscribe(queue_size)

    def on_sds(self, sds: SdsReceived, tracker: DeliveryTracker) -> None:
        """Decode a received SDS: an event, or a report for ``tracker``."""
        now = time.time()
        source = sds.calling_ssi
        try:
            message = decode_sds(sds.ai_service, sds.payload, sds.length_bits)
        except ProtocolError as exc:
            self._log.warning("sds_undecodable", source=source, error=str(exc))
            return
        if isinstance(message, ShortReport):
            tracker.on_short_report(source, message.message_reference, int(message.report_type))
        elif isinstance(message, StatusMessage):
            if message.value == 0:
                self.emit(EmergencyReceived(self.name, source, now))
            else:
                self.emit(StatusReceived(self.name, source, message.value, now))
        elif isinstance(message, SdsReport):
            tracker.on_report(source, message.message_reference, message.delivery_status)
        elif isinstance(message, LipShortReport | LipLongReport):
            located = location_event(self.name, source, message, now)
            if located is not None:
                self.emit(located)
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
            self.emit(TextReceived(self.name, source, text, now))

    def emit(self, event: RadioEvent) -> None:
        """Hand ``event`` to every subscriber."""
        self._events.emit(event)

    def late_stage(
        self, pending: PendingSend, stage: Literal["sent", "delivered", "read", "failed"]
    ) -> None:
        """Announce a stage a send reached after its sender stopped waiting (``on_stage``)."""
        self.emit(
            DeliveryReported(
                self.name,
                pending.destination,
                pending.send_id,
                stage,
                time.time(),
                message_references=pending.references,
            )
        )
