"""PDUs per second for the protocol codecs: ``python -m benchmarks.protocol_codecs``.

Measures encode and decode of an SDS-TL text, a status value and LIP short and long
reports, and the PEI parse of a ``+CTSDSR`` text (header line + hex line, then the SDS
decode). Each case runs for about ``--seconds`` (default 0.3) in three ``timeit`` rounds;
the best round is reported. Prints a table and writes ``benchmarks/results/protocol_codecs.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import timeit
from collections.abc import Callable
from pathlib import Path
from typing import Any

from protocols.payload import payload_from_hex, payload_to_hex
from protocols.sds.lip import LipLongReport, LipShortReport, decode_lip, encode_lip
from protocols.sds.message import StatusMessage, decode_sds, describe
from protocols.sds.text import build_text_transfers, decode_text
from protocols.sds.tl import SdsTransfer, decode_tl

RESULTS = Path(__file__).parent / "results" / "protocol_codecs.json"

TEXT = "Hjertestans, Storgata 12, 0155 Oslo. Pasient 67 år, bevisstløs."
LIP_SHORT = LipShortReport.from_position(59.91273, 10.74609, speed_kmh=48, direction_deg=90)
LIP_LONG = LipLongReport.from_position(59.91273, 10.74609, speed_kmh=48, direction_deg=90)


def _cases() -> dict[str, Callable[[], object]]:
    [transfer] = build_text_transfers(TEXT, [1])
    text_payload = transfer.encode()
    short_payload = encode_lip(LIP_SHORT)
    long_payload = encode_lip(LIP_LONG)
    status = StatusMessage(0x8004)

    def text_encode() -> object:
        return build_text_transfers(TEXT, [1])[0].encode()

    def text_decode() -> object:
        pdu = decode_tl(text_payload)
        assert isinstance(pdu, SdsTransfer)
        return decode_text(pdu)

    cases: dict[str, Callable[[], object]] = {
        "text encode (build_text_transfers + encode)": text_encode,
        "text decode (decode_tl + decode_text)": text_decode,
        "text decode_sds + describe": lambda: describe(decode_sds(12, text_payload)),
        "status encode": status.encode,
        "status decode_sds": lambda: decode_sds(13, b"\x80\x04", 16),
        "lip short encode": lambda: encode_lip(LIP_SHORT),
        "lip short decode": lambda: decode_lip(short_payload, 84),
        "lip long encode": lambda: encode_lip(LIP_LONG),
        "lip long decode": lambda: decode_lip(long_payload),
        "hex line to payload (payload_from_hex)": lambda: payload_from_hex(
            "0A0088BD4247F737FFE81", 84
        ),
    }
    try:
        from protocols.pei.events import SdsReceived
        from protocols.pei.parser import PeiParser
    except ImportError:  # protocols/pei not there yet: measure the rest
        return cases
    line = (
        f"+CTSDSR: 12,2040101,0,2049999,0,{len(text_payload) * 8}\r\n"
        f"{payload_to_hex(text_payload)}\r\n"
    ).encode()

    def pei_text() -> object:
        [sds] = PeiParser("dte").feed(line)
        assert isinstance(sds, SdsReceived)
        pdu = decode_tl(sds.payload, sds.length_bits)
        assert isinstance(pdu, SdsTransfer)
        return decode_text(pdu)

    cases["PEI +CTSDSR parse + text decode"] = pei_text
    return cases


def measure(seconds: float) -> dict[str, float]:
    """PDUs per second for every case: best of three rounds, about ``seconds`` per case."""
    figures: dict[str, float] = {}
    for name, func in _cases().items():
        func()  # warm up, and fail loudly before timing if a case is broken
        timer = timeit.Timer(func)
        calibration = timer.timeit(number=20) / 20
        number = max(1, int(seconds / 3 / max(calibration, 1e-9)))
        best = min(timer.repeat(repeat=3, number=number))
        figures[name] = number / best
    return figures


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--seconds", type=float, default=0.3, help="time per case")
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    figures = measure(args.seconds)
    width = max(map(len, figures))
    for name, rate in figures.items():
        print(f"{name:<{width}}  {rate:>12,.0f} PDU/s")
    report: dict[str, Any] = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "unit": "PDU/s",
        "figures": {name: round(rate) for name, rate in figures.items()},
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(
        json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    print(f"written to {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
