"""Load on the emulator: 4 gateway terminals, 50 field units, ~30 s.

Run: ``python -m benchmarks.emulator_load [--duration S]``.

The emulator runs as its own process (as in integration tests) at time scale 1, 38400 baud
paced, 50 ms air delay. Four gateway-like clients (TCP, one per terminal) initialise,
register, and send every unit a callout twice (at the start and after 15 s); units answer
with reports, four statuses and LIP positions. Printed: the emulator process's CPU time
and peak RSS (from /proc), its scheduler lag (``GET /timing``: how late units' timers
fired), and what the clients received.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from protocols.pei.commands import send_sds
from protocols.pei.events import CmeError, Error, Ok, SdsReceived
from protocols.pei.parser import PeiParser
from protocols.sds.text import build_text_transfers

FINAL = (Ok, Error, CmeError)
INIT = (
    b"ATE0\r",
    b"AT+CTSP=1,2,20\r",
    b"AT+CTSP=1,3,130\r",
    b"AT+CTSP=1,3,10\r",
    b"AT+CTSDS=12,0\r",
)


class Gateway:
    """A minimal gateway: one command in flight, every indication counted."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.parser = PeiParser("dte")
        self.finals: asyncio.Queue[object] = asyncio.Queue()
        self.indications = {"status": 0, "report": 0, "lip": 0}
        self.command_times: list[float] = []

    async def run(self, units: list[int], duration: float, rounds: int) -> None:
        host, port = self.url.removeprefix("socket://").rsplit(":", 1)
        reader, self.writer = await asyncio.open_connection(host, int(port))
        pump = asyncio.create_task(self._pump(reader))
        try:
            for _ in range(5):  # until the stale error is gone
                if isinstance(await self.command(b"AT\r"), Ok):
                    break
            for line in INIT:
                await self.command(line)
            reference = 0
            loop = asyncio.get_running_loop()
            start = loop.time()
            for round_ in range(rounds):
                for issi in units:
                    reference = reference % 255 + 1
                    (transfer,) = build_text_transfers(
                        f"Oppdrag {round_}: brystsmerter, Storgata {issi % 100}", [reference]
                    )
                    await self.command(send_sds(issi, transfer.encode()))
                await asyncio.sleep(
                    max(0.0, start + (round_ + 1) * duration / rounds - loop.time())
                )
        finally:
            pump.cancel()
            self.writer.close()

    async def command(self, data: bytes) -> object:
        sent = time.perf_counter()
        self.writer.write(data)
        final = await asyncio.wait_for(self.finals.get(), 10)
        self.command_times.append(time.perf_counter() - sent)
        return final

    async def _pump(self, reader: asyncio.StreamReader) -> None:
        while data := await reader.read(4096):
            for event in self.parser.feed(data):
                if isinstance(event, FINAL):
                    self.finals.put_nowait(event)
                elif isinstance(event, SdsReceived):
                    if event.ai_service == 13:
                        self.indications["status"] += 1
                    elif event.payload[:1] == b"\x0a":
                        self.indications["lip"] += 1
                    else:
                        self.indications["report"] += 1


def proc_figures(pid: int) -> tuple[float, int]:
    """CPU seconds (user+system) and peak RSS in kB of a process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks
    status = Path(f"/proc/{pid}/status").read_text()
    rss = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM"))
    return cpu, rss


async def drive(info: dict[str, object], duration: float) -> tuple[list[Gateway], float]:
    """Run the four gateways for ``duration`` seconds; the gateways and the wall time."""
    radios = info["radios"]
    assert isinstance(radios, list)
    units = list(range(2040101, 2040151))
    gateways = [Gateway(r["url"]) for r in radios]
    wall = time.perf_counter()
    await asyncio.gather(*(g.run(units[i::4], duration / 2, 2) for i, g in enumerate(gateways)))
    await asyncio.sleep(max(0.0, duration - (time.perf_counter() - wall)))
    return gateways, time.perf_counter() - wall


def main(duration: float) -> None:
    """Start the emulator process, load it, print the figures."""
    with tempfile.TemporaryDirectory() as tmp:
        ready = Path(tmp) / "ready.json"
        command = [
            sys.executable,
            "-m",
            "hardware.emulator",
            "--radios",
            "4",
            "--units",
            "2040101-2040150",
            "--baud",
            "38400",
            "--seed",
            "1",
            "--sds-delay-ms",
            "50",
            "--ready-file",
            str(ready),
        ]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
        try:
            while not ready.exists():
                time.sleep(0.05)
            info = json.loads(ready.read_text())
            cpu_start, _ = proc_figures(process.pid)
            gateways, wall = asyncio.run(drive(info, duration))
            cpu_end, rss = proc_figures(process.pid)
            with urllib.request.urlopen(info["control"] + "/timing") as response:
                lag = json.load(response)
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(10)
    totals = {k: sum(g.indications[k] for g in gateways) for k in ("status", "report", "lip")}
    waits = sorted(t for g in gateways for t in g.command_times)
    cpu = cpu_end - cpu_start
    print(f"emulator load: 4 terminals, 50 units, {wall:.1f} s, 38400 baud, 2 callouts per unit")
    print(f"  emulator CPU time  {cpu:.2f} s ({cpu / wall:.1%} of one core)")
    print(f"  emulator peak RSS  {rss / 1024:.1f} MiB")
    print(
        f"  timer lag          mean {lag['mean_ms']:.2f} ms, max {lag['max_ms']:.2f} ms"
        f" over {lag['events']} events"
    )
    print(
        f"  command round trip median {waits[len(waits) // 2] * 1000:.1f} ms,"
        f" p90 {waits[int(len(waits) * 0.9)] * 1000:.1f} ms ({len(waits)} commands)"
    )
    print(
        f"  received           {totals['report']} reports, {totals['status']} statuses,"
        f" {totals['lip']} LIP reports"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=float, default=30.0)
    main(parser.parse_args().duration)
