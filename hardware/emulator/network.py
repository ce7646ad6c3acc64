"""The virtual SwMI: routes SDS between gateway terminals and field units, with air timing.

Routing decisions (documented in ``docs/emulator.md``):
- An SDS from a gateway terminal is taken by the radio (``+CMGS: <n>``), crosses the air
  (``sds_delay``), and the terminal then says ``+CMGS: <n>,4,<ref>`` (sent) — or ``5``
  (failed) when the called identity is unknown to the network.
- To a unit in coverage it arrives one more air delay later. To a unit out of coverage it
  never arrives; when the transfer asked for a report, the SwMI itself answers the sender
  with an SDS-REPORT "destination not reachable" (0x5A) after ``unreachable_report_delay_s``
  (``unreachable_report = "none"``: nothing, the sender times out).
- A terminal under a ``congestion`` fault gets SDS-REPORT 0x20 (congestion, temporary)
  instead of delivery.
- To a group: every attached unit in coverage, and every other gateway terminal that
  selected the group; no reports.
- What a unit sends goes to its dispatcher (the terminal that sent it the last callout,
  else the first gateway terminal); reports go to the sender of the message they report.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hardware.emulator.scenario import NetworkSettings
from protocols.errors import ProtocolError
from protocols.sds.tl import (
    DeliveryReportRequest,
    DeliveryStatus,
    SdsReport,
    SdsTransfer,
    decode_tl,
)

if TYPE_CHECKING:
    from hardware.emulator.terminal import GatewayTerminal
    from hardware.emulator.units import FieldUnit

SDS_TL_SERVICE = 12
STATUS_SERVICE = 13
SDS_STATUS_SENT = 4
SDS_STATUS_FAILED = 5


@dataclass(frozen=True, slots=True)
class AirSds:
    """One SDS on the air interface: who sends it to whom, and the bits."""

    calling: int
    called: int
    ai_service: int
    payload: bytes
    length_bits: int


class TimingLag:
    """How late scheduled events fire compared with when they were due (seconds)."""

    __slots__ = ("count", "max_s", "total_s")

    def __init__(self) -> None:
        self.count = 0
        self.total_s = 0.0
        self.max_s = 0.0

    def record(self, lag: float) -> None:
        """Add one observation."""
        self.count += 1
        self.total_s += lag
        self.max_s = max(self.max_s, lag)

    def as_dict(self) -> dict[str, float | int]:
        """``{"events", "mean_ms", "max_ms"}``."""
        mean = self.total_s / self.count if self.count else 0.0
        return {"events": self.count, "mean_ms": mean * 1000, "max_ms": self.max_s * 1000}


class Swmi:
    """The switching and management infrastructure: one per emulator."""

    def __init__(self, settings: NetworkSettings) -> None:
        self.settings = settings
        self.rng = random.Random(settings.seed)
        self.terminals: dict[int, GatewayTerminal] = {}
        self.units: dict[int, FieldUnit] = {}
        self.lag = TimingLag()
        self._handles: set[asyncio.TimerHandle] = set()

    # -- time -----------------------------------------------------------------
    @property
    def sds_delay(self) -> float:
        """Air-interface delay of one SDS, seconds."""
        return self.settings.sds_delay_ms / 1000.0

    def scaled(self, seconds: float) -> float:
        """A behaviour delay stretched by ``--time-scale``."""
        return seconds * self.settings.time_scale

    def now(self) -> float:
        """The loop's clock."""
        return asyncio.get_running_loop().time()

    def schedule(
        self, delay: float, callback: Callable[..., Any], *args: Any
    ) -> asyncio.TimerHandle:
        """Run ``callback(*args)`` after ``delay`` seconds, recording how late it fires."""
        loop = asyncio.get_running_loop()
        due = loop.time() + max(0.0, delay)

        def fire() -> None:
            self._handles.discard(handle)
            self.lag.record(max(0.0, loop.time() - due))
            callback(*args)

        handle = loop.call_at(due, fire)
        self._handles.add(handle)
        return handle

    def cancel_all(self) -> None:
        """Cancel everything scheduled (shutdown)."""
        for handle in self._handles:
            handle.cancel()
        self._handles.clear()

    # -- identities -------------------------------------------------------------
    def add_terminal(self, terminal: GatewayTerminal) -> None:
        """Register a gateway terminal."""
        self.terminals[terminal.issi] = terminal

    def add_unit(self, unit: FieldUnit) -> None:
        """Register a field unit."""
        self.units[unit.issi] = unit

    def default_dispatcher(self) -> int:
        """The ISSI a unit reports to before any callout: the first gateway terminal."""
        return next(iter(self.terminals))

    def group_known(self, gssi: int) -> bool:
        """A static (default) or dynamic group."""
        if gssi == self.settings.default_group:
            return True
        return any(gssi in unit.groups for unit in self.units.values())

    # -- uplink from a gateway terminal ----------------------------------------
    def from_terminal(self, terminal: GatewayTerminal, instance: int, sds: AirSds) -> None:
        """The terminal took an SDS (``+CMGS: <instance>``); carry it over the air."""
        epoch = terminal.power_epoch
        self.schedule(self.sds_delay, self._uplinked, terminal, epoch, instance, sds)

    def _uplinked(self, terminal: GatewayTerminal, epoch: int, instance: int, sds: AirSds) -> None:
        if terminal.power_epoch != epoch:
            return  # the radio rebooted before it got the message out
        transfer = _transfer_of(sds)
        reference = transfer.message_reference if transfer is not None else None
        known = (
            sds.called in self.units or sds.called in self.terminals or self.group_known(sds.called)
        )
        if not known:
            terminal.sds_outcome(instance, SDS_STATUS_FAILED, reference)
            return
        terminal.sds_outcome(instance, SDS_STATUS_SENT, reference)
        if transfer is not None and terminal.congestion.hit(self.now()):
            self._swmi_report(sds, transfer, DeliveryStatus.CONGESTION, self.sds_delay)
            return
        unit = self.units.get(sds.called)
        if unit is not None:
            if unit.in_coverage:
                self.schedule(self.sds_delay, unit.receive, sds, False)
            elif transfer is not None and self.settings.unreachable_report == "failure":
                delay = self.scaled(self.settings.unreachable_report_delay_s)
                self._swmi_report(sds, transfer, DeliveryStatus.DESTINATION_NOT_REACHABLE, delay)
            return
        other = self.terminals.get(sds.called)
        if other is not None:
            self.schedule(self.sds_delay, other.indicate, sds)
            return
        self._to_group(sds)

    def _to_group(self, sds: AirSds) -> None:
        for unit in self.units.values():
            if unit.in_coverage and sds.called in unit.attached_groups():
                self.schedule(self.sds_delay, unit.receive, sds, True)
        for terminal in self.terminals.values():
            if terminal.issi != sds.calling and sds.called in terminal.selected_groups:
                self.schedule(self.sds_delay, terminal.indicate, sds)

    def _swmi_report(self, sds: AirSds, transfer: SdsTransfer, status: int, delay: float) -> None:
        if transfer.delivery_report == DeliveryReportRequest.NONE:
            return
        report = SdsReport(transfer.pid, False, False, status, transfer.message_reference)
        payload = report.encode()
        answer = AirSds(sds.called, sds.calling, SDS_TL_SERVICE, payload, 8 * len(payload))
        self.schedule(delay, self.deliver_to_terminal, answer, None)

    # -- uplink from a unit -----------------------------------------------------
    def from_unit(self, sds: AirSds, on_unreachable: Callable[[], None] | None = None) -> None:
        """A unit sends ``sds`` (it is in coverage); ``on_unreachable`` if the terminal is off."""
        self.schedule(2 * self.sds_delay, self.deliver_to_terminal, sds, on_unreachable)

    def deliver_to_terminal(self, sds: AirSds, on_unreachable: Callable[[], None] | None) -> None:
        """Hand ``sds`` to the addressed gateway terminal, if it is on."""
        terminal = self.terminals.get(sds.called)
        if terminal is not None and terminal.reachable():
            terminal.indicate(sds)
        elif on_unreachable is not None:
            on_unreachable()


def _transfer_of(sds: AirSds) -> SdsTransfer | None:
    if sds.ai_service != SDS_TL_SERVICE:
        return None
    try:
        pdu = decode_tl(sds.payload, sds.length_bits)
    except ProtocolError:
        return None
    return pdu if isinstance(pdu, SdsTransfer) else None
