"""What a TETRA radio writes on its PEI: final results, information responses and URCs.

Each event is a frozen, slotted dataclass whose ``to_bytes()`` gives exactly the line(s) a
radio writes for it (every line ended by CR LF, EN 300 392-5 / V.25ter verbose mode), so
the gateway reads these and the emulator writes them with the same code. The parser
(`protocols.pei.parser.PeiParser` with ``role="dte"``) turns bytes into these events;
`protocols.pei.responses` holds the line decoding.

`PeiEvent` is the union of all of them and `FinalResult` the union of the four results that
end a command; both are `types.UnionType`, so ``isinstance(event, FinalResult)`` works.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeAlias

from protocols.payload import payload_to_hex
from protocols.pei.calls import (
    CallConnected,
    CallReleased,
    GroupSelection,
    IncomingCall,
    TransmitGrant,
)
from protocols.pei.fields import format_optional_int, parse_int, response_line, result_line

__all__ = [
    "CME_ERROR_MEANINGS",
    "CallConnected",
    "CallReleased",
    "CmeError",
    "CmsError",
    "CommandEcho",
    "Error",
    "FinalResult",
    "GroupSelection",
    "IncomingCall",
    "InformationResponse",
    "Ok",
    "OperatingMode",
    "OwnIdentity",
    "PeiEvent",
    "SdsInstance",
    "SdsOutcome",
    "SdsReceived",
    "SignalQuality",
    "TransmitGrant",
    "Unrecognised",
    "issi_of",
]

# PEI reference §9: +CME ERROR numbers worth naming.
CME_ERROR_MEANINGS: dict[int, str] = {
    0: "cannot send over the air",
    3: "not allowed now",
    4: "not supported",
    20: "message stack full",
    30: "out of service",
    31: "no layer-2 ack from the network",
    32: "user data decoding failed",
    34: "parameter out of range",
    35: "syntax error",
    37: "AT+CMGS timed out waiting for data",
    38: "PID already registered",
    39: "SDS-TL registration table full",
    41: "transmit inhibit",
    42: "busy with signalling",
}

# The ISSI is 24 bits, at most 8 decimal digits; a TSI is MCC + MNC + ISSI (PEI reference §2).
_ISSI_DIGITS = 8
_ISSI_MODULUS = 100_000_000


def issi_of(identity: int) -> int:
    """The ISSI inside an identity: a TSI's last 8 decimal digits, an ISSI unchanged."""
    return identity % _ISSI_MODULUS


@dataclass(frozen=True, slots=True)
class Ok:
    """``OK``: the command succeeded."""

    def to_bytes(self) -> bytes:
        """``OK`` CR LF."""
        return result_line("OK")


@dataclass(frozen=True, slots=True)
class Error:
    """``ERROR``: the command failed, no reason given."""

    def to_bytes(self) -> bytes:
        """``ERROR`` CR LF."""
        return result_line("ERROR")


@dataclass(frozen=True, slots=True)
class CmeError:
    """``+CME ERROR: <code>``: the command failed for a numbered reason (PEI reference §9)."""

    code: int

    @property
    def meaning(self) -> str | None:
        """A short English name for the well-known codes, else None."""
        return CME_ERROR_MEANINGS.get(self.code)

    def to_bytes(self) -> bytes:
        """``+CME ERROR: <code>`` CR LF."""
        return result_line(f"+CME ERROR: {self.code}")


@dataclass(frozen=True, slots=True)
class CmsError:
    """``+CMS ERROR: <code>``: a message-service command failed."""

    code: int

    def to_bytes(self) -> bytes:
        """``+CMS ERROR: <code>`` CR LF."""
        return result_line(f"+CMS ERROR: {self.code}")


@dataclass(frozen=True, slots=True)
class SdsReceived:
    """``+CTSDSR``: an incoming SDS, header line plus hex line (PEI reference §4).

    ``hex`` is the digits as sent (case kept, spaces removed); ``payload`` is those digits
    decoded with the declared ``length_bits`` (`protocols.payload.payload_from_hex`), so an
    84-bit LIP arrives as 11 bytes whether the radio sent 21 or 22 digits.

    Header forms accepted: 3 fields (ai service, calling id, length), 4 fields (ai service,
    calling id, called id, length), 6 fields (with both identity types) and 7 (plus the
    end-to-end encryption flag). Parameters a form does not carry are ``None``.
    Identities are as sent: for identity type 1 (TSI) use ``calling_ssi``/``called_ssi``.
    """

    ai_service: int
    calling_issi: int
    calling_type: int | None
    called_issi: int | None
    called_type: int | None
    length_bits: int
    e2e: int | None
    hex: str
    payload: bytes

    @classmethod
    def from_payload(
        cls,
        ai_service: int,
        calling_issi: int,
        called_issi: int,
        payload: bytes,
        *,
        length_bits: int | None = None,
        calling_type: int = 0,
        called_type: int = 0,
        e2e: int | None = None,
    ) -> SdsReceived:
        """A 6-field (7 with ``e2e``) indication carrying ``payload``, as an emulator sends it.

        ``length_bits`` defaults to every bit of the payload.
        """
        return cls(
            ai_service=ai_service,
            calling_issi=calling_issi,
            calling_type=calling_type,
            called_issi=called_issi,
            called_type=called_type,
            length_bits=8 * len(payload) if length_bits is None else length_bits,
            e2e=e2e,
            hex=payload_to_hex(payload),
            payload=payload,
        )

    @property
    def calling_ssi(self) -> int:
        """The sender's ISSI (the last 8 digits when the radio gave a TSI)."""
        return issi_of(self.calling_issi)

    @property
    def called_ssi(self) -> int | None:
        """The addressee's ISSI or GSSI, when the header carries it."""
        return None if self.called_issi is None else issi_of(self.called_issi)

    def header_fields(self) -> tuple[str, ...]:
        """The header's parameters in the shortest form that carries every non-None value."""
        if self.calling_type is None and self.called_type is None and self.e2e is None:
            if self.called_issi is None:
                return (str(self.ai_service), str(self.calling_issi), str(self.length_bits))
            return (
                str(self.ai_service),
                str(self.calling_issi),
                str(self.called_issi),
                str(self.length_bits),
            )
        fields = (
            str(self.ai_service),
            str(self.calling_issi),
            format_optional_int(self.calling_type),
            format_optional_int(self.called_issi),
            format_optional_int(self.called_type),
            str(self.length_bits),
        )
        if self.e2e is None:
            return fields
        return (*fields, str(self.e2e))

    def to_bytes(self) -> bytes:
        """``+CTSDSR: <header>`` CR LF ``<hex>`` CR LF."""
        return response_line("+CTSDSR", self.header_fields()) + result_line(self.hex)


@dataclass(frozen=True, slots=True)
class SdsInstance:
    """``+CMGS: <instance>``: the radio took the SDS of an AT+CMGS (not yet sent)."""

    instance: int

    def to_bytes(self) -> bytes:
        """``+CMGS: <instance>`` CR LF."""
        return result_line(f"+CMGS: {self.instance}")


@dataclass(frozen=True, slots=True)
class SdsOutcome:
    """``+CMGS: <instance>,<status>[,<ref>]``, unsolicited: what became of an SDS (§3).

    ``sds_status`` 4 = sent, 5 = failed. ``message_reference`` is None when omitted.
    """

    instance: int
    sds_status: int
    message_reference: int | None = None

    def to_bytes(self) -> bytes:
        """``+CMGS: <instance>,<status>[,<ref>]`` CR LF."""
        fields = [str(self.instance), str(self.sds_status)]
        if self.message_reference is not None:
            fields.append(str(self.message_reference))
        return response_line("+CMGS", tuple(fields))


@dataclass(frozen=True, slots=True)
class OwnIdentity:
    """``+CNUMF: <type>,<TSI>``: the radio's own identity (§2).

    ``tsi`` is the digits as sent (MCC+MNC+ISSI, or a bare ISSI); ``issi`` its last 8
    digits. ``identity_type`` is None when the radio sent the identity alone.
    """

    identity_type: int | None
    tsi: str
    issi: int

    @classmethod
    def from_tsi(cls, tsi: str, identity_type: int | None = None) -> OwnIdentity:
        """The identity with ``issi`` taken from the last 8 digits of ``tsi``.

        Raises ProtocolError when ``tsi`` is not all decimal digits.
        """
        parse_int(tsi, "TSI")
        return cls(identity_type=identity_type, tsi=tsi, issi=int(tsi[-_ISSI_DIGITS:]))

    def to_bytes(self) -> bytes:
        """``+CNUMF: <type>,<TSI>`` (or ``+CNUMF: <TSI>``) CR LF."""
        if self.identity_type is None:
            return response_line("+CNUMF", (self.tsi,))
        return response_line("+CNUMF", (str(self.identity_type), self.tsi))


@dataclass(frozen=True, slots=True)
class SignalQuality:
    """``+CSQ: <rssi>,<ber>``: received signal strength (§2); ``ber`` None if omitted."""

    rssi: int
    ber: int | None = None

    @property
    def dbm(self) -> int | None:
        """Received power in dBm (−113 + 2·rssi), None when the radio says 99 (unknown)."""
        if self.rssi == 99:
            return None
        return -113 + 2 * self.rssi

    def to_bytes(self) -> bytes:
        """``+CSQ: <rssi>,<ber>`` CR LF."""
        if self.ber is None:
            return response_line("+CSQ", (str(self.rssi),))
        return response_line("+CSQ", (str(self.rssi), str(self.ber)))


@dataclass(frozen=True, slots=True)
class OperatingMode:
    """``+CTOM: <mode>``: 0 trunked, 1 direct mode, 2–6 dual-watch/gateway/repeater (§2)."""

    mode: int

    def to_bytes(self) -> bytes:
        """``+CTOM: <mode>`` CR LF."""
        return result_line(f"+CTOM: {self.mode}")


@dataclass(frozen=True, slots=True)
class InformationResponse:
    """Any other ``+NAME: a,b`` line; ``name`` keeps its ``+`` and its case as sent."""

    name: str
    fields: tuple[str, ...]

    def to_bytes(self) -> bytes:
        """``<name>: <fields>`` CR LF."""
        return response_line(self.name, self.fields)


@dataclass(frozen=True, slots=True)
class CommandEcho:
    """A line starting ``AT``: the radio echoing a command while echo is on (before ATE0)."""

    line: str

    def to_bytes(self) -> bytes:
        """The echoed line, CR LF."""
        return result_line(self.line)


@dataclass(frozen=True, slots=True)
class Unrecognised:
    """A line the codec could not make sense of; the parser goes on with the next line.

    ``reason`` says why, for logs. It does not take part in equality: two Unrecognised
    events are equal when their lines are.
    """

    line: str
    reason: str = field(default="", compare=False)

    def to_bytes(self) -> bytes:
        """The line, CR LF."""
        return result_line(self.line)


FinalResult: TypeAlias = Ok | Error | CmeError | CmsError

PeiEvent: TypeAlias = (
    Ok
    | Error
    | CmeError
    | CmsError
    | SdsReceived
    | SdsInstance
    | SdsOutcome
    | OwnIdentity
    | SignalQuality
    | OperatingMode
    | GroupSelection
    | IncomingCall
    | CallConnected
    | TransmitGrant
    | CallReleased
    | InformationResponse
    | CommandEcho
    | Unrecognised
)
