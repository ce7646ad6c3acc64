"""What a gateway writes on a radio's PEI: AT commands, and SDS data blocks (EN 300 392-5).

Builders return the exact bytes to write (commands end in CR, PEI reference §1). The
dataclasses are what `PeiParser(role="mt")` yields when the emulator reads a gateway's
commands; each has ``to_bytes()`` giving the bytes back. Builders check their arguments
and raise `ProtocolError`; free text never reaches a command line, so a callout's text
cannot inject AT commands (SDS data travels as hex, §3).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal, TypeAlias

from protocols.errors import ProtocolError
from protocols.payload import payload_to_hex
from protocols.pei.fields import join_fields, split_fields

CR = b"\r"
CTRL_Z = b"\x1a"
"""Ends the hex data of AT+CMGS and sends the SDS."""
ESC = b"\x1b"
"""Ends the hex data of AT+CMGS and abandons the SDS (PEI reference §3, marked (?))."""

# PEI reference §3: type-4 SDS carries up to 2047 bits.
MAX_SDS_BITS = 2047

AtOp: TypeAlias = Literal["exec", "set", "read", "test"]

_EXTENDED = re.compile(r"(\+[A-Za-z][A-Za-z0-9]*)\s*(=\s*\?|\?|=(.*))?\s*", re.DOTALL)
_BASIC = re.compile(r"[A-Za-z&][\x21-\x7e]*")
_CHARSET = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


@dataclass(frozen=True, slots=True)
class AtCommand:
    """One command line: ``AT`` + ``name`` + the suffix of ``op``.

    ``AT`` is name ``""``; basic commands keep their parameter in the name (``ATE0`` is
    name ``"E0"``); extended commands are ``"+CTSP"`` with op ``"set"`` and ``args``
    ``("2", "2", "20")``, ``AT+CNUMF?`` is op ``"read"`` and ``AT+CMGS=?`` op ``"test"``.
    Names are upper case.
    """

    name: str
    op: AtOp = "exec"
    args: tuple[str, ...] = ()

    def to_bytes(self) -> bytes:
        """``AT<name>[=<args>|?|=?]`` CR."""
        suffix = {"exec": "", "read": "?", "test": "=?"}.get(self.op)
        if suffix is None:
            suffix = "=" + join_fields(self.args)
        return f"AT{self.name}{suffix}".encode("latin-1", errors="replace") + CR


@dataclass(frozen=True, slots=True)
class SendSds:
    """``AT+CMGS=<called_issi>,<length_bits>`` CR LF, the payload as hex, Ctrl-Z."""

    called_issi: int
    length_bits: int
    payload: bytes

    def to_bytes(self) -> bytes:
        """The command line, the hex line and Ctrl-Z as one byte string (one write, §3)."""
        head = f"AT+CMGS={self.called_issi},{self.length_bits}\r\n".encode("ascii")
        return head + payload_to_hex(self.payload).encode("ascii") + CTRL_Z


@dataclass(frozen=True, slots=True)
class AbortSds:
    """ESC instead of Ctrl-Z after the data of an AT+CMGS: the SDS is abandoned."""

    def to_bytes(self) -> bytes:
        """The single ESC byte (written after an ``AT+CMGS=...`` CR LF and any hex)."""
        return ESC


GatewayCommand: TypeAlias = AtCommand | SendSds | AbortSds


def parse_command_line(line: str) -> AtCommand:
    """Decode one command line (without its CR); raises ProtocolError if it is not one.

    Liberal like a radio: ``at`` in any case, spaces around ``=`` and ``,``.
    """
    text = line.strip()
    if text[:2].upper() != "AT":
        raise ProtocolError("a command line starts with AT")
    rest = text[2:]
    if not rest:
        return AtCommand("")
    if rest[0] == "+":
        match = _EXTENDED.fullmatch(rest)
        if match is None:
            raise ProtocolError("malformed extended command")
        name = match.group(1).upper()
        suffix = match.group(2)
        if suffix is None:
            return AtCommand(name)
        if suffix == "?":
            return AtCommand(name, "read")
        if match.group(3) is None:
            return AtCommand(name, "test")
        return AtCommand(name, "set", split_fields(match.group(3)))
    if not _BASIC.fullmatch(rest):
        raise ProtocolError("malformed basic command")
    return AtCommand(rest.upper())


def _number(value: int, what: str, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ProtocolError(f"{what} must be a non-negative integer, not {value!r}")
    if maximum is not None and value > maximum:
        raise ProtocolError(f"{what} {value} is above {maximum}")
    return value


def _command(name: str, *args: int) -> bytes:
    return AtCommand(name, "set", tuple(str(arg) for arg in args)).to_bytes()


def at() -> bytes:
    """``AT``: is anyone there? Sent until the radio answers OK (§1)."""
    return AtCommand("").to_bytes()


def echo_off() -> bytes:
    """``ATE0``: stop echoing commands."""
    return AtCommand("E0").to_bytes()


def set_charset(name: str) -> bytes:
    """``AT+CSCS=<name>``, e.g. ``8859-1`` (§2)."""
    if not _CHARSET.fullmatch(name):
        raise ProtocolError(f"character set name {name!r} is not a plain token")
    return AtCommand("+CSCS", "set", (name,)).to_bytes()


def set_operating_mode(mode: int) -> bytes:
    """``AT+CTOM=<mode>``: 0 trunked, 1 direct mode, 2–6 dual-watch/gateway/repeater (§2)."""
    return _command("+CTOM", _number(mode, "operating mode", 6))


def query_operating_mode() -> bytes:
    """``AT+CTOM?`` → ``+CTOM: <mode>``."""
    return AtCommand("+CTOM", "read").to_bytes()


def register_service(profile: int, layer1: int, layer2: int | None = None) -> bytes:
    """``AT+CTSP=<profile>,<layer1>[,<layer2>]``: route a service to the PEI (§2).

    Status: ``register_service(1, 2, 20)`` (Motorola wants profile 2); SDS-TL text:
    ``register_service(1, 3, 130)``; LIP: ``register_service(1, 3, 10)``.
    """
    args = [_number(profile, "service profile"), _number(layer1, "service layer 1")]
    if layer2 is not None:
        args.append(_number(layer2, "service layer 2"))
    return _command("+CTSP", *args)


def query_own_identity() -> bytes:
    """``AT+CNUMF?`` → ``+CNUMF: <type>,<TSI>``."""
    return AtCommand("+CNUMF", "read").to_bytes()


def query_signal() -> bytes:
    """``AT+CSQ?`` → ``+CSQ: <rssi>,<ber>``."""
    return AtCommand("+CSQ", "read").to_bytes()


def select_sds_service(ai_service: int, identity_type: int = 0) -> bytes:
    """``AT+CTSDS=<ai service>,<identity type>``: 12 = SDS type 4, 13 = status; 0 = SSI (§3)."""
    return _command(
        "+CTSDS", _number(ai_service, "AI service"), _number(identity_type, "identity type")
    )


def send_sds(called_issi: int, payload: bytes, length_bits: int | None = None) -> bytes:
    """``AT+CMGS=<issi>,<bits>`` CR LF, the payload as upper-case hex, Ctrl-Z (§3).

    ``length_bits`` defaults to every bit of ``payload``; when given it must end inside
    the payload's last byte (the PDU decides the padding). Send it as one write.
    """
    _number(called_issi, "called identity")
    if not payload:
        raise ProtocolError("an SDS needs at least one byte of payload")
    bits = 8 * len(payload) if length_bits is None else _number(length_bits, "length in bits")
    if not 8 * len(payload) - 8 < bits <= 8 * len(payload):
        raise ProtocolError(f"{bits} bits do not end in the last of {len(payload)} bytes")
    if bits > MAX_SDS_BITS:
        raise ProtocolError(f"{bits} bits exceed the {MAX_SDS_BITS} bits of an SDS")
    return SendSds(called_issi, bits, payload).to_bytes()


def select_group(gssi: int, selection_type: int = 1) -> bytes:
    """``AT+CTGS=<type>,<GSSI>``: 1 selects the group, 2–7 scan it, 0 detaches all (§8)."""
    return _command("+CTGS", _number(selection_type, "selection type"), _number(gssi, "GSSI"))


def query_group() -> bytes:
    """``AT+CTGS?`` → ``+CTGS: ...``, the current selection."""
    return AtCommand("+CTGS", "read").to_bytes()
