"""SDS per second through the whole gateway: callouts on MQTT → SDS on the radios' ptys.

``python -m benchmarks.gateway_throughput [--baud 38400 115200] [--radios 1 4]``

The system of ``benchmarks/rig.py`` with silent units (they report delivery, nothing else).
Dispatch publishes ``--callouts-per-radio`` single-unit callouts at once (QoS 1); the gateway
stores them, sends the texts and publishes ``delivered``. The rate is the steady spacing of the
``delivered`` events ((n-1) / (last - first), as in ``radio_throughput``); the bound is the one
``radio_throughput`` uses — what the emulator's half-duplex pacing allows for the bytes that
actually crossed the line, ``baud / 10 / (tx + rx)`` per radio — taken from the emulator's own
byte counters over the run. Also the gateway's CPU time (``/proc``) per SDS sent.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from typing import Any

from benchmarks.rig import NewMessages, System, cpu_seconds, cpu_split, system

TEXT = "Utalarmering: Hjertestans, Storgata 12, 0155 Oslo. Inngang bak. Prio 1."
FIRST_UNIT = 2040101
UNIT_COUNT = 40
#: Callouts per radio and run; ~10 s of line time per radio at 38400 baud.
DEFAULT_CALLOUTS_PER_RADIO = 150


def _wire_bytes(sys_: System) -> tuple[int, int]:
    radios = sys_.emulator.get("/radios")
    return (
        sum(r["counters"]["bytes_in"] for r in radios),
        sum(r["counters"]["bytes_out"] for r in radios),
    )


async def _publish_callouts(sys_: System, prefix: str, count: int) -> list[str]:
    ids = [f"{prefix}-{n}" for n in range(count)]
    for n, callout_id in enumerate(ids):
        await sys_.dispatch.callout(
            callout_id=callout_id,
            incident_id=f"I-{callout_id}",
            units=[{"issi": FIRST_UNIT + n % UNIT_COUNT, "role": "ambulance"}],
            text=TEXT,
            deadline_s=300,
        )
    return ids


class _Finals:
    """The final events (``delivered``/``unreached``) of ``ids``' callouts at dispatch, as
    ``(receive time, event)`` in arrival order; each call reads what arrived since the last."""

    def __init__(self, sys_: System, ids: list[str]) -> None:
        self._new = NewMessages(sys_.dispatch)
        self._wanted = {f"tetragw/v1/callouts/{c}/events" for c in ids}
        self.events: list[tuple[float, str]] = []

    def __call__(self) -> int:
        for m in self._new():
            event = m.payload.get("event")
            if m.topic in self._wanted and event in ("delivered", "unreached"):
                self.events.append((m.at, event))
        return len(self.events)


async def measure(baud: int, radios: int, callouts_per_radio: int) -> dict[str, Any]:
    """One configuration: rate, bound, utilisation, CPU per SDS."""
    units = f"{FIRST_UNIT}-{FIRST_UNIT + UNIT_COUNT - 1}"
    async with system(radios=radios, units=units, baud=baud) as sys_:
        warm = await _publish_callouts(sys_, "warm", radios * 2)
        warm_finals = _Finals(sys_, warm)
        await sys_.dispatch.wait_for(lambda: warm_finals() == len(warm), 60, "warm-up")
        total = callouts_per_radio * radios
        before_bytes, cpu_before = _wire_bytes(sys_), cpu_seconds(sys_.gateway_pid)
        split_before = cpu_split(sys_.gateway_pid)
        started = time.monotonic()
        ids = await _publish_callouts(sys_, "run", total)
        finals = _Finals(sys_, ids)
        limit = 30 + total * 10 / baud * 30  # generous: ~30x the line time of the run
        await sys_.dispatch.wait_for(lambda: finals() == total, limit, "every callout final")
        elapsed = time.monotonic() - started
        cpu = cpu_seconds(sys_.gateway_pid) - cpu_before
        user, system_ = (
            a - b for a, b in zip(cpu_split(sys_.gateway_pid), split_before, strict=True)
        )
        after_bytes = _wire_bytes(sys_)
        finals()
        times = sorted(at for at, _ in finals.events)
        delivered = sum(1 for _, event in finals.events if event == "delivered")
    tx = (after_bytes[0] - before_bytes[0]) / total
    rx = (after_bytes[1] - before_bytes[1]) / total
    bound = baud / 10 / (tx + rx) * radios
    rate = (len(times) - 1) / (times[-1] - times[0])
    wire_s = (tx + rx) * 10 / baud
    return {
        "baud": baud,
        "radios": radios,
        "callouts": total,
        "delivered": delivered,
        "seconds": round(elapsed, 3),
        "sds_per_s": round(rate, 2),
        "emulator_bound_sds_per_s": round(bound, 2),
        "utilisation": round(rate / bound, 3),
        "tx_bytes_per_sds": round(tx, 1),
        "rx_bytes_per_sds": round(rx, 1),
        "gateway_cpu_s": round(cpu, 3),
        "cpu_us_per_sds": round(cpu / total * 1e6, 1),
        "user_us_per_sds": round(user / total * 1e6, 1),
        "system_us_per_sds": round(system_ / total * 1e6, 1),
        "wire_us_per_sds": round(wire_s * 1e6, 1),
    }


async def run(bauds: list[int], radio_counts: list[int], per_radio: int) -> list[dict[str, Any]]:
    rows = []
    for baud in bauds:
        for radios in radio_counts:
            row = await measure(baud, radios, per_radio)
            print(json.dumps(row), flush=True)
            rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baud", type=int, nargs="*", default=[38400, 115200])
    parser.add_argument("--radios", type=int, nargs="*", default=[1])
    parser.add_argument("--callouts-per-radio", type=int, default=DEFAULT_CALLOUTS_PER_RADIO)
    args = parser.parse_args()
    asyncio.run(run(args.baud, args.radios, args.callouts_per_radio))


if __name__ == "__main__":
    main()
