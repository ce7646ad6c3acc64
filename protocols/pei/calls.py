"""Call-control and group URCs of the PEI: +CTICN, +CTCC, +CTXG, +CTCR, +CTGS (§8, §10).

The gateway does not place calls; these are decoded so that a radio's call traffic is
recognised (not Unrecognised) and so that the emulator can write them. Fields the gateway
does not interpret are kept as sent. Re-exported by `protocols.pei.events`.
"""

from __future__ import annotations

from dataclasses import dataclass

from protocols.pei.fields import response_line, result_line


def _first_int(fields: tuple[str, ...]) -> int | None:
    if fields and fields[0].isascii() and fields[0].isdigit():
        return int(fields[0])
    return None


@dataclass(frozen=True, slots=True)
class GroupSelection:
    """``+CTGS: <type>,<GSSI>...``: the selected/scanned groups (§8), fields as sent."""

    fields: tuple[str, ...]

    def to_bytes(self) -> bytes:
        """``+CTGS: <fields>`` CR LF."""
        return response_line("+CTGS", self.fields)


@dataclass(frozen=True, slots=True)
class IncomingCall:
    """``+CTICN: <cc instance>,...``: an incoming call (§10), fields as sent."""

    fields: tuple[str, ...]

    @property
    def call_id(self) -> int | None:
        """The call control instance (first field), if it is a number."""
        return _first_int(self.fields)

    def to_bytes(self) -> bytes:
        """``+CTICN: <fields>`` CR LF."""
        return response_line("+CTICN", self.fields)


@dataclass(frozen=True, slots=True)
class CallConnected:
    """``+CTCC: <cc instance>,...``: a call was connected (§10), fields as sent."""

    fields: tuple[str, ...]

    @property
    def call_id(self) -> int | None:
        """The call control instance (first field), if it is a number."""
        return _first_int(self.fields)

    def to_bytes(self) -> bytes:
        """``+CTCC: <fields>`` CR LF."""
        return response_line("+CTCC", self.fields)


@dataclass(frozen=True, slots=True)
class TransmitGrant:
    """``+CTXG: <cc instance>,...``: transmit grant (§10), fields as sent.

    Four fields mean this radio may talk; six mean someone else is talking.
    """

    fields: tuple[str, ...]

    @property
    def call_id(self) -> int | None:
        """The call control instance (first field), if it is a number."""
        return _first_int(self.fields)

    @property
    def granted_to_us(self) -> bool:
        """True for the 4-field form (our own transmission), per PEI reference §10."""
        return len(self.fields) == 4

    def to_bytes(self) -> bytes:
        """``+CTXG: <fields>`` CR LF."""
        return response_line("+CTXG", self.fields)


@dataclass(frozen=True, slots=True)
class CallReleased:
    """``+CTCR: <cc instance>,<disconnect cause>``: a call ended (§10)."""

    call_id: int
    cause: int

    def to_bytes(self) -> bytes:
        """``+CTCR: <call_id>,<cause>`` CR LF."""
        return result_line(f"+CTCR: {self.call_id},{self.cause}")
