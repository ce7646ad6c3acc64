"""The whole system for the benchmarks: Mosquitto, the emulator, the gateway and dispatch.

Reuses the integration harness (``tests/integration/system.py``, ``mosquitto.py``): every part
is its own process on loopback, the gateway is ``tetragw run`` exactly as deployed (default
log level, ``synchronous=FULL`` store), and "dispatch" is an MQTT client recording events.
Also the /proc readers (CPU time, RSS) and the percentile used by every benchmark.
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.integration.mosquitto import MosquittoBroker, find_mosquitto
from tests.integration.system import ROOT, Dispatch, EmulatorProcess, GatewayProcess, Received

__all__ = ["ROOT", "NewMessages", "System", "cpu_seconds", "percentile", "rss_bytes", "system"]

_TICKS = os.sysconf("SC_CLK_TCK")
#: The defaults, except the per-client callout rate limit: the benchmarks are the flood it
#: guards against (one CAD client publishing hundreds of callouts a minute).
CONFIG = "[limits]\ncallouts_per_minute_per_client = 100000\n"
#: time.time() - time.monotonic(): turns Dispatch's receive times into wall-clock times.
WALL_OFFSET = time.time() - time.monotonic()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` (``/proc/<pid>/stat`` utime + stime)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


def cpu_split(pid: int) -> tuple[float, float]:
    """``(user, system)`` CPU seconds of ``pid``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) / _TICKS, int(fields[12]) / _TICKS


def rss_bytes(pid: int) -> int:
    """Resident set size of ``pid`` (``VmRSS`` of ``/proc/<pid>/status``)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


class NewMessages:
    """The messages ``dispatch`` received since the last call (from ``start`` on the first),
    each once. A wait condition that rescanned every message on every message was quadratic,
    and ran on the gateway's two cores: it cost the throughput benchmark ~0.6 of a core and
    was the whole p99 tail of the scale benchmark (docs/performance.md, fixes 19 and 21)."""

    def __init__(self, dispatch: Dispatch, start: int = 0) -> None:
        self._messages = dispatch.messages
        self._read = start

    def __call__(self) -> list[Received]:
        new = self._messages[self._read :]
        self._read += len(new)
        return new


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0..1) by nearest rank; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


@dataclass
class System:
    """A running system; ``gateway.process.pid`` is the gateway for /proc readings."""

    workdir: Path
    broker: MosquittoBroker
    emulator: EmulatorProcess
    gateway: GatewayProcess
    dispatch: Dispatch

    @property
    def gateway_pid(self) -> int:
        assert self.gateway.process is not None
        return self.gateway.process.pid

    def wall(self, monotonic: float) -> float:
        """A Dispatch receive time (monotonic) as wall-clock seconds."""
        return monotonic + WALL_OFFSET


@asynccontextmanager
async def system(
    *,
    radios: int,
    units: str,
    baud: int,
    behaviour: str = "silent",
    emulator_args: Sequence[str] = (),
    gateway_id: str = "bench",
) -> AsyncIterator[System]:
    """Start broker, emulator (``--baud``), gateway on every radio, dispatch; stop them after."""
    find_mosquitto()
    with tempfile.TemporaryDirectory(prefix="tetragw-bench-") as tmp:
        workdir = Path(tmp)
        broker = MosquittoBroker(workdir=workdir)
        broker.start()
        emulator = EmulatorProcess(
            workdir,
            "--radios",
            str(radios),
            "--units",
            units,
            "--behaviour",
            behaviour,
            "--baud",
            str(baud),
            *emulator_args,
        )
        gateway: GatewayProcess | None = None
        try:
            emulator.start()
            config = workdir / "bench.toml"
            config.write_text(CONFIG)
            gateway = GatewayProcess(
                workdir,
                broker_url=broker.url,
                radios=[emulator.radio_url(f"gw{i + 1}") for i in range(radios)],
                gateway_id=gateway_id,
                config=config,
            )
            async with Dispatch(broker.host, broker.port) as dispatch:
                gateway.start()
                await dispatch.wait_online(gateway_id, timeout=30)
                yield System(workdir, broker, emulator, gateway, dispatch)
        finally:
            if gateway is not None:
                gateway.stop()
            emulator.stop()
            broker.stop()
