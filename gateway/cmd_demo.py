"""``tetragw demo``: the one-command tour (cli-and-emulator.md).

It starts, on 127.0.0.1 only:

1. an embedded MQTT broker (:class:`gateway.broker.EmbeddedBroker`, in this process, free port);
2. the emulator (``tetragw emulator --scenario config/demo-scenario.toml``) as a child process;
3. the gateway (``tetragw run ... --radio emulator://READY#gw1 --radio ...#gw2``) as a child;

waits for the gateway's retained ``online`` health, publishes a scripted callout (an ambulance
and two first responders to a cardiac arrest), shows the units progressing live
(:mod:`gateway.demo_view`), closes the incident once every unit's mission has ended, and prints
the incident's retained timeline and the response-time figures of this run from the store.
The children's output goes to ``<data-dir>/emulator.log`` and ``<data-dir>/gateway.log``.

Children are stopped with SIGTERM, then killed after a grace period. Exit status: 0 when the
tour completed; 1 when something failed (a child died, no online health within
:data:`ONLINE_TIMEOUT_S`, the callout was rejected, the time limit passed); 130 on Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Final

from rich.console import Console
from rich.live import Live
from rich.text import Text

from gateway.cmd_report import (
    ReportError,
    kpi_table,
    open_reader,
    report_console,
    timeline_table,
)
from gateway.cmd_send import callout_payload, mqtt_client, payload_bytes
from gateway.config import resolve_shipped
from gateway.demo_view import DemoUnit, DemoView
from protocols.dispatch import CalloutRequest, IncidentClose, Topics

GATEWAY_ID: Final = "demo"
ROOT: Final = "tetragw"
ONLINE_TIMEOUT_S: Final = 20.0
READY_TIMEOUT_S: Final = 20.0
STOP_GRACE_S: Final = 10.0
CLOSE_WAIT_S: Final = 10.0
#: Callout deadline of the scripted incident (seconds; the contract's default).
DEADLINE_S: Final = 60

DEMO_UNITS: Final = (
    DemoUnit(2040101, "ambulance", "A-11"),
    DemoUnit(2047001, "first_responder", "FR-1"),
    DemoUnit(2047002, "first_responder", "FR-2"),
)
DEMO_TEXT: Final = (
    "HJERTESTANS. Storgata 1, 0155 Oslo, 3. etg. Mann 67 år, bevisstløs, puster ikke. "
    "HLR pågår av pårørende. Hjertestarter på vei. Prioritet 1A."
)


class DemoError(Exception):
    """The tour cannot go on; the message says what failed and where to look."""


def time_limit(time_scale: float) -> float:
    """How long the tour waits for every mission to end: the emulator's ~20 s sequence
    stretched by ``time_scale``, plus the callout deadline and room for start-up."""
    return DEADLINE_S + 40.0 * time_scale + 30.0


# -- child processes ---------------------------------------------------------------------


@dataclass
class Child:
    """A child process whose output goes to a log file."""

    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    log_file: IO[bytes]

    def exited(self) -> int | None:
        return self.process.poll()

    def describe_exit(self) -> str:
        tail = _tail(self.log_path, 6)
        return (
            f"the {self.name} exited with status {self.process.returncode}; "
            f"its log is {self.log_path}" + (f":\n{tail}" if tail else "")
        )


@dataclass
class Children:
    """The demo's child processes; stopped in reverse order of starting."""

    data_dir: Path
    running: list[Child] = field(default_factory=list)

    def start(self, name: str, argv: Sequence[str]) -> Child:
        log_path = self.data_dir / f"{name}.log"
        log_file = log_path.open("ab")
        # A session of its own: Ctrl-C in the terminal reaches the demo only, which then stops
        # the children in order (gateway first, so it can finish its outbox cleanly).
        process = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        child = Child(name, process, log_path, log_file)
        self.running.append(child)
        return child

    def check(self) -> None:
        """Raise :class:`DemoError` if a child has died."""
        for child in self.running:
            if child.exited() is not None:
                raise DemoError(child.describe_exit())

    async def stop_all(self) -> None:
        """SIGTERM each child (latest first), kill it after :data:`STOP_GRACE_S`."""
        while self.running:
            child = self.running.pop()
            if child.exited() is None:
                child.process.send_signal(signal.SIGTERM)
                try:
                    await asyncio.to_thread(child.process.wait, STOP_GRACE_S)
                except subprocess.TimeoutExpired:
                    child.process.kill()
                    await asyncio.to_thread(child.process.wait)
            child.log_file.close()


def _tail(path: Path, lines: int) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join("  " + line for line in text.splitlines()[-lines:])


def _tetragw(*args: str) -> list[str]:
    return [sys.executable, "-m", "gateway.cli", *args]


def gateway_config(broker_url: str) -> str:
    """The demo gateway's TOML: the embedded broker speaks MQTT 3.1.1 only."""
    return (
        "# Written by `tetragw demo`; the command line adds the radios and talk groups.\n"
        f'[gateway]\nid = "{GATEWAY_ID}"\ntopic_root = "{ROOT}"\n\n'
        f'[broker]\nurl = "{broker_url}"\nprotocol_version = "3.1.1"\n'
    )


def _read_ready(path: Path) -> dict[str, Any] | None:
    if not path.is_file():
        return None
    ready: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return ready


async def wait_for_ready_file(path: Path, emulator: Child) -> dict[str, Any]:
    """The emulator's ready file once written (it writes it atomically)."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if emulator.exited() is not None:
            raise DemoError(emulator.describe_exit())
        ready = _read_ready(path)
        if ready is not None:
            return ready
        await asyncio.sleep(0.05)
    raise DemoError(
        f"the emulator wrote no ready file within {READY_TIMEOUT_S:.0f} s; see {emulator.log_path}"
    )


# -- the tour ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DemoOptions:
    data_dir: Path
    time_scale: float = 1.0
    keep: bool = False


def demo_callout(incident_id: str) -> CalloutRequest:
    """The scripted callout, validated like any other."""
    return CalloutRequest.model_validate(
        {
            "callout_id": f"{incident_id}-1",
            "incident_id": incident_id,
            "priority": "1A",
            "units": [{"issi": u.issi, "role": u.role} for u in DEMO_UNITS],
            "text": DEMO_TEXT,
            "talkgroup": True,
            "deadline_s": DEADLINE_S,
        }
    )


async def run_demo(options: DemoOptions, console: Console) -> int:
    """The whole tour; raises :class:`DemoError` with a clear message when something fails."""
    data_dir = options.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    ready_file = data_dir / "emulator-ready.json"
    ready_file.unlink(missing_ok=True)
    started = time.time()
    incident_id = time.strftime("DEMO-%Y%m%d-%H%M%S", time.gmtime(started))
    request = demo_callout(incident_id)
    topics = Topics(ROOT)
    children = Children(data_dir)
    from gateway.broker import EmbeddedBroker  # amqtt is heavy: only the demo needs it here

    broker = EmbeddedBroker("127.0.0.1", 0)
    await broker.start()
    try:
        console.print(f"[bold]tetragw demo[/] — broker {broker.url}, logs in {data_dir}")
        emulator = children.start(
            "emulator",
            _tetragw(
                "emulator",
                "--scenario",
                str(resolve_shipped("config/demo-scenario.toml")),
                "--ready-file",
                str(ready_file),
                "--time-scale",
                str(options.time_scale),
            ),
        )
        ready = await wait_for_ready_file(ready_file, emulator)
        radios = ", ".join(str(radio.get("name")) for radio in ready.get("radios", []))
        console.print(f"emulator ready: radios {radios}, control API {ready.get('control')}")
        config_path = data_dir / "demo-gateway.toml"
        config_path.write_text(gateway_config(broker.url), encoding="utf-8")
        emulator_url = f"emulator://{ready_file}"
        children.start(
            "gateway",
            _tetragw(
                "run",
                "--config",
                str(config_path),
                "--broker",
                broker.url,
                "--radio",
                f"{emulator_url}#gw1",
                "--radio",
                f"{emulator_url}#gw2",
                "--talkgroups",
                emulator_url,
                "--data-dir",
                str(data_dir),
                "--gateway-id",
                GATEWAY_ID,
            ),
        )
        view = DemoView(topics, request.callout_id, incident_id, DEMO_UNITS)
        async with mqtt_client(broker.url, name="demo") as client:
            await client.subscribe(f"{topics.prefix}#", qos=1)
            changed = asyncio.Event()

            async def receive() -> None:
                async for message in client.messages:
                    view.feed(message.topic.value, payload_bytes(message.payload))
                    changed.set()

            receiver = asyncio.create_task(receive(), name="demo-receive")
            try:
                await _wait_online(view, children, changed)
                console.print("gateway online; alerting units")
                await client.publish(topics.callouts(), callout_payload(request), qos=1)
                await _follow(view, children, changed, console, time_limit(options.time_scale))
                if view.rejected is not None:
                    raise DemoError(f"the gateway rejected the callout: {view.rejected}")
                close = IncidentClose(reason="demo finished").model_dump_json().encode()
                await client.publish(topics.incident_close(incident_id), close, qos=1)
                await _wait_closed(view, changed)
                _print_results(view, console, data_dir, since=started - 1.0)
                if options.keep:
                    console.print(
                        f"still running (--keep): broker {broker.url}, emulator control "
                        f"{ready.get('control')}, store {data_dir}. Ctrl-C stops everything."
                    )
                    while True:
                        children.check()
                        await asyncio.sleep(0.5)
            finally:
                receiver.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await receiver
    finally:
        await children.stop_all()
        await broker.stop()
    return 0


async def _tick(changed: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(changed.wait(), seconds)
    changed.clear()


async def _wait_online(view: DemoView, children: Children, changed: asyncio.Event) -> None:
    deadline = time.monotonic() + ONLINE_TIMEOUT_S
    while not view.online(GATEWAY_ID):
        children.check()
        if time.monotonic() > deadline:
            raise DemoError(
                f"the gateway did not report online health within {ONLINE_TIMEOUT_S:.0f} s; "
                f"see {children.data_dir / 'gateway.log'}"
            )
        await _tick(changed, 0.2)


async def _follow(
    view: DemoView, children: Children, changed: asyncio.Event, console: Console, limit: float
) -> None:
    """Until every mission ended: a live table on a terminal; event lines into a file or pipe
    (and the table once, at the end)."""
    deadline = time.monotonic() + limit
    live = (
        Live(view.render(), console=console, refresh_per_second=4) if console.is_terminal else None
    )
    with live if live is not None else contextlib.nullcontext():
        while not view.finished:
            children.check()
            if time.monotonic() > deadline:
                pending = [u.name for u in view.units if not view.ended(u.issi)]
                raise DemoError(
                    f"time limit of {limit:.0f} s passed; missions not ended: " + ", ".join(pending)
                )
            await _tick(changed, 0.25)
            if live is not None:
                live.update(view.render())
            else:
                for line in view.take_new_lines():
                    console.print(line, markup=False, highlight=False)
    if live is None:
        for line in view.take_new_lines():
            console.print(line, markup=False, highlight=False)
        console.print(view.render())


async def _wait_closed(view: DemoView, changed: asyncio.Event) -> None:
    deadline = time.monotonic() + CLOSE_WAIT_S
    while view.timeline is None or view.timeline.closed_at is None:
        if time.monotonic() > deadline:
            return  # the timeline printed is then the latest one, still open
        await _tick(changed, 0.2)


def _print_results(view: DemoView, console: Console, data_dir: Path, *, since: float) -> None:
    timeline = view.timeline
    if timeline is None:
        raise DemoError("no timeline was published for the incident")
    console.print()
    console.print(timeline_table(timeline))
    console.print(f"Retained timeline ({view.topics.incident_timeline(view.incident_id)}):")
    console.print(timeline.to_json().decode(), markup=False, highlight=False, soft_wrap=True)
    try:
        with open_reader(data_dir) as reader:
            report = reader.kpi(since=since)
    except ReportError as exc:
        raise DemoError(f"cannot read the store for the KPI: {exc}") from None
    console.print()
    console.print(kpi_table(report, title="Response times of this run"))


# -- the command -------------------------------------------------------------------------


def register(subparsers: Any) -> None:  # argparse's _SubParsersAction is private
    """Add ``demo``."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "demo",
        help="the one-command tour: broker, emulator and gateway, one incident, live",
        description=(
            "Start an embedded broker, the emulator and the gateway, alert an ambulance and "
            "two first responders, show them progressing live, then print the timeline and "
            "the response times. Ends by itself; --keep leaves everything running."
        ),
    )
    parser.add_argument("--keep", action="store_true", help="keep running until Ctrl-C")
    parser.add_argument(
        "--time-scale",
        type=_positive,
        default=1.0,
        metavar="X",
        help="stretch (>1) or speed up (<1) the units' behaviour (default 1)",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path("./var/demo"),
        help="store, audit trail and logs of the demo (default ./var/demo)",
    )
    parser.set_defaults(func=run)


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number")
    return value


def run(args: argparse.Namespace) -> int:
    """Run the tour; see the module docstring for the exit status."""
    console = report_console()
    options = DemoOptions(args.data_dir, time_scale=args.time_scale, keep=args.keep)
    try:
        return asyncio.run(run_demo(options, console))
    except DemoError as exc:
        message = Text.assemble(("tetragw demo failed: ", "bold red"), str(exc))
        Console(stderr=True).print(message, highlight=False)
        return 1
    except KeyboardInterrupt:
        console.print("stopped")
        return 130
