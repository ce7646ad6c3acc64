"""The PEI line parser, sans-IO: feed it bytes in any split, take events out (like h11).

``PeiParser(role="dte")`` reads what a radio writes and yields `PeiEvent`s;
``PeiParser(role="mt")`` reads what a gateway writes and yields `MtEvent`s
(`AtCommand`, `SendSds`, `AbortSds`, `Unrecognised`), so the emulator reuses the codec.

Framing (PEI reference §1): CR, LF and CR LF all end a line; blank lines, stray control
bytes and a ``>`` prompt are skipped; bytes are latin-1 (which never fails to decode). A
line longer than `MAX_LINE_BYTES` becomes `Unrecognised` and the rest of it is dropped, so
garbage on the serial line cannot grow memory. The parser never raises on input.

The state lives in one small transition table, `TRANSITIONS`: (state, what was read) →
next state. What each step emits is decided by the same pair in `PeiParser._act`.
"""

from __future__ import annotations

import re
from collections import deque
from enum import Enum
from typing import Final, Generic, Literal, TypeAlias, TypeVar, cast, overload

from protocols.errors import ProtocolError
from protocols.payload import payload_from_hex
from protocols.pei.commands import AbortSds, AtCommand, SendSds, parse_command_line
from protocols.pei.events import PeiEvent, Unrecognised
from protocols.pei.fields import parse_int
from protocols.pei.responses import SdsHeader, decode_response_line, hex_digits

MAX_LINE_BYTES: Final = 4096
"""The longest line (or AT+CMGS data block) kept; longer ones become `Unrecognised`."""

MtEvent: TypeAlias = AtCommand | SendSds | AbortSds | Unrecognised
Role: TypeAlias = Literal["dte", "mt"]


class NeedData(Enum):
    """The type of `NEED_DATA`."""

    NEED_DATA = "NEED_DATA"


NEED_DATA: Final = NeedData.NEED_DATA
"""Returned by `PeiParser.next_event` when no complete event is buffered."""


class State(Enum):
    """Where the parser is between two bytes."""

    READING_LINE = "reading a line"
    AWAITING_SDS_HEX = "read a +CTSDSR header, awaiting its hex line"  # dte role
    READING_SDS_DATA = "read AT+CMGS, reading hex up to Ctrl-Z or ESC"  # mt role
    SKIPPING_LONG_LINE = "dropping the rest of an over-long line"


class Input(Enum):
    """What the parser has just read."""

    SDS_HEADER = "+CTSDSR header line"
    HEX_LINE = "line of hex digits"
    SDS_COMMAND = "AT+CMGS=<issi>,<bits> line"
    OTHER_LINE = "any other line"
    LINE_TOO_LONG = "line past MAX_LINE_BYTES"
    DATA_SUBMITTED = "Ctrl-Z after AT+CMGS data"
    DATA_ABORTED = "ESC after AT+CMGS data"
    DATA_NOT_HEX = "a non-hex character in AT+CMGS data"
    LINE_END = "end of the line being skipped"


_S = State
_I = Input
TRANSITIONS: Final[dict[tuple[State, Input], State]] = {
    (_S.READING_LINE, _I.SDS_HEADER): _S.AWAITING_SDS_HEX,
    (_S.READING_LINE, _I.HEX_LINE): _S.READING_LINE,
    (_S.READING_LINE, _I.SDS_COMMAND): _S.READING_SDS_DATA,
    (_S.READING_LINE, _I.OTHER_LINE): _S.READING_LINE,
    (_S.READING_LINE, _I.LINE_TOO_LONG): _S.SKIPPING_LONG_LINE,
    (_S.AWAITING_SDS_HEX, _I.HEX_LINE): _S.READING_LINE,
    # A header not followed by hex is Unrecognised; a new header starts over.
    (_S.AWAITING_SDS_HEX, _I.SDS_HEADER): _S.AWAITING_SDS_HEX,
    (_S.AWAITING_SDS_HEX, _I.OTHER_LINE): _S.READING_LINE,
    (_S.AWAITING_SDS_HEX, _I.LINE_TOO_LONG): _S.SKIPPING_LONG_LINE,
    (_S.READING_SDS_DATA, _I.DATA_SUBMITTED): _S.READING_LINE,
    (_S.READING_SDS_DATA, _I.DATA_ABORTED): _S.READING_LINE,
    (_S.READING_SDS_DATA, _I.DATA_NOT_HEX): _S.READING_LINE,
    (_S.READING_SDS_DATA, _I.LINE_TOO_LONG): _S.SKIPPING_LONG_LINE,
    (_S.SKIPPING_LONG_LINE, _I.LINE_END): _S.READING_LINE,
}

_LINE_END = re.compile(rb"[\r\n]")
# In the mt role an over-long AT+CMGS data block is skipped up to its Ctrl-Z or ESC.
_SKIP_END = {"dte": _LINE_END, "mt": re.compile(rb"[\r\n\x1a\x1b]")}
_CONTROLS = bytes(b for b in range(32) if b not in (0x0A, 0x0D)) + b"\x7f"
_HEX_BYTES = frozenset(b"0123456789abcdefABCDEF")
_CR, _LF, _SPACE, _TAB, _SUB, _ESC = 0x0D, 0x0A, 0x20, 0x09, 0x1A, 0x1B

_E = TypeVar("_E")


class PeiParser(Generic[_E]):
    """Bytes in, events out; see the module docstring for what is accepted."""

    @overload
    def __init__(self: PeiParser[PeiEvent], role: Literal["dte"] = "dte") -> None: ...
    @overload
    def __init__(self: PeiParser[MtEvent], role: Literal["mt"]) -> None: ...
    def __init__(self, role: Role = "dte") -> None:
        """``role="dte"`` reads a radio's output; ``role="mt"`` reads a gateway's commands."""
        if role not in ("dte", "mt"):
            raise ProtocolError(f"role must be 'dte' or 'mt', not {role!r}")
        self.role: Final[Role] = role
        self._state = State.READING_LINE
        self._line = bytearray()
        self._events: deque[_E] = deque()
        self._skip_end = _SKIP_END[role]
        self._header: SdsHeader | None = None  # AWAITING_SDS_HEX
        self._sds_command = ""  # READING_SDS_DATA: the AT+CMGS line,
        self._sds_target = (0, 0)  # its called identity and length in bits,
        self._sds_digits = bytearray()  # the hex so far,
        self._sds_tail = bytearray()  # and what followed the last line end in the data.

    @property
    def state(self) -> State:
        """The current state (for diagnostics and tests)."""
        return self._state

    @property
    def buffered_bytes(self) -> int:
        """Bytes of an unfinished line or data block held; never above `MAX_LINE_BYTES`."""
        return len(self._line) + len(self._sds_digits) + len(self._sds_tail)

    def feed(self, data: bytes) -> list[_E]:
        """`receive_data` then every complete event, oldest first."""
        self.receive_data(data)
        events = list(self._events)
        self._events.clear()
        return events

    def receive_data(self, data: bytes) -> None:
        """Take bytes from the link, any amount and any split. Never raises on content."""
        data = bytes(data)
        pos = 0
        while pos < len(data):
            if self._state is State.READING_SDS_DATA:
                pos = self._read_sds_data(data, pos)
            elif self._state is State.SKIPPING_LONG_LINE:
                pos = self._skip(data, pos)
            else:
                pos = self._read_line(data, pos)

    def next_event(self) -> _E | NeedData:
        """The oldest complete event, or `NEED_DATA` when more bytes are needed."""
        if self._events:
            return self._events.popleft()
        return NEED_DATA

    # -- framing -------------------------------------------------------------------

    def _read_line(self, data: bytes, pos: int) -> int:
        match = _LINE_END.search(data, pos)
        end = len(data) if match is None else match.start()
        chunk = data[pos:end].translate(None, _CONTROLS)
        room = MAX_LINE_BYTES - len(self._line)
        if len(chunk) > room:
            self._line += chunk[:room]
            text = self._take_line()
            self._act(Input.LINE_TOO_LONG, text)
            return end
        self._line += chunk
        if match is None:
            return end
        self._on_line(self._take_line())
        return end + 1

    def _take_line(self) -> str:
        text = self._line.decode("latin-1")
        self._line.clear()
        return text

    def _skip(self, data: bytes, pos: int) -> int:
        match = self._skip_end.search(data, pos)
        if match is None:
            return len(data)
        self._act(Input.LINE_END, "")
        # The byte that ends the skipped line (or data block) goes with it.
        return match.end()

    def _read_sds_data(self, data: bytes, pos: int) -> int:
        # PEI reference §3: AT+CMGS=<issi>,<bits> CR LF, hex, then Ctrl-Z (send) or ESC
        # (abort). Line ends and spaces inside the data are tolerated.
        for index in range(pos, len(data)):
            byte = data[index]
            if byte == _SUB:
                self._act(Input.DATA_SUBMITTED, "")
                return index + 1
            if byte == _ESC:
                self._act(Input.DATA_ABORTED, "")
                return index + 1
            if byte in (_CR, _LF):
                self._sds_tail.clear()
            elif byte in _HEX_BYTES or byte in (_SPACE, _TAB):
                if self.buffered_bytes >= MAX_LINE_BYTES:
                    self._act(Input.LINE_TOO_LONG, self._sds_command)
                    return index
                if byte in _HEX_BYTES:
                    self._sds_digits.append(byte)
                self._sds_tail.append(byte)
            elif byte >= 0x20 and byte != 0x7F:
                # Not data after all (say the gateway gave up and sent "AT" CR): the
                # command is Unrecognised and this line is read as a line.
                self._act(Input.DATA_NOT_HEX, "")
                return index
        return len(data)

    # -- lines and the transition table ---------------------------------------------

    def _on_line(self, text: str) -> None:
        text = text.strip()
        if self.role == "dte":
            # A "> " prompt for AT+CMGS data may precede the next line without a line end.
            while text.startswith(">"):
                text = text[1:].lstrip()
        if not text:
            return
        if self.role == "mt":
            self._on_command_line(text)
        else:
            self._on_response_line(text)

    def _on_response_line(self, text: str) -> None:
        digits = hex_digits(text)
        if digits is not None:
            self._act(Input.HEX_LINE, text, digits)
            return
        decoded = decode_response_line(text)
        if isinstance(decoded, SdsHeader):
            self._act(Input.SDS_HEADER, text, header=decoded)
        else:
            self._act(Input.OTHER_LINE, text, event=decoded)

    def _on_command_line(self, text: str) -> None:
        try:
            command = parse_command_line(text)
        except ProtocolError as exc:
            self._act(Input.OTHER_LINE, text, event=Unrecognised(text, str(exc)))
            return
        if command.name == "+CMGS" and command.op == "set" and len(command.args) == 2:
            try:
                target = (
                    parse_int(command.args[0], "called identity"),
                    parse_int(command.args[1], "length in bits"),
                )
            except ProtocolError:
                pass  # a malformed AT+CMGS is passed on as a command, for a radio to refuse
            else:
                self._sds_command = text
                self._sds_target = target
                self._act(Input.SDS_COMMAND, text)
                return
        self._act(Input.OTHER_LINE, text, event=command)

    def _act(
        self,
        what: Input,
        text: str,
        digits: str = "",
        *,
        header: SdsHeader | None = None,
        event: PeiEvent | MtEvent | None = None,
    ) -> None:
        state = self._state
        self._state = TRANSITIONS[state, what]
        if state is State.AWAITING_SDS_HEX and self._header is not None:
            pending, self._header = self._header, None
            if what is Input.HEX_LINE:
                self._emit(pending.with_data(digits))
                return
            self._emit(Unrecognised(pending.line, "+CTSDSR header without a hex line"))
        if what is Input.HEX_LINE:
            self._emit(Unrecognised(text, "hex line without a +CTSDSR header"))
        elif what is Input.SDS_HEADER:
            self._header = header
        elif what is Input.OTHER_LINE and event is not None:
            self._emit(event)
        elif what is Input.LINE_TOO_LONG:
            if state is State.READING_SDS_DATA:
                self._emit(Unrecognised(text, "AT+CMGS data too long"))
                self._clear_sds()
            else:
                self._emit(Unrecognised(text, f"line longer than {MAX_LINE_BYTES} bytes"))
        elif what is Input.DATA_SUBMITTED:
            self._emit(self._sds_result())
        elif what is Input.DATA_ABORTED:
            self._clear_sds()
            self._emit(AbortSds())
        elif what is Input.DATA_NOT_HEX:
            self._emit(Unrecognised(self._sds_command, "AT+CMGS data is not hex"))
            self._line[:] = self._sds_tail.translate(None, _CONTROLS)
            self._clear_sds()

    def _sds_result(self) -> SendSds | Unrecognised:
        digits = self._sds_digits.decode("ascii")
        command = self._sds_command
        self._clear_sds()
        if not digits:
            return Unrecognised(command, "AT+CMGS without data")
        called_issi, length_bits = self._sds_target
        return SendSds(called_issi, length_bits, payload_from_hex(digits, length_bits))

    def _clear_sds(self) -> None:
        self._sds_digits.clear()
        self._sds_tail.clear()
        self._sds_command = ""

    def _emit(self, event: PeiEvent | MtEvent) -> None:
        self._events.append(cast(_E, event))
