"""Many units: status and position traffic through the gateway, gateway RSS and relay latency.

``python -m benchmarks.scale [--units 100 5000] [--rate 1000] [--seconds 5] [--per-message]``

The system of ``benchmarks/rig.py`` with four unpaced radios and silent units. First
``incidents`` single-unit callouts open as many incidents (200 for 5,000 units; for fewer
units, one per two units). Then the units send, alternately, a status (``en_route`` /
``on_scene`` of the default table, and operator values it does not name: ``STATUSES``) and a
LIP position, through the emulator's control API at ``--rate`` messages per second for
``--seconds``: every 5 ms the messages then due go in one ``POST /units/traffic`` (with
``--per-message``, one ``POST /units/<issi>/status|position`` each, keep-alive HTTP, at most
64 in flight: the rig before batching, which cost its client and the emulator about one of
the two cores at 1,000/s). Relay latency = the wall-clock time just before the
POST (the unit sends) → the event at dispatch (``units/<issi>/status|position``); a message
not relayed within ``DRAIN_S`` after the last send counts as missing. Printed per unit
count: the offered and achieved send rate, relayed count, p50/p99 latency, gateway peak RSS
(``/proc/<pid>/status``, sampled every 0.2 s) and gateway CPU per status/position relayed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import time
from typing import Any

import aiohttp

from benchmarks.rig import NewMessages, System, cpu_seconds, percentile, rss_bytes, system

FIRST_UNIT = 2040000
DRAIN_S = 30.0
#: en_route / on_scene of the default table, then operator values it does not name (relayed
#: with meaning null). 64 values so that no unit repeats one within the radio pool's 5 s
#: duplicate window (hardware/pool.py): with two values the 100-unit run had most of its
#: statuses dropped there as repeats and did about half the work of the 5,000-unit run.
STATUSES = (0x8002, 0x8003, *range(0x8100, 0x813E))
MAX_IN_FLIGHT = 64
#: Batched driving (the default): one request per tick for the messages then due.
BATCH_TICK_S = 0.005
MAX_BATCHES_IN_FLIGHT = 4


async def _open_incidents(sys_: System, count: int) -> None:
    for n in range(count):
        await sys_.dispatch.callout(
            callout_id=f"S-{n}",
            incident_id=f"INC-S-{n}",
            units=[{"issi": FIRST_UNIT + n, "role": "ambulance"}],
            text="Utalarmering: Brystsmerter, Kirkeveien 5.",
            deadline_s=600,
        )
    await sys_.dispatch.wait_for(
        lambda: all(sys_.dispatch.finals(f"S-{n}") for n in range(count)),
        60 + count * 0.2,
        "incident callouts final",
    )


def _unit_message(n: int, units: int) -> tuple[int, int | None, float | None]:
    """Message ``n`` of a run: ``(issi, status, None)`` or ``(issi, None, latitude)``.

    Spread over every unit; statuses and positions alternate. Each position has a latitude
    of its own (LIP resolves ~1.1e-5 degrees), so the event at dispatch names its send.
    """
    issi = FIRST_UNIT + (n * 7919) % units
    if n % 2:
        return issi, None, round(59.0 + n * 3e-5, 5)
    return issi, STATUSES[(n // 2) % len(STATUSES)], None


async def _drive(
    sys_: System, units: int, rate: float, seconds: float, sent: dict[tuple[int, float], float]
) -> tuple[int, float]:
    """Send ``rate`` messages/s for ``seconds``; (count sent, seconds it took)."""
    count = int(rate * seconds)
    gate = asyncio.Semaphore(MAX_IN_FLIGHT)
    connector = aiohttp.TCPConnector(limit=MAX_IN_FLIGHT)
    async with aiohttp.ClientSession(sys_.emulator.control, connector=connector) as http:

        async def one(n: int) -> None:
            issi, status, lat = _unit_message(n, units)
            body: dict[str, float | int | None]
            if lat is not None:
                path, body = f"/units/{issi}/position", {"lat": lat, "lon": 10.7}
                sent[issi, lat] = time.time()
            else:
                path, body = f"/units/{issi}/status", {"value": status}
            async with http.post(path, json=body) as reply:
                reply.raise_for_status()
            gate.release()

        tasks = []
        started = time.monotonic()
        for n in range(count):
            delay = started + n / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            await gate.acquire()
            tasks.append(asyncio.create_task(one(n)))
        await asyncio.gather(*tasks)
        return count, time.monotonic() - started


async def _drive_batched(
    sys_: System, units: int, rate: float, seconds: float, sent: dict[tuple[int, float], float]
) -> tuple[int, float]:
    """As :func:`_drive`, but every ``BATCH_TICK_S`` the messages then due go in one
    ``POST /units/traffic`` (at most ``MAX_BATCHES_IN_FLIGHT`` at once): one request per
    message cost the benchmark client and the emulator ~1 core of the 2 at 1,000/s."""
    count = int(rate * seconds)
    gate = asyncio.Semaphore(MAX_BATCHES_IN_FLIGHT)
    async with aiohttp.ClientSession(sys_.emulator.control) as http:

        async def post(first: int, last: int) -> None:
            messages: list[dict[str, Any]] = []
            now = time.time()
            for n in range(first, last):
                issi, status, lat = _unit_message(n, units)
                if lat is not None:
                    messages.append({"issi": issi, "lat": lat, "lon": 10.7})
                    sent[issi, lat] = now
                else:
                    messages.append({"issi": issi, "status": status})
            async with http.post("/units/traffic", json={"messages": messages}) as reply:
                reply.raise_for_status()
            gate.release()

        tasks = []
        started = time.monotonic()
        n = 0
        while n < count:
            due = min(count, int((time.monotonic() - started) * rate) + 1)
            if due > n:
                await gate.acquire()
                tasks.append(asyncio.create_task(post(n, due)))
                n = due
            await asyncio.sleep(BATCH_TICK_S)
        await asyncio.gather(*tasks)
        return count, time.monotonic() - started


async def _sample_rss(pid: int, peak: list[int]) -> None:
    while True:
        peak[0] = max(peak[0], rss_bytes(pid))
        await asyncio.sleep(0.2)


async def measure(
    units: int, rate: float, seconds: float, *, per_message: bool = False
) -> dict[str, Any]:
    incidents = min(200, units // 2)
    async with system(radios=4, units=f"{FIRST_UNIT}-{FIRST_UNIT + units - 1}", baud=0) as sys_:
        pid = sys_.gateway_pid
        peak = [rss_bytes(pid)]
        sampler = asyncio.create_task(_sample_rss(pid, peak))
        await _open_incidents(sys_, incidents)
        sent: dict[tuple[int, float], float] = {}
        mark = len(sys_.dispatch.messages)
        cpu_before = cpu_seconds(pid)
        drive = _drive if per_message else _drive_batched
        count, took = await drive(sys_, units, rate, seconds, sent)

        new_messages = NewMessages(sys_.dispatch, start=mark)
        found: list[tuple[float, float]] = []  # (latency ms, latitude) per relayed position
        arrived: set[float] = set()  # their latitudes

        def read_positions() -> None:
            """Note each newly received position event that names a send of this run."""
            for message in new_messages():
                if not message.topic.endswith("/position"):
                    continue
                lat = message.payload.get("lat")
                issi = message.payload.get("issi")
                if not isinstance(lat, float) or not isinstance(issi, int):
                    continue
                for candidate in (round(lat, 5), round(lat + 1e-5, 5), round(lat - 1e-5, 5)):
                    at = sent.get((issi, candidate))
                    if at is not None:
                        found.append(((sys_.wall(message.at) - at) * 1e3, candidate))
                        arrived.add(candidate)
                        break

        last = max(sent.values())
        # Drained when the newest position of every unit has arrived (older ones of the same
        # unit may be conflated: the outbox keeps only the latest retained value per topic).
        newest: dict[int, float] = {}
        for (issi, lat), at in sent.items():
            if at >= newest.get(issi, 0.0):
                newest[issi] = lat
        awaited = set(newest.values())

        def drained() -> bool:
            read_positions()
            return arrived >= awaited

        with contextlib.suppress(TimeoutError):
            await sys_.dispatch.wait_for(
                drained, DRAIN_S, "the newest position of every unit relayed"
            )
        drained_s = time.time() - last
        cpu = cpu_seconds(pid) - cpu_before
        sampler.cancel()
        read_positions()
        latencies = [ms for ms, _ in found]
        # Mosquitto drops QoS 1 messages for a subscriber whose queue is full
        # (max_queued_messages, 1000): the benchmark's own dispatch client, when the 2 cores
        # are saturated. Such a run's missing positions and tail are the rig's, not the gateway's.
        rig_dropped = "Outgoing messages are being dropped" in sys_.broker.log()
    return {
        "units": units,
        "incidents": incidents,
        "driven": "one request per message" if per_message else "batched requests",
        "offered_per_s": rate,
        "sent": count,
        "achieved_send_per_s": round(count / took, 1),
        "positions_sent": len(sent),
        "positions_relayed": len(latencies),
        "drained_after_s": round(drained_s, 2),
        "broker_dropped_for_dispatch": rig_dropped,
        "relay_p50_ms": round(percentile(latencies, 0.5), 1),
        "relay_p99_ms": round(percentile(latencies, 0.99), 1),
        # The worst of each twenty-fifth of the positions, in arrival order: where the tail is.
        "relay_series_max_ms": [
            round(max(latencies[n : n + max(1, len(latencies) // 25)]))
            for n in range(0, len(latencies), max(1, len(latencies) // 25))
        ],
        "gateway_peak_rss_mb": round(peak[0] / 2**20, 1),
        "cpu_us_per_message_sent": round(cpu / count * 1e6, 1),
    }


async def run(
    unit_counts: list[int], rate: float, seconds: float, *, per_message: bool = False
) -> list[dict[str, Any]]:
    rows = []
    for units in unit_counts:
        row = await measure(units, rate, seconds, per_message=per_message)
        print(json.dumps(row), flush=True)
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, nargs="*", default=[100, 5000])
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument(
        "--per-message",
        action="store_true",
        help="one control-API request per message (the rig before batching; costs ~1 core)",
    )
    args = parser.parse_args()
    asyncio.run(run(args.units, args.rate, args.seconds, per_message=args.per_message))


if __name__ == "__main__":
    main()
