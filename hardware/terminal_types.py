"""The vocabulary of the PEI terminal driver: its settings, replies, errors and small helpers.

Shared by ``hardware.terminal`` (commands and sends), ``hardware.terminal_link`` (link
supervision) and ``hardware.terminal_inbound`` (received SDS); ``hardware.terminal``
re-exports the public names.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field

from hardware.delivery import ReportLevel, SendOutcome
from hardware.link import LinkSettings
from hardware.vendors import GENERIC, VendorProfile
from protocols.pei.events import FinalResult, Ok, PeiEvent
from protocols.sds.tl import DeliveryReportRequest

__all__ = [
    "CME_ALREADY_REGISTERED",
    "CME_OUT_OF_SERVICE",
    "CME_RADIO_FAULT",
    "CME_SYNTAX",
    "CME_TRY_AGAIN",
    "REPORT_REQUEST",
    "CommandReply",
    "CommandTimeoutError",
    "CommandWaiter",
    "InitError",
    "RadioDownError",
    "Streams",
    "TerminalConfig",
    "command_name",
    "text_digest",
    "with_radio",
]

Streams = tuple[asyncio.StreamReader, asyncio.StreamWriter]

# +CME ERROR codes after which a send may succeed if tried again a little later (§9):
# 3 not allowed now, 20 stack full, 41 transmit inhibit (Motorola while transmitting voice),
# 42 busy with signalling (e.g. a DGNA being processed).
CME_TRY_AGAIN = frozenset({3, 20, 41, 42})
# Codes that say our radio cannot reach the network: another radio may do better.
# 35 (syntax error) to a command we know is well formed is the stale answer of a radio
# that has just rebooted (PEI reference §1): the supervisor re-initialises it.
CME_SYNTAX = 35
CME_OUT_OF_SERVICE = 30
CME_RADIO_FAULT = frozenset({0, CME_OUT_OF_SERVICE, 31, 41, CME_SYNTAX})
CME_ALREADY_REGISTERED = 38


class RadioDownError(ConnectionError):
    """The radio is not connected or not initialised; nothing was sent."""


class CommandTimeoutError(TimeoutError):
    """The radio gave no final result within the command's timeout."""


class InitError(ConnectionError):
    """The radio answered but refused the init sequence."""


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
class CommandWaiter:
    """A command for the radio: its line, its final result and the information responses
    so far (``hardware.command_queue`` writes it and times it out)."""

    done: asyncio.Future[FinalResult]
    line: bytes
    #: Seconds from the write to the final result before the command counts as unanswered.
    timeout: float
    responses: list[PeiEvent] = field(default_factory=list)
    # Called from the reader on "+CMGS: <n>": the outcome line may follow in the same read,
    # before the sender wakes up, so the instance must be bound right there.
    on_instance: Callable[[int], None] | None = None
    timer: asyncio.TimerHandle | None = None
    #: Written before every waiting command that is not urgent (``hardware.command_queue``).
    urgent: bool = False


def text_digest(text: str) -> str:
    """What a log may say about a text: a short digest (never the text itself)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


REPORT_REQUEST = {
    ReportLevel.SENT: DeliveryReportRequest.NONE,
    ReportLevel.DELIVERED: DeliveryReportRequest.RECEIVED,
    ReportLevel.READ: DeliveryReportRequest.BOTH,
}


def command_name(line: bytes) -> str:
    """The command name of an AT line, for logs."""
    # Log the command name only: an AT+CMGS line carries the payload.
    head = line.split(b"=", 1)[0].split(b"\r", 1)[0]
    return head.decode("ascii", errors="replace")


def with_radio(outcome: SendOutcome, radio: str) -> SendOutcome:
    """``outcome`` as reported by ``radio``."""
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
