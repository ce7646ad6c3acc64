"""SDS throughput of the radio driver (``python -m benchmarks.radio_throughput``).

The emulator runs as its own process (``tetragw emulator``), PEI bytes paced at 38400 and
115200 baud, 50 ms air delay, silent units (they report delivery, send nothing else). A
``RadioPool`` of 1, 2 and 4 terminals sends callout-sized texts (receipt report requested)
to the units, many at once, and every send must come back ``delivered``.

Per configuration it prints SDS per second and, for one radio, what the line allows: with
one command in flight, an SDS costs the command's bytes (gateway → radio) followed by the
radio's answer ``+CMGS: <n>`` ``OK`` (radio → gateway); the outcome and report URCs share
the radio → gateway direction. The byte counts are those the emulator counted on the wire:

    full-duplex line bound = baud / 10 / max(tx + answer, rx)   (SDS per second, 8N1)

The emulator paces both directions of a link with one wire clock (half duplex), so what its
timing allows is ``baud / 10 / (tx + rx)``. Efficiency = measured / emulator bound
(target ≥ 0.9); the figure against the full-duplex bound is printed too. Scaling = rate
with N radios / rate with 1 (target ≥ 3.6 at 4).
Results go to ``benchmarks/results/radio_throughput.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import structlog

from hardware.delivery import SendOutcome
from hardware.link import LinkSettings
from hardware.pool import RadioPool
from hardware.terminal import Terminal, TerminalConfig

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "radio_throughput.json"
UNITS = (2040101, 2040140)
TEXT = "Utalarmering: Hjertestans, Storgata 12, 0155 Oslo. Inngang bak. Prio 1."
# "+CMGS: <n>" CR LF "OK" CR LF, with a 1-3 digit instance: ~15 bytes.
ANSWER_BYTES = len(b"+CMGS: 123\r\nOK\r\n")


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def start_emulator(ready: Path, radios: int, baud: int) -> subprocess.Popen[bytes]:
    exe = ROOT / ".venv" / "bin" / "tetragw"
    command = [
        str(exe),
        "emulator",
        "--radios",
        str(radios),
        "--units",
        f"{UNITS[0]}-{UNITS[1]}",
        "--behaviour",
        "silent",
        "--baud",
        str(baud),
        "--ready-file",
        str(ready),
    ]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while not ready.exists():
        if time.monotonic() > deadline or process.poll() is not None:
            process.kill()
            raise RuntimeError("emulator did not start")
        time.sleep(0.05)
    return process


def wire_bytes(control: str) -> dict[str, tuple[int, int]]:
    return {
        r["name"]: (r["counters"]["bytes_in"], r["counters"]["bytes_out"])
        for r in _get(control + "/radios")
    }


async def measure(baud: int, radios: int, sends_per_radio: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        ready = Path(tmp) / "ready.json"
        process = start_emulator(ready, radios, baud)
        try:
            control = json.loads(ready.read_text())["control"]
            terminals = [
                Terminal(
                    TerminalConfig(
                        name=f"gw{i + 1}",
                        url=f"emulator://{ready}#gw{i + 1}",
                        link=LinkSettings(baud=baud),
                        send_deadline=120.0,
                    )
                )
                for i in range(radios)
            ]
            pool = RadioPool(terminals)
            await pool.start()
            try:
                if not await pool.wait_ready(20, count=radios):
                    raise RuntimeError("radios did not come up")
                units = list(range(UNITS[0], UNITS[1] + 1))
                # Warm up: AT+CTSDS selected, caches filled.
                await asyncio.gather(*(pool.send_text(units[i], TEXT) for i in range(radios * 2)))
                before = wire_bytes(control)
                total = sends_per_radio * radios
                done_at: list[float] = []

                async def send(i: int) -> SendOutcome:
                    outcome = await pool.send_text(units[i % len(units)], TEXT)
                    done_at.append(time.perf_counter())
                    return outcome

                started = time.perf_counter()
                outcomes = await asyncio.gather(*(send(i) for i in range(total)))
                elapsed = time.perf_counter() - started
                after = wire_bytes(control)
            finally:
                await pool.stop()
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
    kinds = [o.kind for o in outcomes]
    delivered = kinds.count("delivered")
    tx = sum(after[n][0] - before[n][0] for n in after) / total
    rx = sum(after[n][1] - before[n][1] for n in after) / total
    # The emulator paces both directions of a link with one pacer (one wire time for bytes
    # in and out: half duplex), so what its timing allows is baud/10 / (tx + rx). A real
    # RS-232 line is full duplex: there the answer waits for the command only.
    emulator_bound = baud / 10 / (tx + rx)
    line_bound = baud / 10 / max(tx + ANSWER_BYTES, rx)
    # Steady state: completions are one SDS time apart; the first ones carry the air
    # latency of the first send and are left out.
    done_at.sort()
    rate = (len(done_at) - 1) / (done_at[-1] - done_at[0])
    return {
        "baud": baud,
        "radios": radios,
        "sends": total,
        "delivered": delivered,
        "other_outcomes": {k: kinds.count(k) for k in set(kinds) if k != "delivered"},
        "seconds": round(elapsed, 3),
        "end_to_end_sds_per_s": round(delivered / elapsed, 2),
        "sds_per_s": round(rate, 2),
        "tx_bytes_per_sds": round(tx, 1),
        "rx_bytes_per_sds": round(rx, 1),
        "emulator_bound_sds_per_s": round(emulator_bound * radios, 2),
        "full_duplex_line_bound_sds_per_s": round(line_bound * radios, 2),
        "efficiency": round(rate / (emulator_bound * radios), 3),
        "efficiency_vs_full_duplex": round(rate / (line_bound * radios), 3),
    }


async def run(bauds: list[int], counts: list[int], sends_per_radio: int) -> list[dict[str, Any]]:
    rows = []
    for baud in bauds:
        single: float | None = None
        for radios in counts:
            row = await measure(baud, radios, sends_per_radio)
            if radios == 1:
                single = row["sds_per_s"]
            row["scaling_vs_1"] = round(row["sds_per_s"] / single, 2) if single else None
            rows.append(row)
            print_row(row)
    return rows


def print_row(row: dict[str, Any]) -> None:
    print(
        f"{row['baud']:>7} {row['radios']:>6} {row['sends']:>6} {row['delivered']:>9} "
        f"{row['sds_per_s']:>8.2f} {row['emulator_bound_sds_per_s']:>8.2f} "
        f"{row['efficiency']:>6.3f} {row['full_duplex_line_bound_sds_per_s']:>8.2f} "
        f"{row['efficiency_vs_full_duplex']:>6.3f} {row['scaling_vs_1'] or 0:>7.2f} "
        f"{row['tx_bytes_per_sds']:>6.1f} {row['rx_bytes_per_sds']:>6.1f}",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baud", type=int, nargs="*", default=[38400, 115200])
    parser.add_argument("--radios", type=int, nargs="*", default=[1, 2, 4])
    parser.add_argument("--sends-per-radio", type=int, default=150)
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    print(
        f"{'baud':>7} {'radios':>6} {'sends':>6} {'delivered':>9} {'SDS/s':>8} "
        f"{'emu max':>8} {'eff':>6} {'FD max':>8} {'eff FD':>6} {'scale':>7} "
        f"{'tx B':>6} {'rx B':>6}"
    )
    rows = asyncio.run(run(args.baud, args.radios, args.sends_per_radio))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "benchmark": "radio_throughput",
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "text_length": len(TEXT),
        "rows": rows,
    }
    RESULTS.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    print(f"written {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
