"""Time to ready: ``tetragw run`` process start → retained ``online`` health with radios up.

``python -m benchmarks.startup [--runs 3]``

Mosquitto and the emulator (two radios, 115200 baud) are already running and dispatch is
subscribed; each run starts a gateway with a fresh gateway id and data directory and measures
from just before ``Popen`` to the arrival at dispatch of its health message with
``state = online`` and every radio ``up`` (the interpreter's start-up and imports included).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from typing import Any

from benchmarks.rig import CONFIG, system
from tests.integration.system import GatewayProcess


async def measure(runs: int) -> dict[str, Any]:
    seconds = []
    async with system(radios=2, units="2040101-2040110", baud=115200, gateway_id="warm") as sys_:
        sys_.gateway.stop()  # the rig's own gateway would share the radios
        config = sys_.workdir / "startup.toml"
        config.write_text(CONFIG)
        for n in range(runs):
            gateway = GatewayProcess(
                sys_.workdir,
                broker_url=sys_.broker.url,
                radios=[sys_.emulator.radio_url("gw1"), sys_.emulator.radio_url("gw2")],
                gateway_id=f"start-{n}",
                config=config,
            )
            started = time.monotonic()
            gateway.start()
            try:
                await sys_.dispatch.wait_online(gateway.gateway_id, timeout=30)
                online = next(
                    m.at
                    for m in sys_.dispatch.messages
                    if m.topic.endswith(f"/gateway/{gateway.gateway_id}/health")
                    and m.payload.get("state") == "online"
                    and all(r.get("state") == "up" for r in m.payload.get("radios", []))
                )
                seconds.append(online - started)
            finally:
                gateway.stop()
    return {
        "runs": runs,
        "seconds": [round(s, 3) for s in seconds],
        "median_s": round(statistics.median(seconds), 3),
        "max_s": round(max(seconds), 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(measure(args.runs))))


if __name__ == "__main__":
    main()
