"""Field units: simulated terminals (ambulances, first responders) that answer callouts.

A unit that receives an SDS-TL text from a gateway terminal treats it as a callout: it
reports delivery at once (full SDS-REPORT, or a short report when the transfer allows it
and the unit's ``report_form`` says so), then — by behaviour — sends the status values of
``CALLOUT_SEQUENCE`` (from the status table), moving toward the incident while en route and
sending LIP short reports. ``consumed`` reports go when the crew reads the message (at the
``acknowledged`` step). A status the dispatcher's terminal could not take (it was off) is
sent again every ``status_retry_s``, up to ``status_retries`` times, as terminals do; what a
unit sends while out of coverage waits until coverage returns.
"""

from __future__ import annotations

import asyncio
import functools
import math
import time
from collections.abc import Iterator
from typing import Any

from hardware.emulator.network import SDS_TL_SERVICE, STATUS_SERVICE, AirSds, Swmi
from hardware.emulator.scenario import Position, UnitSpec
from protocols.errors import ProtocolError
from protocols.sds.lip import LIP_SHORT_BITS, LipShortReport, ReasonForSending
from protocols.sds.text import TextReassembler, build_text_transfers
from protocols.sds.tl import (
    DeliveryReportRequest,
    DeliveryStatus,
    SdsAck,
    SdsReport,
    SdsTransfer,
    ShortReport,
    ShortReportType,
    SimpleSds,
    decode_tl,
)

TEXT_PIDS = frozenset({0x82, 0x89, 0x8A})
# Windows (seconds at time scale 1) for each step of the callout sequence, by behaviour.
SEQUENCE_WINDOWS: dict[str, tuple[tuple[float, float], ...]] = {
    "responsive": ((1.0, 3.0), (3.5, 6.0), (10.0, 14.0), (16.0, 19.0)),
    "slow": ((8.0, 12.0), (15.0, 22.0), (35.0, 45.0), (50.0, 57.0)),
}
POSITION_UPDATES_EN_ROUTE = 4
_READ_BY_SILENT_CREW_S = 2.0


def _references() -> Iterator[int]:
    reference = 0
    while True:
        reference = reference % 255 + 1
        yield reference


class FieldUnit:
    """One simulated field terminal."""

    def __init__(
        self,
        spec: UnitSpec,
        swmi: Swmi,
        sequence: tuple[tuple[str, int], ...],
        incident: Position,
    ) -> None:
        self.spec = spec
        self.issi = spec.issi
        self.swmi = swmi
        self.sequence = sequence
        self.incident = incident
        self.position = spec.position
        self.in_coverage = spec.in_coverage
        self.state = "idle"
        self.groups: dict[int, str] = {}
        self.selected_group = swmi.settings.default_group
        self.inbox: list[dict[str, Any]] = []
        self.dispatcher: int | None = None
        self.statuses_given_up = 0
        self._references = _references()
        self._reassembler = TextReassembler()
        self._plan: list[asyncio.TimerHandle] = []
        self._unread: list[tuple[int, SdsTransfer]] = []
        self._held: list[AirSds] = []

    # -- what the control API shows ----------------------------------------------
    def attached_groups(self) -> set[int]:
        """The default group and every dynamic group attached."""
        return {self.swmi.settings.default_group, *self.groups}

    def as_dict(self) -> dict[str, Any]:
        """The unit as ``GET /units`` lists it."""
        return {
            "issi": self.issi,
            "name": self.spec.name,
            "role": self.spec.role,
            "behaviour": self.spec.behaviour,
            "state": self.state,
            "in_coverage": self.in_coverage,
            "position": {"lat": self.position.lat, "lon": self.position.lon},
            "groups": sorted(self.attached_groups()),
            "dynamic_groups": {str(g): c for g, c in sorted(self.groups.items())},
            "selected_group": self.selected_group,
            "dispatcher": self.dispatcher,
            "report_form": self.spec.report_form,
        }

    def _note(self, kind: str, sds: AirSds | None = None, **fields: Any) -> None:
        entry: dict[str, Any] = {"kind": kind, "time": time.time()}
        if sds is not None:
            entry["from"] = sds.calling
            if sds.called != self.issi:
                entry["group"] = sds.called
        entry.update(fields)
        self.inbox.append(entry)

    # -- receiving ----------------------------------------------------------------
    def receive(self, sds: AirSds, to_group: bool) -> None:
        """An SDS arrives over the air (addressed to the unit or to a group it holds)."""
        if not self.in_coverage:
            return
        if sds.ai_service == STATUS_SERVICE:
            value = int.from_bytes(sds.payload[:2], "big")
            self._note("status", sds, value=value)
            return
        if sds.ai_service != SDS_TL_SERVICE:  # SDS types 1-3: plain bits, no SDS-TL
            self._note("sds", sds, ai_service=sds.ai_service, hex=sds.payload.hex().upper())
            return
        try:
            pdu = decode_tl(sds.payload, sds.length_bits)
        except ProtocolError as exc:
            self._note("undecodable", sds, hex=sds.payload.hex().upper(), error=str(exc))
            return
        if isinstance(pdu, SdsReport | SdsAck):
            self._note(
                "report",
                sds,
                delivery_status=pdu.delivery_status,
                message_reference=pdu.message_reference,
            )
        elif isinstance(pdu, SdsTransfer):
            self._receive_transfer(sds, pdu, to_group)
        elif isinstance(pdu, SimpleSds) and pdu.pid in (0x02, 0x09):
            self._receive_text(sds, pdu)
        else:
            self._note("sds", sds, pid=sds.payload[0], hex=sds.payload.hex().upper())

    def _receive_transfer(self, sds: AirSds, transfer: SdsTransfer, to_group: bool) -> None:
        if not to_group:
            self._report(sds.calling, transfer, consumed=False)
        if transfer.pid not in TEXT_PIDS:
            self._note("sds", sds, pid=transfer.pid, hex=transfer.user_data.hex().upper())
            return
        if not to_group and transfer.delivery_report in (
            DeliveryReportRequest.CONSUMED,
            DeliveryReportRequest.BOTH,
        ):
            self._unread.append((sds.calling, transfer))
        text = self._receive_text(sds, transfer)
        if text is not None and not to_group and sds.calling in self.swmi.terminals:
            self.callout(sds.calling)

    def _receive_text(self, sds: AirSds, pdu: SdsTransfer | SimpleSds) -> str | None:
        try:
            text = self._reassembler.add(sds.calling, pdu)
        except ProtocolError as exc:
            self._note("undecodable", sds, hex=sds.payload.hex().upper(), error=str(exc))
            return None
        if text is not None:
            self._note("text", sds, text=text)
        return text

    def _report(self, to: int, transfer: SdsTransfer, *, consumed: bool) -> None:
        wanted = DeliveryReportRequest.CONSUMED if consumed else DeliveryReportRequest.RECEIVED
        if transfer.delivery_report not in (wanted, DeliveryReportRequest.BOTH):
            return
        form = self.spec.report_form
        short = transfer.short_form_report and (
            form == "short" or (form == "mixed" and self.swmi.rng.random() < 0.5)
        )
        if short:
            kind = ShortReportType.CONSUMED if consumed else ShortReportType.RECEIVED
            value = ShortReport(kind, transfer.message_reference).to_status()
            self._send(AirSds(self.issi, to, STATUS_SERVICE, value.to_bytes(2, "big"), 16))
            return
        status = DeliveryStatus.CONSUMED if consumed else DeliveryStatus.RECEIVED
        payload = SdsReport(transfer.pid, False, False, status, transfer.message_reference).encode()
        self._send(AirSds(self.issi, to, SDS_TL_SERVICE, payload, 8 * len(payload)))

    # -- the callout sequence -----------------------------------------------------
    def callout(self, dispatcher: int) -> None:
        """Start (or restart) the answer to a callout from ``dispatcher``."""
        self.dispatcher = dispatcher
        for handle in self._plan:
            handle.cancel()
        self._plan.clear()
        self.state = "alerted"
        windows = SEQUENCE_WINDOWS.get(self.spec.behaviour)
        if windows is None:  # silent (or unreachable brought into coverage): reads, no answer
            self._plan.append(
                self.swmi.schedule(self.swmi.scaled(_READ_BY_SILENT_CREW_S), self._read_messages)
            )
            return
        rng = self.swmi.rng
        times = [self.swmi.scaled(rng.uniform(lo, hi)) for lo, hi in windows]
        for (meaning, value), at in zip(self.sequence, times, strict=True):
            self._plan.append(self.swmi.schedule(at, self._step, meaning, value))
        start, arrive = times[1], times[2]
        origin = self.position
        for n in range(1, POSITION_UPDATES_EN_ROUTE + 1):
            fraction = n / (POSITION_UPDATES_EN_ROUTE + 1)
            at = start + (arrive - start) * fraction
            self._plan.append(self.swmi.schedule(at, self._move, origin, fraction))
        self._plan.append(self.swmi.schedule(arrive, self._move, origin, 1.0))

    def _read_messages(self) -> None:
        unread, self._unread = self._unread, []
        for sender, transfer in unread:
            self._report(sender, transfer, consumed=True)

    def _step(self, meaning: str, value: int) -> None:
        if meaning == self.sequence[0][0]:
            self._read_messages()
        self.state = meaning
        self.send_status(value)

    def _move(self, origin: Position, fraction: float) -> None:
        target = self.incident
        lat = origin.lat + (target.lat - origin.lat) * fraction
        lon = origin.lon + (target.lon - origin.lon) * fraction
        heading = math.degrees(math.atan2(target.lon - origin.lon, target.lat - origin.lat)) % 360
        arrived = fraction >= 1.0
        self.position = Position(lat, lon)
        self.send_position(
            lat,
            lon,
            speed_kmh=0.0 if arrived else self.spec.speed_kmh,
            direction_deg=heading,
            reason=ReasonForSending.ARRIVAL_AT_DESTINATION
            if arrived
            else ReasonForSending.MAX_INTERVAL,
        )

    # -- sending --------------------------------------------------------------------
    def _to(self) -> int:
        return self.dispatcher if self.dispatcher is not None else self.swmi.default_dispatcher()

    def send_status(self, value: int) -> None:
        """Send a status value to the dispatcher (retried while its terminal is off)."""
        payload = value.to_bytes(2, "big")
        self._send(AirSds(self.issi, self._to(), STATUS_SERVICE, payload, 16), retries=True)

    def send_text(self, text: str) -> int:
        """Send a text (one or more SDS-TL transfers, receipt report requested); parts sent."""
        transfers = build_text_transfers(
            text, self._references, concat_reference=next(self._references)
        )
        to = self._to()
        for transfer in transfers:
            payload = transfer.encode()
            self._send(AirSds(self.issi, to, SDS_TL_SERVICE, payload, 8 * len(payload)))
        return len(transfers)

    def send_position(
        self,
        lat: float,
        lon: float,
        *,
        speed_kmh: float | None = None,
        direction_deg: float = 0.0,
        reason: int = ReasonForSending.LOCATION_REQUEST_REPLY,
    ) -> None:
        """Send a LIP short report (84 bits) to the dispatcher."""
        self.position = Position(lat, lon)
        report = LipShortReport.from_position(
            lat, lon, speed_kmh=speed_kmh, direction_deg=direction_deg, reason=reason
        )
        self._send(AirSds(self.issi, self._to(), SDS_TL_SERVICE, report.encode(), LIP_SHORT_BITS))

    def _send(self, sds: AirSds, *, retries: bool = False, attempt: int = 0) -> None:
        if not self.in_coverage:
            self._held.append(sds)
            return
        on_unreachable = None
        if retries:
            settings = self.swmi.settings

            def on_unreachable() -> None:
                if attempt >= settings.status_retries:
                    self.statuses_given_up += 1
                    return
                retry = functools.partial(self._send, sds, retries=True, attempt=attempt + 1)
                self.swmi.schedule(settings.status_retry_s, retry)

        self.swmi.from_unit(sds, on_unreachable)

    # -- coverage and groups ------------------------------------------------------------
    def set_coverage(self, in_coverage: bool) -> None:
        """Enter or leave coverage; held messages go out on return."""
        self.in_coverage = in_coverage
        if in_coverage:
            held, self._held = self._held, []
            for sds in held:
                self._send(sds, retries=sds.ai_service == STATUS_SERVICE)

    def attach(self, gssi: int, class_of_usage: str) -> None:
        """Attach a dynamic group (DGNA); ``selected`` makes it the selected group."""
        self.groups[gssi] = class_of_usage
        if class_of_usage == "selected":
            self.selected_group = gssi
        self.inbox.append({"kind": "dgna_attach", "time": time.time(), "group": gssi})

    def detach(self, gssi: int) -> None:
        """Withdraw a dynamic group; a withdrawn selected group falls back to the default."""
        if self.groups.pop(gssi, None) is None:
            return
        if self.selected_group == gssi:
            self.selected_group = self.swmi.settings.default_group
        self.inbox.append({"kind": "dgna_detach", "time": time.time(), "group": gssi})

    def group_call(self, gssi: int, caller: int) -> None:
        """A group call on a group the unit holds."""
        if self.in_coverage and gssi in self.attached_groups():
            self.inbox.append(
                {"kind": "group_call", "time": time.time(), "group": gssi, "from": caller}
            )

    def cancel(self) -> None:
        """Stop the callout plan (shutdown)."""
        for handle in self._plan:
            handle.cancel()
        self._plan.clear()
