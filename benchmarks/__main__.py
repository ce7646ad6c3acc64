"""``python -m benchmarks`` (``make bench``): every figure against its target.

Runs, in order (2–3 minutes on 2 cores, every part bounded in count and time):
``radio_throughput`` (the driver alone, 1 and 4 radios at 38400/115200 baud),
``gateway_throughput`` (callouts on MQTT → SDS on the pty, same configurations),
``latency`` (50 callouts/s, first AT byte, and Mosquitto's own latency in the same run),
``scale`` (100 and 5,000 units, status + position traffic at 1,000 messages/s),
``startup`` (process start → retained ``online``), ``floor`` (what MQTT alone costs per
message with the gateway's library, the context of the CPU figures) and ``urgent`` (an urgent
callout behind a backlog of 100 routine ones on one radio at 38400 baud; not a figure of
issue 7, its check is ours). Prints a table of each
figure, its target and pass/short, and writes every raw row to ``benchmarks/results/latest.json``.
The figures are explained in ``docs/performance.md``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import structlog

from benchmarks import (
    floor,
    gateway_throughput,
    latency,
    radio_throughput,
    scale,
    startup,
    urgent,
)

RESULTS = Path(__file__).resolve().parent / "results" / "latest.json"
BAUDS = [38400, 115200]
#: Bytes of a status indication on the PEI: ``+CTSDSR: 13,<issi>,0,<issi>,0,16`` + ``8002``.
STATUS_WIRE_BYTES = len(b"+CTSDSR: 13,2040101,0,2049999,0,16\r\n8002\r\n")


@dataclass(frozen=True, slots=True)
class Figure:
    """One line of the table."""

    name: str
    value: float
    target: str
    ok: bool
    note: str


def _row(rows: list[dict[str, Any]], baud: int, radios: int) -> dict[str, Any]:
    return next(r for r in rows if r["baud"] == baud and r["radios"] == radios)


def figures(results: dict[str, Any]) -> list[Figure]:
    """The targets of the issue, evaluated on ``results``."""
    driver, gw = results["radio_throughput"], results["gateway_throughput"]
    out = []
    for baud in BAUDS:
        g, d = _row(gw, baud, 1), _row(driver, baud, 1)
        out.append(
            Figure(
                f"line_utilisation@{baud}",
                g["utilisation"],
                ">= 0.95 (gateway)",
                g["utilisation"] >= 0.95,
                f"whole gateway {g['sds_per_s']}/{g['emulator_bound_sds_per_s']} SDS/s;"
                f" driver alone {d['efficiency']}",
            )
        )
    for baud in BAUDS:
        g4, g1 = _row(gw, baud, 4), _row(gw, baud, 1)
        scaling = round(g4["sds_per_s"] / g1["sds_per_s"], 2)
        out.append(
            Figure(
                f"radio_scaling_4@{baud}",
                scaling,
                ">= 3.8 (gateway)",
                scaling >= 3.8,
                f"driver alone {_row(driver, baud, 4)['scaling_vs_1']}",
            )
        )
    lat = results["latency"]
    out.append(
        Figure(
            "added_latency_p99_ms",
            lat["added_p99_ms"],
            "<= 5",
            lat["added_p99_ms"] <= 5,
            f"p50 {lat['added_p50_ms']}; Mosquitto p99 {lat['mosquitto_p99_ms']}"
            f" (p50 {lat['mosquitto_p50_ms']}); ratio {lat['ratio_p99']}",
        )
    )
    sds = _row(gw, 115200, 1)
    limit = sds["wire_us_per_sds"] / 100
    out.append(
        Figure(
            "cpu_us_per_sds",
            sds["cpu_us_per_sds"],
            f"<= {limit:.0f} (1% wire)",
            sds["cpu_us_per_sds"] <= limit,
            f"user {sds['user_us_per_sds']} + system {sds['system_us_per_sds']};"
            f" MQTT alone {results['floor']['mqtt_cpu_us_per_callout']}",
        )
    )
    big, small = (next(r for r in results["scale"] if r["units"] == n) for n in (5000, 100))
    status_limit = STATUS_WIRE_BYTES * 10 / 115200 * 1e6 / 100
    out.append(
        Figure(
            "cpu_us_per_status_or_position",
            big["cpu_us_per_message_sent"],
            f"<= {status_limit:.0f} (1% wire)",
            big["cpu_us_per_message_sent"] <= status_limit,
            "5,000 units, half statuses, half LIP positions;"
            f" MQTT alone {results['floor']['mqtt_cpu_us_per_relayed_message']}",
        )
    )
    out.append(
        Figure(
            "scale_5000_rss_mb",
            big["gateway_peak_rss_mb"],
            "< 200",
            big["gateway_peak_rss_mb"] < 200,
            f"100 units: {small['gateway_peak_rss_mb']}",
        )
    )
    flat = round(big["relay_p99_ms"] / small["relay_p99_ms"], 2)
    out.append(
        Figure(
            "scale_p99_5000_vs_100",
            flat,
            "<= 1.5",
            flat <= 1.5,
            f"p99 {small['relay_p99_ms']} -> {big['relay_p99_ms']} ms;"
            f" sent {big['achieved_send_per_s']}/s, drained {big['drained_after_s']} s after"
            + (
                "; BROKER DROPPED messages to the rig's dispatch client (rig overloaded)"
                if small["broker_dropped_for_dispatch"] or big["broker_dropped_for_dispatch"]
                else ""
            ),
        )
    )
    ready = results["startup"]
    out.append(
        Figure(
            "time_to_ready_s",
            ready["median_s"],
            "< 1",
            ready["median_s"] < 1,
            f"runs {ready['seconds']}",
        )
    )
    behind = results["urgent"]
    first = behind["routine_written_before_urgent"]
    out.append(
        Figure(
            "urgent_behind_backlog_ms",
            behind["urgent_wait_ms"] if behind["urgent_wait_ms"] is not None else math.inf,
            "< 10% backlog first",
            first is not None and first < behind["backlog"] / 10,
            f"{first} of {behind['backlog']} routine SDS before it (in arrival order: all,"
            f" {behind['last_routine_wait_ms']} ms); {behind['line_ms_per_sds']} ms/SDS;"
            " not an issue-7 figure",
        )
    )
    return out


async def collect() -> dict[str, Any]:
    print("radio_throughput (driver alone)", flush=True)
    driver = await radio_throughput.run(BAUDS, [1, 4], 150)
    print("gateway_throughput (callouts on MQTT -> SDS)", flush=True)
    gw = await gateway_throughput.run(BAUDS, [1, 4], 150)
    print("latency", flush=True)
    lat = await latency.measure(50.0, 10.0)
    print(json.dumps(lat), flush=True)
    print("scale", flush=True)
    rows = await scale.run([100, 5000], 1000.0, 5.0)
    print("startup", flush=True)
    ready = await startup.measure(3)
    print(json.dumps(ready), flush=True)
    print("floor (MQTT alone)", flush=True)
    mqtt_floor = await floor.measure()
    print(json.dumps(mqtt_floor), flush=True)
    print("urgent (behind a backlog)", flush=True)
    behind = await urgent.measure(100, 38400)
    print(json.dumps(behind), flush=True)
    return {
        "radio_throughput": driver,
        "gateway_throughput": gw,
        "latency": lat,
        "scale": rows,
        "startup": ready,
        "floor": mqtt_floor,
        "urgent": behind,
    }


def main() -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    results = asyncio.run(collect())
    table = figures(results)
    print(f"\n{'figure':<32} {'value':>10}  {'target':<20} {'':<5}  note")
    for f in table:
        verdict = "pass" if f.ok else "short"
        print(f"{f.name:<32} {f.value:>10}  {f.target:<20} {verdict:<5}  {f.note}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "figures": [asdict(f) for f in table],
        "raw": results,
    }
    RESULTS.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    print(f"written {RESULTS}")


if __name__ == "__main__":
    main()
