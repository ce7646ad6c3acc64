"""What MQTT alone costs per message, on this machine: a floor under ``cpu_us_per_message``.

``python -m benchmarks.floor [--callouts 250] [--callout-rate 50] [--relays 5000]
[--relay-rate 1000]``

Not the gateway: a process that does only the MQTT side of what the gateway must do per
message, with the library the gateway uses (aiomqtt over paho, MQTT 5, QoS 1, Mosquitto on
loopback), measured by its own CPU time (``/proc``):

- ``callout``: receive one QoS 1 message (a callout's JSON) and publish five QoS 1 events
  of ~200 bytes (a single-unit callout's ``accepted``, ``sent``, ``delivered`` and two
  timelines), taking the broker's PUBACKs; inputs paced at ``--callout-rate``.
- ``relay``: publish one QoS 1 event per message (a status or position), ``--relay-rate``
  per second, in ticks of 5 ms, taking the PUBACKs.

No JSON parsing, validation, store, audit, radio or logging: only the socket I/O and MQTT
framing that the dispatch contract requires. Publications go through ``paho.publish``, as
the gateway's outbox does. The targets of ``cpu_us_per_message`` (1 % of the wire time at
115200 baud: 222 µs per SDS, 36 µs per status) can be compared with these figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiomqtt

from benchmarks.rig import cpu_seconds
from tests.integration.mosquitto import MosquittoBroker, find_mosquitto

#: A callout as dispatch publishes it (the throughput benchmark's).
CALLOUT = json.dumps(
    {
        "incident_id": "I-floor",
        "units": [{"issi": 2040101, "role": "ambulance"}],
        "text": "Utalarmering: Hjertestans, Storgata 12, 0155 Oslo. Inngang bak. Prio 1.",
        "deadline_s": 300,
    }
).encode()
#: An event of about the size of the gateway's (``delivered`` of a single-unit callout).
EVENT = json.dumps(
    {
        "callout_id": "floor-000000",
        "incident_id": "I-floor",
        "event": "delivered",
        "at": "2026-11-22T06:00:00.000Z",
        "issi": 2040101,
        "attempt": 1,
        "radio": "gw1",
        "message_references": [17],
        "gateway_id": "floor",
    }
).encode()
EVENTS_PER_CALLOUT = 5
TICK_S = 0.005


async def _worker(host: str, port: int, relays: int, relay_rate: float) -> None:
    """The measured process: answer each ``floor/in`` with five events; on ``floor/go``
    publish ``relays`` events at ``relay_rate``."""
    async with aiomqtt.Client(
        host, port, protocol=aiomqtt.ProtocolVersion.V5, identifier=f"floor-{os.getpid()}"
    ) as client:
        paho = client._client  # the gateway's outbox publishes through paho the same way
        await client.subscribe("floor/in", qos=1)
        await client.subscribe("floor/go", qos=1)
        print("ready", flush=True)
        loop = asyncio.get_running_loop()
        async for message in client.messages:
            if message.topic.matches("floor/go"):
                started, sent = loop.time(), 0
                while sent < relays:
                    due = min(relays, int((loop.time() - started) * relay_rate) + 1)
                    for n in range(sent, due):
                        paho.publish(f"floor/relay/{n % 5000}", EVENT, 1)
                    sent = due
                    await asyncio.sleep(TICK_S)
                continue
            for k in range(EVENTS_PER_CALLOUT):
                paho.publish(f"floor/callout/{k}", EVENT, 1)


async def _count(client: aiomqtt.Client, prefix: str, wanted: int, limit_s: float) -> None:
    got = 0
    async with asyncio.timeout(limit_s):
        async for message in client.messages:
            if str(message.topic).startswith(prefix):
                got += 1
                if got == wanted:
                    return


async def measure(
    callouts: int = 250, callout_rate: float = 50.0, relays: int = 5000, relay_rate: float = 1000.0
) -> dict[str, Any]:
    find_mosquitto()
    with tempfile.TemporaryDirectory(prefix="tetragw-floor-") as tmp:
        broker = MosquittoBroker(workdir=Path(tmp))
        broker.start()
        worker = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "benchmarks.floor",
            "--worker",
            broker.host,
            str(broker.port),
            str(relays),
            str(relay_rate),
            stdout=asyncio.subprocess.PIPE,
        )
        try:
            assert worker.stdout is not None
            async with asyncio.timeout(30):
                assert (await worker.stdout.readline()).strip() == b"ready"
            async with aiomqtt.Client(
                broker.host, broker.port, protocol=aiomqtt.ProtocolVersion.V5
            ) as client:
                await client.subscribe("floor/#", qos=1)
                # Callouts: the inputs paced, the five events of each counted at the driver.
                before = cpu_seconds(worker.pid)
                started = time.monotonic()
                counting = asyncio.create_task(
                    _count(client, "floor/callout/", callouts * EVENTS_PER_CALLOUT, 120)
                )
                for n in range(callouts):
                    await asyncio.sleep(max(0.0, started + n / callout_rate - time.monotonic()))
                    await client.publish("floor/in", CALLOUT, qos=1)
                await counting
                await asyncio.sleep(0.5)  # the last PUBACKs
                callout_cpu = cpu_seconds(worker.pid) - before
                # Relays: the worker paces itself.
                before = cpu_seconds(worker.pid)
                counting = asyncio.create_task(_count(client, "floor/relay/", relays, 120))
                await client.publish("floor/go", b"", qos=1)
                await counting
                await asyncio.sleep(0.5)
                relay_cpu = cpu_seconds(worker.pid) - before
        finally:
            worker.kill()
            await worker.wait()
            broker.stop()
    return {
        "library": f"aiomqtt {aiomqtt.__version__} (paho), MQTT 5, QoS 1",
        "callouts": callouts,
        "callout_rate_per_s": callout_rate,
        "mqtt_cpu_us_per_callout": round(callout_cpu / callouts * 1e6, 1),
        "relays": relays,
        "relay_rate_per_s": relay_rate,
        "mqtt_cpu_us_per_relayed_message": round(relay_cpu / relays * 1e6, 1),
    }


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        host, port, relays, rate = sys.argv[2:6]
        asyncio.run(_worker(host, int(port), int(relays), float(rate)))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--callouts", type=int, default=250)
    parser.add_argument("--callout-rate", type=float, default=50.0)
    parser.add_argument("--relays", type=int, default=5000)
    parser.add_argument("--relay-rate", type=float, default=1000.0)
    args = parser.parse_args()
    result = asyncio.run(measure(args.callouts, args.callout_rate, args.relays, args.relay_rate))
    print(json.dumps(result))


if __name__ == "__main__":
    main()
