"""A gateway terminal: the radio a gateway drives over its PEI (EN 300 392-5 AT commands).

It reads the gateway's commands with the project's own codec (`PeiParser(role="mt")`) and
answers with the DTE event classes' ``to_bytes()``. Only services registered with
``AT+CTSP`` reach the PEI (PEI reference §2): statuses and short reports need ``2,20``
(profile 2 on Motorola), an SDS-TL message needs ``3,<its PID>`` (``3,130`` for texts and
their reports, ``3,138`` for concatenated texts and theirs, ``3,10`` for LIP). After
power-up echo is on, nothing is registered, and (per vendor) the first command gets a
stale ``+CME ERROR: 35``. Command answers go to the link that sent the command; unsolicited
lines go to every link that has sent something since it opened.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections import Counter
from collections.abc import Callable
from typing import Any

from hardware.emulator.at_commands import AtInterpreter
from hardware.emulator.endpoints import Link, PtyEndpoint, TcpEndpoint
from hardware.emulator.faults import FaultRequest, FaultWindow
from hardware.emulator.network import SDS_TL_SERVICE, STATUS_SERVICE, AirSds, Swmi
from hardware.emulator.scenario import RadioSpec
from hardware.emulator.vendors import VendorProfile, vendor_profile
from protocols.pei.events import SdsOutcome, SdsReceived
from protocols.pei.parser import PeiParser

LIP_PID = 0x0A
_GARBAGE_MIN, _GARBAGE_MAX = 8, 48


class GatewayTerminal:
    """One radio with a PEI on a pty and on a TCP port."""

    def __init__(
        self,
        spec: RadioSpec,
        swmi: Swmi,
        baud: int,
        on_path_change: Callable[[str], None] | None = None,
    ) -> None:
        self.spec = spec
        self.name = spec.name
        self.issi = spec.issi
        self.vendor: VendorProfile = vendor_profile(spec.vendor)
        self.swmi = swmi
        self.pty = PtyEndpoint(self, spec.name, baud, on_path_change)
        self.tcp = TcpEndpoint(self, spec.name, baud, spec.tcp_port)
        self.powered = False
        self.power_epoch = 0
        self.state = "off"
        self.counters: Counter[str] = Counter()
        self.congestion = FaultWindow()
        self.drop_reports = FaultWindow()
        self.duplicate = FaultWindow()
        self.stalled_until = 0.0
        self.transmitting_until = 0.0
        self.out_of_service_until = 0.0
        self.at = AtInterpreter(self)
        self._parsers: dict[Link, PeiParser[Any]] = {}
        self._queue: asyncio.Queue[tuple[Link, object]] = asyncio.Queue()
        self._held: list[bytes] = []
        self._worker: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.last_error: str | None = None

    # -- the PEI state lives in the interpreter; these are views of it ----------------
    @property
    def selected_groups(self) -> set[int]:
        """Groups selected or scanned with AT+CTGS (they receive group SDS)."""
        return self.at.selected_groups

    # -- power ---------------------------------------------------------------------------
    async def start(self) -> None:
        """Power up and open both endpoints."""
        self._worker = asyncio.get_running_loop().create_task(self._work())
        await self.power_on()

    async def power_on(self, *, attach_s: float = 0.0) -> None:
        """Power up: nothing registered, echo per vendor, a stale error pending per vendor.

        For ``attach_s`` seconds the radio is still registering with the network: the PEI
        answers, but SDS are refused (``+CME ERROR: 30``) and nothing reaches it.
        """
        self.at.reset(power_up=True)
        self.out_of_service_until = self.swmi.now() + attach_s
        self.power_epoch += 1
        self.powered = True
        # Side by side: the pty may wait for its old path while the port is already back.
        await asyncio.gather(self.tcp.open(), self.pty.open())
        self.state = "on"

    async def power_off(self) -> None:
        """Power down: the pty is closed (the gateway reads EOF) and the port goes away."""
        self.powered = False
        self.state = "off"
        self.power_epoch += 1
        await self.pty.close()
        await self.tcp.close()
        self._held.clear()
        while not self._queue.empty():
            self._queue.get_nowait()

    async def reboot(self, off_s: float) -> None:
        """Power off for ``off_s`` seconds and back on (registrations lost)."""
        if not self.powered:
            return
        self.counters["reboots"] += 1
        await self.power_off()
        self.state = "rebooting"
        await asyncio.sleep(off_s)
        await self.power_on(attach_s=self.spec.attach_s)

    async def stop(self) -> None:
        """Power off for good."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        await self.power_off()

    def spawn(self, coro: Any) -> None:
        """Run ``coro`` as a task owned by the terminal."""
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # Kept for GET /radios: a reboot that could not reopen an endpoint, for example.
            self.counters["internal_errors"] += 1
            self.last_error = repr(task.exception())

    # -- links -----------------------------------------------------------------------------
    def link_opened(self, link: Link) -> None:
        """A gateway connected (or the pty was created)."""
        self._parsers[link] = PeiParser("mt")

    def link_received(self, link: Link, data: bytes) -> None:
        """Bytes from a gateway: parse them and queue the commands."""
        parser = self._parsers.get(link)
        if parser is None or not self.powered:
            return
        for event in parser.feed(data):
            self._queue.put_nowait((link, event))

    def link_closed(self, link: Link) -> None:
        """A gateway went away."""
        self._parsers.pop(link, None)

    def links(self) -> list[Link]:
        """Every open link."""
        return list(self._parsers)

    def reply(self, link: Link, data: bytes) -> None:
        """Answer a command on its link."""
        if link in self._parsers:
            link.send(data)

    def unsolicited(self, data: bytes) -> None:
        """An unsolicited line for every link that has spoken (held while stalled)."""
        if not self.powered:
            return
        if self.stalled():
            self._held.append(data)
            return
        for link in self._parsers:
            if link.spoken:
                link.send(b"\r\n" + data)  # framed like every result (V.25ter verbose mode)

    # -- command processing ----------------------------------------------------------------
    def stalled(self) -> bool:
        """True during a ``stall`` fault: the radio neither answers nor reports."""
        return self.swmi.now() < self.stalled_until

    async def _work(self) -> None:
        while True:
            link, event = await self._queue.get()
            # A stall may be extended while we sleep, hence the loop.
            while (wait := self.stalled_until - self.swmi.now()) > 0:  # noqa: ASYNC110
                await asyncio.sleep(wait)
            if self._held:
                held, self._held = self._held, []
                for data in held:
                    self.unsolicited(data)
            if link not in self._parsers or not self.powered:
                continue
            self.counters["commands"] += 1
            self.at.handle(link, event)

    # -- the SwMI side -----------------------------------------------------------------------
    def sds_outcome(self, instance: int, status: int, reference: int | None) -> None:
        """``+CMGS: <instance>,<status>,<ref>``: what became of an SDS the gateway sent."""
        self.unsolicited(SdsOutcome(instance, status, reference).to_bytes())

    def transmitting(self) -> bool:
        """True during a voice transmission (a group call or a ``transmitting`` fault)."""
        return self.at.in_call is not None or self.swmi.now() < self.transmitting_until

    def reachable(self) -> bool:
        """On and registered with the network: SDS can reach it."""
        return self.powered and not self.out_of_service()

    def out_of_service(self) -> bool:
        """True during a ``coverage`` fault: the radio has no network."""
        return self.swmi.now() < self.out_of_service_until

    def indicate(self, sds: AirSds) -> None:
        """An SDS for this terminal arrives over the air: ``+CTSDSR`` if the service is routed."""
        if not self.powered or self.out_of_service():
            self.counters["lost_while_off"] += 1
            return
        if not self.at.routed(sds):
            self.counters["not_routed"] += 1
            return
        if _is_report(sds) and self.drop_reports.hit(self.swmi.now()):
            self.counters["reports_dropped"] += 1
            return
        event = SdsReceived.from_payload(
            sds.ai_service, sds.calling, sds.called, sds.payload, length_bits=sds.length_bits
        )
        if sds.ai_service == SDS_TL_SERVICE and sds.payload[:1] == bytes([LIP_PID]):
            # Motorola pads the 84-bit LIP report to 22 digits, Sepura sends 21 (§4).
            event = dataclasses.replace(event, hex=event.hex[: self.vendor.lip_hex_digits])
        data = event.to_bytes()
        self.counters["indications"] += 1
        self.unsolicited(data)
        if self.duplicate.hit(self.swmi.now()):
            self.counters["duplicates"] += 1
            self.unsolicited(data)

    # -- faults ------------------------------------------------------------------------------
    def apply_fault(self, request: FaultRequest) -> None:
        """Inject a fault now (see `hardware.emulator.faults`)."""
        now = self.swmi.now()
        self.counters[f"fault_{request.kind}"] += 1
        kind = request.kind
        if kind == "reboot":
            self.spawn(self.reboot(request.duration))
        elif kind == "disconnect":
            if self.pty.link is not None:
                self.pty.link.hung_until = now + request.duration
            self.spawn(self.tcp.drop_connections())
        elif kind == "garbage":
            for _ in range(request.count):
                size = self.swmi.rng.randint(_GARBAGE_MIN, _GARBAGE_MAX)
                noise = bytes(self.swmi.rng.randrange(256) for _ in range(size))
                for link in self._parsers:
                    link.send(noise)
        elif kind == "stall":
            self.stalled_until = max(self.stalled_until, now + request.duration)
            self.swmi.schedule(request.duration, self._flush_held)
        elif kind == "transmitting":
            self.transmitting_until = now + request.duration
        elif kind == "coverage":
            self.out_of_service_until = now + request.duration
        else:
            window = {"drop_reports": self.drop_reports, "duplicate": self.duplicate}.get(
                kind, self.congestion
            )
            window.arm(request, now)

    def _flush_held(self) -> None:
        if self.stalled():
            return
        held, self._held = self._held, []
        for data in held:
            self.unsolicited(data)

    def as_dict(self) -> dict[str, Any]:
        """The radio as ``GET /radios`` lists it."""
        links = self.links()
        counters = dict(self.counters)
        counters["bytes_in"] = sum(link.bytes_in for link in links)
        counters["bytes_out"] = sum(link.bytes_out for link in links)
        return {
            "name": self.name,
            "issi": self.issi,
            "vendor": self.vendor.name,
            "state": self.state,
            "device": self.pty.path,
            "url": self.tcp.url,
            "echo": self.at.echo,
            "registrations": [f"{p},{l1},{l2}" for p, l1, l2 in sorted(self.at.registrations)],
            "selected_groups": sorted(self.at.selected_groups),
            "links": len(links),
            "transmitting": self.transmitting(),
            "stalled": self.stalled(),
            "counters": counters,
            "last_error": self.last_error,
        }


def _is_report(sds: AirSds) -> bool:
    if sds.ai_service == STATUS_SERVICE:
        return 0x7C00 <= int.from_bytes(sds.payload[:2], "big") <= 0x7FFF
    return (
        sds.ai_service == SDS_TL_SERVICE
        and len(sds.payload) >= 2
        and sds.payload[0] >= 0x80
        and sds.payload[1] >> 4 == 1
    )
