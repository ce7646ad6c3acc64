"""Run the real system under seeded faults and check that no callout is lost.

Real processes on loopback: Mosquitto (`MosquittoBroker`), ``tetragw emulator`` and
``tetragw run`` (`tests.integration.system`). Dispatch publishes the plan's callouts at the
planned pace; the injector applies the plan's faults at their times; units send probe
statuses through the emulator. When everything is published the runner waits (bounded) for
every unit of every callout to end, then collects the units' inboxes, stops the gateway,
runs ``tetragw audit verify`` and hands everything to `tests.chaos.checks`.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.chaos.checks import (
    CalloutRecord,
    ChaosFindings,
    FaultRecord,
    ProbeRecord,
    check_finals,
    check_statuses,
    check_talkgroups,
    check_unit_duplicates,
    status_exposed,
    talkgroups_left,
)
from tests.chaos.dispatch import ROOT, ResilientDispatch
from tests.chaos.plan import ChaosOptions, ChaosPlan, PlannedCallout, PlannedFault, draw_plan
from tests.integration.mosquitto import MosquittoBroker
from tests.integration.system import EmulatorProcess, GatewayProcess

GATEWAY_ID = "gw-chaos"
TEXT = "Chaos {callout_id}. Hjertestans. Storgata 1, Oslo."
_ONLINE_TIMEOUT_S = 60.0
_DRAIN_EXTRA_S = 60.0
_PROBE_WAIT_S = 20.0
_CLOSE_AFTER_S = 25.0
#: How long the end waits for the groups of closed incidents to be released.
_RELEASE_WAIT_S = 30.0
#: Short backoff: the deadlines are short, a retry every 30 s would waste most of one.
GATEWAY_CONFIG = "[callouts]\nretry_initial_s = 1.0\nretry_max_s = 5.0\n"


@dataclass
class ChaosRun:
    """What happened during one run (the inputs of the checks) and its figures."""

    options: ChaosOptions
    callouts: list[CalloutRecord] = field(default_factory=list)
    faults: list[FaultRecord] = field(default_factory=list)
    probes: list[ProbeRecord] = field(default_factory=list)
    coverage_gaps: dict[int, list[tuple[float, float]]] = field(
        default_factory=lambda: defaultdict(list)
    )
    publish_retries: int = 0
    fault_errors: list[str] = field(default_factory=list)
    audit: str = ""
    audit_ok: bool = False
    radio_counters: dict[str, dict[str, int]] = field(default_factory=dict)
    elapsed_s: float = 0.0
    timed_out: bool = False
    findings: ChaosFindings = field(default_factory=ChaosFindings)

    @property
    def fault_counts(self) -> dict[str, int]:
        return dict(sorted(Counter(f.kind for f in self.faults).items()))


class Runner:
    def __init__(self, options: ChaosOptions, workdir: Path) -> None:
        self.options = options
        self.workdir = workdir
        self.plan: ChaosPlan = draw_plan(options)
        self.run = ChaosRun(options)
        self.broker = MosquittoBroker(workdir=_mkdir(workdir / "broker"))
        first, last = options.issis[0], options.issis[-1]
        self.emulator = EmulatorProcess(
            workdir,
            *("--radios", str(options.radios), "--units", f"{first}-{last}"),
            *("--seed", str(options.seed)),
        )
        config = workdir / "gateway.toml"
        config.write_text(GATEWAY_CONFIG)
        self.config = config
        self.gateway: GatewayProcess | None = None
        self.dispatch: ResilientDispatch | None = None
        self._closed: set[str] = set()
        self._publishing_done = False

    # ---- the whole run --------------------------------------------------------------------

    async def execute(self) -> ChaosRun:
        started = time.monotonic()
        self.broker.start()
        try:
            await asyncio.to_thread(self.emulator.start)
            self.gateway = GatewayProcess(
                self.workdir,
                broker_url=self.broker.url,
                radios=[self.emulator.radio_url(f"gw{n + 1}") for n in range(self.options.radios)],
                talkgroups=f"emulator://{self.emulator.ready_file}",
                gateway_id=GATEWAY_ID,
                config=self.config,
            )
            async with ResilientDispatch(self.broker.host, self.broker.port) as dispatch:
                self.dispatch = dispatch
                since = time.time()
                self.gateway.start()
                if not await dispatch.wait_for(
                    lambda: dispatch.online_since(GATEWAY_ID, since), _ONLINE_TIMEOUT_S
                ):
                    raise RuntimeError(f"gateway not online; see {self.gateway.log_path}")
                try:
                    async with asyncio.timeout(self.options.time_limit_s):
                        await self._exercise(dispatch)
                except TimeoutError:
                    self.run.timed_out = True
                await self._collect()
            await asyncio.to_thread(self.gateway.stop)
            self._audit()
        finally:
            if self.gateway is not None:
                self.gateway.stop()
            self.emulator.stop()
            self.broker.stop()
        self.run.elapsed_s = time.monotonic() - started
        self._check()
        return self.run

    async def _exercise(self, dispatch: ResilientDispatch) -> None:
        start = time.monotonic()
        closer = asyncio.create_task(self._close_finished(dispatch))
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._publish_callouts(dispatch, start))
                group.create_task(self._inject_faults(start))
                group.create_task(self._send_probes(start))
            await dispatch.wait_for(self._all_final, self.options.deadline_s + _DRAIN_EXTRA_S)
            await dispatch.wait_for(self._all_probes_arrived, _PROBE_WAIT_S)
        finally:
            closer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await closer

    # ---- callouts --------------------------------------------------------------------------

    async def _publish_callouts(self, dispatch: ResilientDispatch, start: float) -> None:
        for planned in self.plan.callouts:
            await _sleep_until(start + planned.at_s)
            published_at = time.time()
            tries = await dispatch.publish("callouts", _payload(planned, self.options))
            self.run.publish_retries += tries - 1
            self.run.callouts.append(
                CalloutRecord(
                    planned.callout_id, planned.issis, published_at, float(self.options.deadline_s)
                )
            )
        self._publishing_done = True

    def _finished(self) -> list[CalloutRecord]:
        assert self.dispatch is not None
        finals: dict[str, set[int]] = defaultdict(set)
        for event in self.dispatch.messages:
            payload = event.payload
            if payload.get("event") in ("delivered", "read", "unreached") and event.topic.endswith(
                "/events"
            ):
                finals[str(payload.get("callout_id"))].add(int(payload.get("issi", 0)))
        return [c for c in self.run.callouts if finals.get(c.callout_id, set()) >= set(c.issis)]

    def _all_final(self) -> bool:
        return len(self._finished()) == len(self.plan.callouts)

    async def _close_finished(self, dispatch: ResilientDispatch) -> None:
        """The CAD closes each incident once its callout has ended for every unit."""
        while True:
            await asyncio.sleep(1.0)
            now = time.time()
            for callout in self._finished():
                # After the units' status sequence (about 20 s): the timeline documents it.
                if callout.callout_id not in self._closed and (
                    now - callout.published_at >= _CLOSE_AFTER_S or self._publishing_done
                ):
                    await dispatch.publish(
                        f"incidents/INC-{callout.callout_id}/close", {"reason": "chaos"}
                    )
                    # Only once the broker has it: the end checks the closed incidents' groups.
                    self._closed.add(callout.callout_id)

    # ---- faults ----------------------------------------------------------------------------

    async def _inject_faults(self, start: float) -> None:
        async with asyncio.TaskGroup() as group:
            for fault in self.plan.faults:
                await _sleep_until(start + fault.at_s)
                group.create_task(self._fault(fault))

    async def _fault(self, fault: PlannedFault) -> None:
        begin = time.time()
        try:
            await self._apply(fault)
        except Exception as exc:
            self.run.fault_errors.append(f"{fault.kind} {fault.target}: {exc!r}")
            return
        self.run.faults.append(FaultRecord(fault.kind, fault.target, begin, time.time()))

    async def _apply(self, fault: PlannedFault) -> None:
        gateway, dispatch = self.gateway, self.dispatch
        assert gateway is not None
        assert dispatch is not None
        match fault.kind:
            case "gateway_kill":
                killed = time.time()
                await asyncio.to_thread(gateway.kill)
                await asyncio.sleep(fault.duration_s)
                gateway.start()
                await dispatch.wait_for(
                    lambda: dispatch.online_since(GATEWAY_ID, killed), _ONLINE_TIMEOUT_S
                )
            case "broker_restart":
                await asyncio.to_thread(self.broker.restart)
                await dispatch.wait_for(lambda: dispatch.connected, 30)
            case "unit_coverage":
                issi = int(fault.target)
                left = time.time()
                await self._post(f"/units/{issi}/coverage", {"in_coverage": False})
                await asyncio.sleep(fault.duration_s)
                await self._post(f"/units/{issi}/coverage", {"in_coverage": True})
                self.run.coverage_gaps[issi].append((left, time.time()))
            case _:
                kind = fault.kind.removeprefix("radio_")
                body: dict[str, Any] = {"kind": kind, "count": fault.count}
                if fault.duration_s:
                    body["duration_s"] = fault.duration_s
                await self._post(f"/radios/{fault.target}/fault", body)
                await asyncio.sleep(fault.duration_s)

    async def _post(self, path: str, body: dict[str, Any]) -> Any:
        return await asyncio.to_thread(self.emulator.post, path, body)

    # ---- unit statuses ---------------------------------------------------------------------

    async def _send_probes(self, start: float) -> None:
        for probe in self.plan.probes:
            await _sleep_until(start + probe.at_s)
            sent_at = time.time()
            try:
                await self._post(f"/units/{probe.issi}/status", {"value": probe.value})
            except OSError as exc:
                self.run.fault_errors.append(f"probe {probe.value:#x}: {exc!r}")
                continue
            self.run.probes.append(ProbeRecord(probe.issi, probe.value, sent_at))

    def _all_probes_arrived(self) -> bool:
        assert self.dispatch is not None
        got = {
            (e.payload.get("issi"), e.payload.get("status"))
            for e in self.dispatch.messages
            if e.topic.startswith(ROOT + "units/") and e.topic.endswith("/status")
        }
        return all(
            (p.issi, p.value) in got or status_exposed(p, self.run.faults) for p in self.run.probes
        )

    # ---- the end ---------------------------------------------------------------------------

    async def _collect(self) -> None:
        assert self.dispatch is not None
        dispatch = self.dispatch
        await dispatch.wait_for(
            lambda: not talkgroups_left(self._closed, dispatch.messages), _RELEASE_WAIT_S
        )
        groups = await asyncio.to_thread(self.emulator.get, "/dgna/groups")
        self._network_gssis = [int(group["gssi"]) for group in groups]
        inboxes = {}
        for issi in self.options.issis:
            inboxes[issi] = await asyncio.to_thread(self.emulator.inbox, issi)
        self._inboxes = inboxes
        radios = await asyncio.to_thread(self.emulator.get, "/radios")
        self.run.radio_counters = {r["name"]: dict(r.get("counters", {})) for r in radios}

    def _audit(self) -> None:
        assert self.gateway is not None
        command = [sys.executable, "-m", "gateway.cli", "audit", "verify"]
        result = subprocess.run(
            [*command, "--data-dir", str(self.gateway.data_dir)],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        self.run.audit = (result.stdout + result.stderr).strip()
        self.run.audit_ok = result.returncode == 0

    def _check(self) -> None:
        run, findings = self.run, self.run.findings
        assert self.dispatch is not None
        events = self.dispatch.messages
        check_finals(findings, run.callouts, events, run.coverage_gaps, self.options.slack_s)
        check_unit_duplicates(findings, run.callouts, getattr(self, "_inboxes", {}), run.faults)
        check_statuses(findings, run.probes, events, run.faults)
        check_talkgroups(findings, self._closed, events, getattr(self, "_network_gssis", []))
        if len(run.callouts) < self.options.callouts:
            findings.fail(f"only {len(run.callouts)} of {self.options.callouts} callouts published")
        if not run.audit_ok:
            findings.fail(f"audit verify failed: {run.audit}")
        if run.timed_out:
            findings.fail(f"run exceeded its time limit of {self.options.time_limit_s:.0f} s")
        for error in run.fault_errors:
            findings.fail(f"fault injection failed: {error}")


def _payload(planned: PlannedCallout, options: ChaosOptions) -> dict[str, Any]:
    return {
        "callout_id": planned.callout_id,
        "incident_id": planned.incident_id,
        "priority": "1A",
        "units": [
            {"issi": issi, "role": "ambulance" if n == 0 else "first_responder"}
            for n, issi in enumerate(planned.issis)
        ],
        "text": TEXT.format(callout_id=planned.callout_id),
        "deadline_s": options.deadline_s,
    }


async def _sleep_until(moment: float) -> None:
    delay = moment - time.monotonic()
    if delay > 0:
        await asyncio.sleep(delay)


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


async def run_chaos(options: ChaosOptions, workdir: Path) -> ChaosRun:
    """Run the whole suite once in ``workdir``; the run with its findings."""
    return await Runner(options, workdir).execute()
