"""Added latency: callout published to Mosquitto → first AT byte written to the radio's pty.

``python -m benchmarks.latency [--rate 50] [--seconds 10] [--units-per-callout 1]``

The system of ``benchmarks/rig.py`` with two radios, unpaced (``--baud 0``: line time is not
the gateway's doing, and at 50 callouts/s a paced radio would add queueing that is not
either). Dispatch publishes single-unit callouts at ``--rate`` on a fixed schedule, each to a
unit of its own, noting the wall-clock time just before the QoS 1 publish. The emulator
records the wall-clock time of every read from a gateway on its PEI endpoint, before any
pacing (``GET /radios/<name>/rx-log``, ``Link.rx_log``); the callout's first AT byte is the
read that starts ``AT+CMGS=<its unit>,``. Both clocks are CLOCK_REALTIME of the same host.
With ``--units-per-callout`` above 1 each callout names units of its own and asks for a talk
group (the default for more than one unit; the pool backend of the default configuration);
its first AT byte is the earliest of its units'. ``make bench`` measures single-unit callouts.
The emulator's read wakes a little after the gateway's write, so the figure errs high.

In the same run, interleaved at the same rate, a probe client publishes QoS 1 messages to a
topic another client subscribes to: Mosquitto's own publish → deliver latency on loopback.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import re
import time
from typing import Any

import aiomqtt

from benchmarks.rig import System, percentile, system
from gateway.mqtt import no_delay

FIRST_UNIT = 2040000
TEXT = "Utalarmering: Trafikkulykke E18 Sandvika, to biler. Prio 1."
#: Seconds to wait for the last callouts after the last publish; later = counted as missing.
DRAIN_S = 60.0
_CMGS = re.compile(r"AT\+CMGS=(\d+),")
_ROLES = ("ambulance", "first_responder")


async def _probe_subscriber(sys_: System, received: dict[int, float], ready: asyncio.Event) -> None:
    async with aiomqtt.Client(sys_.broker.host, sys_.broker.port, identifier="probe-sub") as sub:
        no_delay(sub)  # as every client of the rig (gateway.mqtt.no_delay)
        await sub.subscribe("bench/probe", qos=1)
        ready.set()
        async for message in sub.messages:
            received[int(bytes(message.payload))] = time.time()


async def measure(rate: float, seconds: float, units_per_callout: int = 1) -> dict[str, Any]:
    count = int(rate * seconds)
    per = units_per_callout
    spare = FIRST_UNIT + count * per + 5  # the warm-up callout's unit
    units = f"{FIRST_UNIT}-{spare + 4}"
    async with system(radios=2, units=units, baud=0) as sys_:
        probe_received: dict[int, float] = {}
        probe_sent: dict[int, float] = {}
        published: dict[int, float] = {}
        ready = asyncio.Event()
        subscriber = asyncio.create_task(_probe_subscriber(sys_, probe_received, ready))
        try:
            await asyncio.wait_for(ready.wait(), 10)
            async with aiomqtt.Client(
                sys_.broker.host, sys_.broker.port, identifier="probe-pub"
            ) as probe:
                no_delay(probe)
                # Warm-up callout: first use of AT+CTSDS, caches, SQLite pages.
                await sys_.dispatch.callout(
                    callout_id="warm",
                    incident_id="I-warm",
                    units=[{"issi": spare, "role": "ambulance"}],
                    text=TEXT,
                )
                await sys_.dispatch.wait_for(lambda: bool(sys_.dispatch.finals("warm")), 30, "warm")
                start = time.monotonic() + 0.1
                for n in range(count):
                    delay = start + n / rate - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    first_of_callout = FIRST_UNIT + n * per
                    published[first_of_callout] = time.time()
                    await sys_.dispatch.callout(
                        callout_id=f"L-{n}",
                        incident_id=f"I-L-{n}",
                        units=[
                            {"issi": first_of_callout + k, "role": _ROLES[min(k, 1)]}
                            for k in range(per)
                        ],
                        text=TEXT,
                    )
                    probe_sent[n] = time.time()
                    await probe.publish("bench/probe", str(n).encode(), qos=1)

            def final(n: int) -> bool:
                return len(sys_.dispatch.finals(f"L-{n}")) == per

            with contextlib.suppress(TimeoutError):
                await sys_.dispatch.wait_for(
                    lambda: all(final(n) for n in range(count)), DRAIN_S, "every callout final"
                )
            unfinished = sum(1 for n in range(count) if not final(n))
            await asyncio.sleep(0.2)
            first_byte: dict[int, float] = {}  # by the callout's first unit
            for radio in ("gw1", "gw2"):
                for read in sys_.emulator.get(f"/radios/{radio}/rx-log"):
                    match = _CMGS.match(read["head"])
                    if not match:
                        continue
                    callout = FIRST_UNIT + (int(match.group(1)) - FIRST_UNIT) // per * per
                    if callout in published:
                        first_byte[callout] = min(first_byte.get(callout, math.inf), read["at"])
        finally:
            subscriber.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await subscriber
    # A callout whose first AT byte never came counts as infinitely late (p99 honest).
    added = [
        (first_byte[i] - published[i]) * 1e3 if i in first_byte else math.inf for i in published
    ]
    broker = [(probe_received[n] - probe_sent[n]) * 1e3 for n in probe_sent if n in probe_received]
    added_p99, broker_p99 = percentile(added, 0.99), percentile(broker, 0.99)
    return {
        "rate_per_s": rate,
        "units_per_callout": per,
        "callouts": count,
        "matched": len(first_byte),
        "not_final": unfinished,
        "added_p50_ms": round(percentile(added, 0.5), 2),
        "added_p99_ms": round(added_p99, 2),
        "added_max_ms": round(max(added), 2),
        "added_series_ms": [round(a) for a in added[:: max(1, count // 25)]],
        "mosquitto_p50_ms": round(percentile(broker, 0.5), 2),
        "mosquitto_p99_ms": round(broker_p99, 2),
        "probes": len(broker),
        "ratio_p99": round(added_p99 / broker_p99, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--units-per-callout", type=int, default=1)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(measure(args.rate, args.seconds, args.units_per_callout))))


if __name__ == "__main__":
    main()
