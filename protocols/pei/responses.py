"""Decoding one line that a radio wrote into a `PeiEvent` (the DTE side of the PEI).

The parser splits bytes into lines and keeps the two-line ``+CTSDSR`` together; this
module only looks at one line at a time. Matching is liberal, as captured output of real
Motorola and Sepura radios demands: names and final results in any case (``+CME Error: 35``
occurs, PEI reference §1), any spacing around ``:`` and ``,``, optional parameters left empty.
A line that cannot be decoded becomes `Unrecognised`; nothing here raises.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from protocols.errors import ProtocolError
from protocols.payload import payload_from_hex
from protocols.pei.events import (
    CallConnected,
    CallReleased,
    CmeError,
    CmsError,
    CommandEcho,
    Error,
    GroupSelection,
    IncomingCall,
    InformationResponse,
    Ok,
    OperatingMode,
    OwnIdentity,
    PeiEvent,
    SdsInstance,
    SdsOutcome,
    SdsReceived,
    SignalQuality,
    TransmitGrant,
    Unrecognised,
)
from protocols.pei.fields import parse_int, parse_optional_int, split_fields

# "+NAME: params" — the name may hold a space ("+CME ERROR"); the colon may have spaces around.
_RESULT_LINE = re.compile(r"(\+[A-Za-z][A-Za-z0-9_ ]*?)\s*:(.*)", re.DOTALL)
_RESYNC = re.compile(r"\+[A-Za-z][A-Za-z0-9_ ]*:")
_HEX_LINE = re.compile(r"[0-9A-Fa-f]+")
_SPACES = str.maketrans("", "", " \t")


@dataclass(frozen=True, slots=True)
class SdsHeader:
    """A decoded ``+CTSDSR`` header line, waiting for its hex line."""

    line: str
    ai_service: int
    calling_issi: int
    calling_type: int | None
    called_issi: int | None
    called_type: int | None
    length_bits: int
    e2e: int | None

    def with_data(self, digits: str) -> SdsReceived:
        """The complete indication, ``digits`` decoded with the declared length (§4)."""
        return SdsReceived(
            ai_service=self.ai_service,
            calling_issi=self.calling_issi,
            calling_type=self.calling_type,
            called_issi=self.called_issi,
            called_type=self.called_type,
            length_bits=self.length_bits,
            e2e=self.e2e,
            hex=digits,
            payload=payload_from_hex(digits, self.length_bits),
        )


def hex_digits(line: str) -> str | None:
    """The digits of a hex data line (spaces inside dropped, case kept), None if not hex."""
    digits = line.translate(_SPACES)
    if _HEX_LINE.fullmatch(digits):
        return digits
    return None


def decode_response_line(line: str) -> PeiEvent | SdsHeader:
    """Decode one stripped, non-empty line from a radio.

    A ``+CTSDSR`` header gives an `SdsHeader` (the caller pairs it with the next line);
    every other line gives its event, `Unrecognised` when it cannot be decoded.
    """
    upper = line.upper()
    if upper == "OK":
        return Ok()
    if upper == "ERROR":
        return Error()
    if upper.startswith("AT"):
        return CommandEcho(line)
    match = _RESULT_LINE.fullmatch(line)
    if match is None:
        return _resynchronised(line) or Unrecognised(
            line, "not a final result nor a +NAME: response"
        )
    name = match.group(1).rstrip()
    key = " ".join(name.upper().split())
    content = match.group(2)
    decoder = _DECODERS.get(key)
    if decoder is None:
        return InformationResponse(name, split_fields(content))
    try:
        return decoder(line, content)
    except ProtocolError as exc:
        return Unrecognised(line, f"{key}: {exc}")


def _resynchronised(line: str) -> PeiEvent | SdsHeader | None:
    """The result hidden behind line noise at the start of ``line``, or None.

    Noise on the line (a radio powering up, a serial-over-IP server reconnecting) is not
    followed by a line end, so it joins the next result: ``\x8fzq+CTSDSR: 13,...``. A real
    radio precedes each result with CR LF (PEI reference §1) and would not lose it; we must
    not either, or a unit's status or our command's ``OK`` is dropped with the noise.
    """
    found = _RESYNC.search(line, 1)
    if found is not None:
        decoded = decode_response_line(line[found.start() :])
        if not isinstance(decoded, Unrecognised):
            return decoded
    noise_end = max((i for i, c in enumerate(line) if not " " <= c <= "~"), default=-1)
    tail = line[noise_end + 1 :].strip()
    if noise_end >= 0 and tail.upper() in ("OK", "ERROR"):
        return Ok() if tail.upper() == "OK" else Error()
    return None


def _cme_error(_line: str, content: str) -> PeiEvent:
    return CmeError(parse_int(content, "+CME ERROR code"))


def _cms_error(_line: str, content: str) -> PeiEvent:
    return CmsError(parse_int(content, "+CMS ERROR code"))


def _fields(content: str, what: str, counts: range) -> tuple[str, ...]:
    fields = split_fields(content)
    if len(fields) not in counts:
        raise ProtocolError(f"{what} has {len(fields)} parameters")
    return fields


def _sds_header(line: str, content: str) -> SdsHeader:
    fields = split_fields(content)
    if len(fields) not in (3, 4, 6, 7):
        raise ProtocolError(f"header has {len(fields)} parameters, expected 3, 4, 6 or 7")
    calling_type: int | None = None
    called_issi: int | None = None
    called_type: int | None = None
    e2e: int | None = None
    # PEI reference §4: some radios send only 3 or 4 header fields.
    if len(fields) == 3:
        calling, length = fields[1], fields[2]
    elif len(fields) == 4:
        calling, length = fields[1], fields[3]
        called_issi = parse_int(fields[2], "called identity")
    else:
        calling, length = fields[1], fields[5]
        calling_type = parse_optional_int(fields[2], "calling identity type")
        called_issi = parse_optional_int(fields[3], "called identity")
        called_type = parse_optional_int(fields[4], "called identity type")
        if len(fields) == 7:
            length, e2e_text = _length_and_e2e(fields[5], fields[6])
            e2e = parse_optional_int(e2e_text, "end-to-end encryption flag")
    return SdsHeader(
        line=line,
        ai_service=parse_int(fields[0], "AI service"),
        calling_issi=parse_int(calling, "calling identity"),
        calling_type=calling_type,
        called_issi=called_issi,
        called_type=called_type,
        length_bits=parse_int(length, "length"),
        e2e=e2e,
    )


def _length_and_e2e(sixth: str, seventh: str) -> tuple[str, str]:
    # The PEI reference puts the end-to-end encryption flag after the length; EN 300 392-5
    # lists it before. The flag is 0 or 1 and no SDS is 0 or 1 bits long, so when the
    # sixth field is a flag and the seventh is not, the radio used the standard's order.
    flags = ("0", "1", "")
    if sixth in flags and seventh not in flags:
        return seventh, sixth
    return sixth, seventh


def _cmgs(_line: str, content: str) -> PeiEvent:
    fields = _fields(content, "+CMGS", range(1, 4))
    instance = parse_int(fields[0], "SDS instance")
    if len(fields) == 1:
        return SdsInstance(instance)
    return SdsOutcome(
        instance=instance,
        sds_status=parse_int(fields[1], "SDS status"),
        message_reference=(
            parse_optional_int(fields[2], "message reference") if len(fields) == 3 else None
        ),
    )


def _cnumf(_line: str, content: str) -> PeiEvent:
    # "+CNUMF: <type>,<TSI>"; some radios give the identity alone. Further parameters
    # (extension numbers on some models) are not needed and are ignored.
    fields = _fields(content, "+CNUMF", range(1, 16))
    if len(fields) == 1:
        return OwnIdentity.from_tsi(fields[0].strip('"'))
    identity_type = parse_int(fields[0], "identity type")
    return OwnIdentity.from_tsi(fields[1].strip('"'), identity_type)


def _csq(_line: str, content: str) -> PeiEvent:
    fields = _fields(content, "+CSQ", range(1, 3))
    ber = parse_optional_int(fields[1], "bit error rate") if len(fields) == 2 else None
    return SignalQuality(parse_int(fields[0], "rssi"), ber)


def _ctom(_line: str, content: str) -> PeiEvent:
    fields = _fields(content, "+CTOM", range(1, 16))
    return OperatingMode(parse_int(fields[0], "operating mode"))


def _ctcr(_line: str, content: str) -> PeiEvent:
    fields = _fields(content, "+CTCR", range(2, 16))
    return CallReleased(parse_int(fields[0], "call instance"), parse_int(fields[1], "cause"))


def _ctgs(_line: str, content: str) -> PeiEvent:
    return GroupSelection(split_fields(content))


def _cticn(_line: str, content: str) -> PeiEvent:
    return IncomingCall(split_fields(content))


def _ctcc(_line: str, content: str) -> PeiEvent:
    return CallConnected(split_fields(content))


def _ctxg(_line: str, content: str) -> PeiEvent:
    return TransmitGrant(split_fields(content))


_DECODERS: dict[str, Callable[[str, str], PeiEvent | SdsHeader]] = {
    "+CME ERROR": _cme_error,
    "+CMS ERROR": _cms_error,
    "+CTSDSR": _sds_header,
    "+CMGS": _cmgs,
    "+CNUMF": _cnumf,
    "+CSQ": _csq,
    "+CTOM": _ctom,
    "+CTCR": _ctcr,
    "+CTGS": _ctgs,
    "+CTICN": _cticn,
    "+CTCC": _ctcc,
    "+CTXG": _ctxg,
}
