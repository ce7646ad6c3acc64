"""The emulator as a whole: composition, ready file, command line (`tetragw emulator`).

`Emulator` wires the SwMI, the gateway terminals, the field units, the DGNA service and the
control API; ``async with Emulator(scenario) as emulator:`` runs it in-process (tests).
`main(argv)` is the command line; ``gateway/cmd_emulator.py`` only adds `add_arguments`
to its subparser and calls `run_from_args`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import Any

from aiohttp import web

from hardware.emulator.control_api import ControlApi
from hardware.emulator.dgna import DgnaService
from hardware.emulator.faults import FaultRequest, RandomFaults
from hardware.emulator.network import Swmi
from hardware.emulator.scenario import (
    BEHAVIOURS,
    NetworkSettings,
    Scenario,
    ScenarioError,
    load_scenario,
    quick_scenario,
    with_network,
)
from hardware.emulator.status_table import (
    CALLOUT_SEQUENCE,
    callout_status_values,
    load_status_table,
)
from hardware.emulator.terminal import GatewayTerminal
from hardware.emulator.units import FieldUnit
from hardware.emulator.vendors import VENDORS


def write_ready_file(path: Path, info: dict[str, Any]) -> None:
    """Write ``info`` as JSON to ``path`` atomically (a temporary file, then rename)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)


class Emulator:
    """A virtual TETRA network: start it, read `ready_info`, drive it, stop it."""

    def __init__(
        self, scenario: Scenario, *, control_port: int = 0, ready_file: Path | None = None
    ) -> None:
        self.scenario = scenario
        self.ready_file = ready_file
        self.control_port = control_port
        settings = scenario.network
        self.swmi = Swmi(settings)
        values = callout_status_values(load_status_table(settings.status_table))
        sequence = tuple(zip(CALLOUT_SEQUENCE, values, strict=True))
        self.terminals = [
            GatewayTerminal(spec, self.swmi, settings.baud, self._path_changed)
            for spec in scenario.radios
        ]
        for terminal in self.terminals:
            self.swmi.add_terminal(terminal)
        for spec in scenario.units:
            self.swmi.add_unit(FieldUnit(spec, self.swmi, sequence, scenario.incident))
        self.dgna = DgnaService(self.swmi)
        self.api = ControlApi(self)
        self._runner: web.AppRunner | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self.fault_log: list[dict[str, Any]] = []

    @property
    def control_url(self) -> str:
        """``http://127.0.0.1:<port>`` of the control API."""
        return f"http://127.0.0.1:{self.control_port}"

    def terminal(self, name: str) -> GatewayTerminal | None:
        """The gateway terminal called ``name``."""
        return next((t for t in self.terminals if t.name == name), None)

    def ready_info(self) -> dict[str, Any]:
        """What the ready file holds."""
        return {
            "radios": [
                {"name": t.name, "issi": t.issi, "device": t.pty.path, "url": t.tcp.url}
                for t in self.terminals
            ],
            "control": self.control_url,
        }

    async def start(self) -> None:
        """Open every endpoint; then write the ready file."""
        for terminal in self.terminals:
            await terminal.start()
        self._runner = web.AppRunner(self.api.app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.control_port)
        await site.start()
        server = site._server
        assert isinstance(server, asyncio.Server)
        self.control_port = server.sockets[0].getsockname()[1]
        loop = asyncio.get_running_loop()
        for fault in self.scenario.faults:
            target = self.terminal(fault.radio)
            assert target is not None  # the scenario checked the name
            request = FaultRequest(fault.kind, fault.duration_s, fault.count)
            self.swmi.schedule(fault.at_s, target.apply_fault, request)
        if self.scenario.network.random_faults_per_min > 0:
            self._tasks.append(loop.create_task(self._random_faults()))
        if self.ready_file is not None:
            write_ready_file(self.ready_file, self.ready_info())

    def _path_changed(self, _: str) -> None:
        if self.ready_file is not None:
            write_ready_file(self.ready_file, self.ready_info())

    async def _random_faults(self) -> None:
        settings = self.scenario.network
        faults = RandomFaults(settings.random_faults_per_min, settings.seed)
        names = [t.name for t in self.terminals]
        while True:
            await asyncio.sleep(faults.next_delay())
            target_kind, target, request = faults.draw(names, list(self.swmi.units))
            self.fault_log.append(
                {"target": target, "kind": request.kind, "duration_s": request.duration}
            )
            if target_kind == "unit":
                unit = self.swmi.units[int(target)]
                unit.set_coverage(False)
                self.swmi.schedule(request.duration, unit.set_coverage, True)
            else:
                terminal = self.terminal(str(target))
                if terminal is not None:
                    terminal.apply_fault(request)

    async def stop(self) -> None:
        """Close everything."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.swmi.cancel_all()
        self.dgna.cancel()
        for unit in self.swmi.units.values():
            unit.cancel()
        for terminal in self.terminals:
            await terminal.stop()
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> Emulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()


# -- command line ------------------------------------------------------------------------
def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of ``tetragw emulator`` (docs/emulator.md)."""
    parser.add_argument("--scenario", type=Path, help="scenario file (TOML)")
    parser.add_argument("--radios", type=int, default=1, help="gateway terminals (default 1)")
    parser.add_argument("--units", default="2040101-2040110", help="ISSI range A-B of field units")
    parser.add_argument("--behaviour", choices=BEHAVIOURS, default="responsive")
    parser.add_argument("--vendor", choices=sorted(VENDORS), default="generic")
    parser.add_argument("--baud", type=int, help="pace PEI bytes at this rate (0 = unpaced)")
    parser.add_argument("--seed", type=int, help="seed of every random choice")
    parser.add_argument("--time-scale", type=float, help="stretch unit behaviour (default 1)")
    parser.add_argument("--sds-delay-ms", type=float, help="air delay per SDS (default 50)")
    parser.add_argument("--random-faults", type=float, help="random faults per minute")
    parser.add_argument("--ready-file", type=Path, help="write endpoints here once listening")
    parser.add_argument("--control-port", type=int, default=0, help="control API port (0 = any)")


def _unit_range(text: str) -> tuple[int, int]:
    first, sep, last = text.partition("-")
    try:
        return (int(first), int(last)) if sep else (int(first), int(first))
    except ValueError:
        raise ScenarioError(f"--units: {text!r} is not a range A-B of ISSIs") from None


def scenario_from_args(args: argparse.Namespace) -> Scenario:
    """The scenario file (or the quick flags), with command-line overrides applied."""
    overrides = {
        "baud": args.baud,
        "seed": args.seed,
        "time_scale": args.time_scale,
        "sds_delay_ms": args.sds_delay_ms,
        "random_faults_per_min": args.random_faults,
    }
    changes = {k: v for k, v in overrides.items() if v is not None}
    if args.scenario is None:
        return quick_scenario(
            radios=args.radios,
            units=_unit_range(args.units),
            behaviour=args.behaviour,
            vendor=args.vendor,
            network=replace(NetworkSettings(), **changes),
        )
    try:
        scenario = load_scenario(args.scenario.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ScenarioError(f"--scenario: cannot read {args.scenario}: {exc}") from None
    return with_network(scenario, **changes)


async def serve(emulator: Emulator) -> None:
    """Run until SIGTERM or SIGINT."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with emulator:
            print(json.dumps(emulator.ready_info()), flush=True)  # noqa: T201 - the CLI's output
            await stop.wait()
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


def run_from_args(args: argparse.Namespace) -> int:
    """Run the emulator of parsed arguments; 0 on a clean stop, 2 on a bad scenario."""
    try:
        scenario = scenario_from_args(args)
        asyncio.run(_run(scenario, control_port=args.control_port, ready_file=args.ready_file))
    except (ScenarioError, KeyError, FileNotFoundError) as exc:
        print(f"tetragw emulator: {exc}", file=sys.stderr)  # noqa: T201
        return 2
    return 0


async def _run(scenario: Scenario, *, control_port: int, ready_file: Path | None) -> None:
    await serve(Emulator(scenario, control_port=control_port, ready_file=ready_file))


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m hardware.emulator``: the same flags as ``tetragw emulator``."""
    parser = argparse.ArgumentParser(prog="emulator", description="A virtual TETRA network.")
    add_arguments(parser)
    return run_from_args(parser.parse_args(argv))
