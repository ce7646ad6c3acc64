"""The AT command set of a gateway terminal, as a table of handlers (EN 300 392-5).

`AtInterpreter` holds the PEI state a gateway changes (echo, registrations, SDS service
selection, group selection, call) and answers each command. What a real radio refuses is
answered with ``+CME ERROR`` (PEI reference §9): 4 unknown command, 35 syntax, 34 parameter
out of range (also a too-long or badly sized SDS), 3 ``AT+CMGS`` before ``AT+CTSDS``, 32 hex
shorter than the declared length, 30 out of service, 39 registration table full,
41 SDS while transmitting (Motorola).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from hardware.emulator.network import SDS_TL_SERVICE, STATUS_SERVICE, AirSds
from protocols.pei.commands import AbortSds, AtCommand, SendSds
from protocols.pei.events import (
    CallConnected,
    CallReleased,
    CmeError,
    CommandEcho,
    Error,
    GroupSelection,
    InformationResponse,
    Ok,
    OperatingMode,
    OwnIdentity,
    SdsInstance,
    SignalQuality,
    TransmitGrant,
)

if TYPE_CHECKING:
    from hardware.emulator.endpoints import Link
    from hardware.emulator.terminal import GatewayTerminal

CHARSETS = frozenset({"8859-1", "UCS2", "IRA", "GSM"})
# SDS types 1-3 and status carry a fixed number of bits (PEI reference §3).
FIXED_SDS_BITS = {9: 16, 10: 32, 11: 64, STATUS_SERVICE: 16}
IDENTITY_TYPES = frozenset({0, 1, 5})
STATUS_LAYER = (2, 20)
CALL_ID = 1
_CAUSE_USER_REQUESTED = 1


class Refusal(Exception):  # noqa: N818 - it is a refusal, not an error of ours
    """A command the radio refuses: answered with ``+CME ERROR: <code>``."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


Handler = Callable[[AtCommand], list[bytes]]
_OK = Ok().to_bytes()
CRLF = b"\r\n"


def _ints(command: AtCommand, least: int, most: int) -> list[int]:
    args = [a.strip().strip('"') for a in command.args]
    if not least <= len(args) <= most:
        raise Refusal(35)
    try:
        return [int(a) for a in args]
    except ValueError:
        raise Refusal(35) from None


class AtInterpreter:
    """Answers a gateway's commands for one terminal."""

    def __init__(self, terminal: GatewayTerminal) -> None:
        self.terminal = terminal
        self.echo = True
        self.stale_error = False
        self.registrations: set[tuple[int, int, int]] = set()
        self.sds_selection: tuple[int, int] | None = None
        self.selected_groups: set[int] = set()
        self.operating_mode = 0
        self.charset = "8859-1"
        self.in_call: int | None = None
        self._instance = 0
        self._handlers: dict[str, Handler] = {
            "": lambda _: [_OK],
            "E0": lambda _: self._set_echo(on=False),
            "E1": lambda _: self._set_echo(on=True),
            "Z": self._reset_command,
            "H": self._hang_up,
            "+CSCS": self._charset,
            "+CTOM": self._operating_mode,
            "+CTSP": self._register,
            "+CTSDS": self._select_sds,
            "+CMGS": self._cmgs_other,
            "+CTGS": self._group,
            "+CNUMF": self._own_identity,
            "+CSQ": self._signal,
            "+CTSDC": lambda _: [_OK],
            "+CMEE": lambda _: [_OK],
            "+GMI": lambda _: [self.terminal.vendor.manufacturer.encode() + b"\r\n", _OK],
        }

    def reset(self, *, power_up: bool) -> None:
        """Forget every setting, as after power-up (or ATZ)."""
        vendor = self.terminal.vendor
        self.echo = vendor.echo_after_power_up
        self.stale_error = power_up and vendor.stale_error_after_power_up
        self.registrations.clear()
        self.sds_selection = None
        self.selected_groups = set()
        self.operating_mode = 0
        self.in_call = None

    # -- dispatch ------------------------------------------------------------------------
    def handle(self, link: Link, event: object) -> None:
        """Answer one parsed command on ``link``."""
        if isinstance(event, AtCommand | SendSds) and self.echo:
            first = event.to_bytes().split(b"\r", 1)[0].decode("latin-1")
            self.terminal.reply(link, CommandEcho(first).to_bytes())
        if self.stale_error and not isinstance(event, AbortSds):
            # The first command after power-up meets a stale syntax error (PEI reference §1).
            self.stale_error = False
            self.terminal.reply(link, CmeError(35).to_bytes())
            return
        try:
            if isinstance(event, AtCommand):
                answer = self._command(event)
            elif isinstance(event, SendSds):
                answer = self._send_sds(event)
            elif isinstance(event, AbortSds):
                answer = [_OK]
            else:  # a line that is not a command at all
                answer = [Error().to_bytes()]
        except Refusal as refusal:
            self.terminal.counters["errors"] += 1
            answer = [CmeError(refusal.code).to_bytes()]
        if answer:
            # V.25ter verbose mode: a result is framed by CR LF before as well as after.
            self.terminal.reply(link, CRLF + b"".join(answer))

    def _command(self, command: AtCommand) -> list[bytes]:
        handler = self._handlers.get(command.name)
        if handler is None and command.name.startswith("D"):
            handler = self._dial
        if handler is None:
            raise Refusal(4)
        return handler(command)

    # -- basic commands -------------------------------------------------------------------
    def _set_echo(self, *, on: bool) -> list[bytes]:
        self.echo = on
        return [_OK]

    def _reset_command(self, _: AtCommand) -> list[bytes]:
        if self.terminal.vendor.atz_reboots:
            # Sepura: ATZ reboots the radio; it never answers (PEI reference §1).
            self.terminal.spawn(self.terminal.reboot(self.terminal.spec.reboot_s))
            return []
        self.echo = self.terminal.vendor.echo_after_power_up
        return [_OK]

    def _dial(self, command: AtCommand) -> list[bytes]:
        digits = command.name[1:].rstrip(";")
        if not digits.isdigit():
            raise Refusal(35)
        gssi = int(digits)
        if not self.terminal.swmi.group_known(gssi):
            raise Refusal(34)
        if self.terminal.out_of_service():
            raise Refusal(30)
        self.in_call = gssi
        for unit in self.terminal.swmi.units.values():
            unit.group_call(gssi, self.terminal.issi)
        call = str(CALL_ID)
        return [
            _OK,
            CallConnected((call, "1", "0", str(gssi))).to_bytes(),
            TransmitGrant((call, "0", "0", "0")).to_bytes(),
        ]

    def _hang_up(self, _: AtCommand) -> list[bytes]:
        if self.in_call is None:
            return [_OK]
        self.in_call = None
        return [_OK, CallReleased(CALL_ID, _CAUSE_USER_REQUESTED).to_bytes()]

    # -- extended commands --------------------------------------------------------------
    def _charset(self, command: AtCommand) -> list[bytes]:
        if command.op == "read":
            return [InformationResponse("+CSCS", (f'"{self.charset}"',)).to_bytes(), _OK]
        if command.op == "set":
            if len(command.args) != 1:
                raise Refusal(35)
            name = command.args[0].strip().strip('"').upper()
            if name not in CHARSETS:
                raise Refusal(34)
            self.charset = name
        return [_OK]

    def _operating_mode(self, command: AtCommand) -> list[bytes]:
        if command.op == "read":
            return [OperatingMode(self.operating_mode).to_bytes(), _OK]
        if command.op == "set":
            (mode,) = _ints(command, 1, 1)
            if not 0 <= mode <= 6:
                raise Refusal(34)
            self.operating_mode = mode
        return [_OK]

    def _register(self, command: AtCommand) -> list[bytes]:
        if command.op == "read":
            lines = [
                InformationResponse("+CTSP", (str(p), str(l1), str(l2))).to_bytes()
                for p, l1, l2 in sorted(self.registrations)
            ]
            return [*lines, _OK]
        if command.op != "set":
            return [_OK]
        values = _ints(command, 2, 3)
        profile, layer1 = values[0], values[1]
        layer2 = values[2] if len(values) == 3 else 0
        vendor = self.terminal.vendor
        if layer1 not in (1, 2, 3) or not 0 <= layer2 <= 255 or not 0 <= profile <= 4:
            raise Refusal(34)
        if (layer1, layer2) == STATUS_LAYER and vendor.status_profile not in (None, profile):
            raise Refusal(34)  # Motorola: status goes in profile 2 only
        if layer1 == 2 and layer2 != 20:
            raise Refusal(34)
        if any((l1, l2) == (layer1, layer2) for _, l1, l2 in self.registrations):
            if vendor.duplicate_registration_error is not None:
                raise Refusal(vendor.duplicate_registration_error)
            return [_OK]
        if len(self.registrations) >= vendor.max_registrations:
            raise Refusal(39)
        self.registrations.add((profile, layer1, layer2))
        return [_OK]

    def registered(self, layer1: int, layer2: int) -> bool:
        """True when ``AT+CTSP=<p>,<layer1>,<layer2>`` is in place."""
        return any((l1, l2) == (layer1, layer2) for _, l1, l2 in self.registrations)

    def routed(self, sds: AirSds) -> bool:
        """Whether an incoming SDS reaches the PEI (its service is registered)."""
        if sds.ai_service == STATUS_SERVICE:
            return self.registered(*STATUS_LAYER)
        if sds.ai_service == SDS_TL_SERVICE:
            return bool(sds.payload) and self.registered(3, sds.payload[0])
        return True  # SDS types 1-3 have no protocol identifier to register

    def _select_sds(self, command: AtCommand) -> list[bytes]:
        if command.op == "read":
            if self.sds_selection is None:
                return [_OK]
            ai, identity = self.sds_selection
            return [InformationResponse("+CTSDS", (str(ai), str(identity))).to_bytes(), _OK]
        if command.op != "set":
            return [_OK]
        values = _ints(command, 2, 5)
        ai_service, identity_type = values[0], values[1]
        if ai_service not in (9, 10, 11, 12, 13) or identity_type not in IDENTITY_TYPES:
            raise Refusal(34)
        self.sds_selection = (ai_service, identity_type)
        return [_OK]

    def _cmgs_other(self, command: AtCommand) -> list[bytes]:
        if command.op == "test":
            bits = self.terminal.vendor.max_sds_bits
            return [InformationResponse("+CMGS", (f"(0-{bits})",)).to_bytes(), _OK]
        raise Refusal(35)  # AT+CMGS=... without its data block

    def _send_sds(self, sds: SendSds) -> list[bytes]:
        terminal = self.terminal
        if terminal.out_of_service() or self.operating_mode != 0:
            raise Refusal(30)
        if self.sds_selection is None:
            raise Refusal(3)
        if terminal.vendor.refuses_sds_while_transmitting and terminal.transmitting():
            raise Refusal(41)  # Motorola: no SDS while the radio transmits voice (§3)
        ai_service, _ = self.sds_selection
        length = sds.length_bits
        if length > 8 * len(sds.payload):
            raise Refusal(32)
        fixed = FIXED_SDS_BITS.get(ai_service)
        if (fixed is not None and length != fixed) or length < 8:
            raise Refusal(34)
        if length > terminal.vendor.max_sds_bits:
            raise Refusal(34)  # message too long for this radio
        self._instance = self._instance % 255 + 1
        payload = sds.payload[: (length + 7) // 8]
        air = AirSds(terminal.issi, sds.called_issi, ai_service, payload, length)
        terminal.counters["sds_sent"] += 1
        terminal.swmi.from_terminal(terminal, self._instance, air)
        return [SdsInstance(self._instance).to_bytes(), _OK]

    def _group(self, command: AtCommand) -> list[bytes]:
        if command.op == "read":
            lines = [GroupSelection(("1", str(g))).to_bytes() for g in sorted(self.selected_groups)]
            return [*lines, _OK]
        if command.op != "set":
            return [_OK]
        values = _ints(command, 1, 2)
        kind = values[0]
        if kind == 0:
            self.selected_groups = set()
            return [_OK]
        if len(values) != 2 or not 1 <= kind <= 7:
            raise Refusal(34)
        gssi = values[1] % 10**8
        if not self.terminal.swmi.group_known(gssi):
            raise Refusal(34)
        if kind == 1:
            self.selected_groups = {gssi}
        else:
            self.selected_groups.add(gssi)
        return [_OK]

    def _own_identity(self, command: AtCommand) -> list[bytes]:
        if command.op == "set":
            raise Refusal(4)
        settings = self.terminal.swmi.settings
        tsi = f"{settings.mcc:03d}{settings.mnc:05d}{self.terminal.issi:08d}"
        return [OwnIdentity.from_tsi(tsi, 1).to_bytes(), _OK]

    def _signal(self, command: AtCommand) -> list[bytes]:
        if command.op == "set":
            raise Refusal(4)
        rssi = 99 if self.terminal.out_of_service() else self.terminal.spec.rssi
        return [SignalQuality(rssi, 99).to_bytes(), _OK]
