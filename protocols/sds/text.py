"""Text in short data: the front door for simple, SDS-TL and concatenated text.

Layouts (EN 300 392-2 clause 29.5; PEI reference §5):

* Simple text, PID 0x02 (0x09 immediate): ``PID | r ccccccc | text``. Bit 7 of the byte
  after the PID is *reserved* in simple text messaging (29.5.2: no timestamp exists
  there); it is sent as 0 and ignored on receipt. Bits 6-0 are the text coding scheme.
* SDS-TL text, PID 0x82 (0x89 immediate): SDS-TL header, then the text user data
  ``t ccccccc | [timestamp] | text`` (``protocols.sds.text_user_data``).
* Concatenated text, PID 0x8A: the same, with a user-data header before the text
  (``protocols.sds.concat``, which also holds the splitting and the size limits).
* Coding schemes: 7-bit GSM, ISO 8859 parts, UCS-2 (``protocols.sds.text_coding``).

Here: ``decode_text`` (any text PDU), ``simple_text`` and ``TextReassembler``. Every
public name of ``text_coding``, ``text_user_data`` and ``concat`` is re-exported, so
``from protocols.sds.text import build_text_transfers, TextTooLong`` keeps working.
"""

from __future__ import annotations

from protocols.errors import ProtocolError
from protocols.sds.concat import (
    CONCATENATED_TEXT_PID,
    DEFAULT_MAX_PAYLOAD_BITS,
    MAX_TEXT_PARTS,
    ConcatenationHeader,
    TextPart,
    TextTooLong,
    build_text_transfers,
    decode_text_part,
)
from protocols.sds.text_coding import (
    CodingScheme,
    coding_scheme,
    decode_chars,
    encode_chars,
    pick_coding,
)
from protocols.sds.text_user_data import (
    SIMPLE_TEXT_PIDS,
    TL_TEXT_PIDS,
    SdsTimestamp,
    TextUserData,
)
from protocols.sds.tl import SdsTransfer, SimpleSds

__all__ = [
    "CONCATENATED_TEXT_PID",
    "DEFAULT_MAX_PAYLOAD_BITS",
    "MAX_TEXT_PARTS",
    "SIMPLE_TEXT_PIDS",
    "TL_TEXT_PIDS",
    "CodingScheme",
    "ConcatenationHeader",
    "SdsTimestamp",
    "TextPart",
    "TextReassembler",
    "TextTooLong",
    "TextUserData",
    "build_text_transfers",
    "decode_text",
    "decode_text_part",
    "pick_coding",
    "simple_text",
]


def decode_text(pdu: SdsTransfer | SimpleSds) -> TextUserData:
    """The text of a simple (0x02/0x09), SDS-TL (0x82/0x89) or concatenated-part (0x8A) SDS.

    For a 0x8A part this is that part's text only; use ``TextReassembler`` for the whole.
    """
    if isinstance(pdu, SimpleSds):
        if pdu.pid not in SIMPLE_TEXT_PIDS:
            raise ProtocolError(f"PID 0x{pdu.pid:02X} is not a simple text")
        if not pdu.data:
            raise ProtocolError("simple text lacks its coding scheme byte")
        coding = coding_scheme(pdu.data[0] & 0x7F)  # bit 7 reserved in simple text (29.5.2)
        return TextUserData(decode_chars(pdu.data[1:], coding), coding)
    if isinstance(pdu, SdsTransfer):
        if pdu.pid in TL_TEXT_PIDS:
            return TextUserData.decode(pdu.user_data)
        if pdu.pid == CONCATENATED_TEXT_PID:
            return decode_text_part(pdu).user_data
        raise ProtocolError(f"PID 0x{pdu.pid:02X} is not a text")
    raise ProtocolError(f"{type(pdu).__name__} does not carry text")


def simple_text(
    text: str, coding: CodingScheme | None = None, *, immediate: bool = False
) -> SimpleSds:
    """A simple text SDS (PID 0x02, or 0x09 when ``immediate``); coding picked if None."""
    chosen = pick_coding(text) if coding is None else coding_scheme(int(coding))
    pid = 0x09 if immediate else 0x02
    return SimpleSds(pid, bytes([chosen]) + encode_chars(text, chosen))


class TextReassembler:
    """Collects the parts of concatenated texts and gives each text once it is whole.

    Pure and bounded: at most ``max_pending`` incomplete texts are kept, keyed by
    (sender, concatenation reference); starting one more evicts the oldest. A part whose
    total disagrees with the pending text of the same key replaces that text (the sender
    has reused the reference). Duplicate parts are ignored.
    """

    __slots__ = ("_max_pending", "_pending")

    def __init__(self, max_pending: int = 64) -> None:
        if max_pending < 1:
            raise ProtocolError("max_pending must be at least 1")
        self._max_pending = max_pending
        self._pending: dict[tuple[int, int], tuple[int, dict[int, str]]] = {}

    @property
    def pending(self) -> int:
        """How many incomplete texts are held."""
        return len(self._pending)

    def add(self, sender_issi: int, transfer: SdsTransfer | SimpleSds) -> str | None:
        """Take one text SDS; return the whole text when it is complete, else None.

        A text that is not a 0x8A part (or is one without a concatenation header) is
        complete by itself and is returned at once.
        """
        if not (isinstance(transfer, SdsTransfer) and transfer.pid == CONCATENATED_TEXT_PID):
            return decode_text(transfer).text
        part = decode_text_part(transfer)
        header = part.concatenation
        if header is None:
            return part.user_data.text
        key = (sender_issi, header.reference)
        entry = self._pending.get(key)
        if entry is None or entry[0] != header.total:
            self._pending.pop(key, None)
            if len(self._pending) >= self._max_pending:
                del self._pending[next(iter(self._pending))]
            entry = (header.total, {})
            self._pending[key] = entry
        entry[1].setdefault(header.part, part.user_data.text)
        if len(entry[1]) < header.total:
            return None
        del self._pending[key]
        return "".join(entry[1][n] for n in range(1, header.total + 1))
