"""In-memory stand-ins for the radios and talk-group backends, and a harness that wires the
gateway engine around a real SQLite store (a file under ``tmp_path``).

Only the edges are fake: the store, the publisher, the engine, the incident service, the
router and the relay are the production classes. The radio answers from a script per ISSI;
time is a :class:`FakeClock` that tests move forward, after which they call
``engine.wake()`` so that the send loop looks at the new time at once instead of sleeping.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.audit import read_entries
from gateway.callouts import CalloutEngine, RetryPolicy
from gateway.health import RadioStates
from gateway.inbound import InboundLimits, InboundRouter
from gateway.incidents import IncidentService
from gateway.publisher import Publisher
from gateway.relay import StatusRelay
from gateway.services import build_services
from gateway.store import Store
from hardware.delivery import ReportLevel, SendOutcome
from hardware.talkgroups import (
    GssiRange,
    Reserve,
    TalkgroupAssignment,
    TalkgroupBackend,
    TalkgroupError,
    TalkgroupUnavailable,
    TargetState,
)
from protocols.dispatch import Topics
from protocols.sds.status import StatusTable

T0 = 1_800_000_000.0
ROOT = "tetragw"
STATUS_TABLE_PATH = Path(__file__).resolve().parents[2] / "config" / "status" / "amk-default.toml"


class FakeClock:
    """Wall-clock seconds that move only when a test says so."""

    def __init__(self, start: float = T0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class Hold:
    """A script step that keeps ``send_text`` waiting until :meth:`release` (then answers
    ``then``); ``started`` is set when the radio took it."""

    def __init__(self, then: SendOutcome | None = None) -> None:
        self.then = then if then is not None else SendOutcome("delivered", radio="gw1")
        self.started = asyncio.Event()
        self._released = asyncio.Event()

    def release(self) -> None:
        self._released.set()

    async def wait(self) -> SendOutcome:
        self.started.set()
        await self._released.wait()
        return self.then


Step = SendOutcome | BaseException | Hold


@dataclass(frozen=True, slots=True)
class TextCall:
    """One ``send_text`` as the radio saw it."""

    issi: int
    text: str
    deadline: float | None
    reports: ReportLevel
    wait_for: ReportLevel
    send_id: str | None
    urgent: bool = False


def delivered(radio: str = "gw1", refs: tuple[int, ...] = (1,)) -> SendOutcome:
    return SendOutcome("delivered", radio=radio, message_references=refs)


def read(radio: str = "gw1", refs: tuple[int, ...] = (1,)) -> SendOutcome:
    return SendOutcome("read", radio=radio, message_references=refs)


def failed(reason: str = "delivery_status_0x42") -> SendOutcome:
    return SendOutcome("failed", reason, temporary=True, radio="gw1")


class ScriptedRadio:
    """A ``RadioSender`` (and ``send_status``) answering from a script per ISSI.

    Each call takes the next step of the unit's script; the last step repeats once the
    script is used up. A step is a ``SendOutcome`` (returned), an exception (raised) or a
    :class:`Hold`. Units without a script get ``default``.
    """

    def __init__(
        self,
        scripts: Mapping[int, Sequence[Step]] | None = None,
        default: Step | None = None,
    ) -> None:
        self._scripts = {issi: list(steps) for issi, steps in (scripts or {}).items()}
        self._default = default if default is not None else delivered()
        self.calls: list[TextCall] = []
        self.status_calls: list[tuple[int, int]] = []

    def script(self, issi: int, *steps: Step) -> None:
        self._scripts[issi] = list(steps)

    def calls_to(self, issi: int) -> list[TextCall]:
        return [call for call in self.calls if call.issi == issi]

    def _next(self, issi: int) -> Step:
        steps = self._scripts.get(issi)
        if not steps:
            return self._default
        return steps.pop(0) if len(steps) > 1 else steps[0]

    async def _answer(self, step: Step) -> SendOutcome:
        await asyncio.sleep(0)  # a real radio always yields
        if isinstance(step, Hold):
            return await step.wait()
        if isinstance(step, BaseException):
            raise step
        return step

    async def send_text(
        self,
        issi: int,
        text: str,
        deadline: float | None = None,
        *,
        reports: ReportLevel = ReportLevel.DELIVERED,
        wait_for: ReportLevel = ReportLevel.DELIVERED,
        send_id: str | None = None,
        urgent: bool = False,
    ) -> SendOutcome:
        self.calls.append(TextCall(issi, text, deadline, reports, wait_for, send_id, urgent))
        return await self._answer(self._next(issi))

    async def send_status(
        self, issi: int, value: int, deadline: float | None = None
    ) -> SendOutcome:
        self.status_calls.append((issi, value))
        return await self._answer(self._next(issi))


class FakeDgna:
    """A DGNA-like ``TalkgroupBackend`` whose operations can be made to fail.

    ``fail_create`` / ``fail_modify`` / ``fail_release`` hold the exception to raise (None: work).
    ``release`` yields to the event loop before it acts, as an HTTP call would.
    """

    def __init__(self, gssis: str = "9001-9003") -> None:
        self.gssis = GssiRange.parse(gssis)
        self.members: dict[str, set[int]] = {}
        self.fail_create: BaseException | None = None
        self.fail_modify: BaseException | None = None
        self.fail_release: BaseException | None = None
        self.create_gate: asyncio.Event | None = None
        self.release_gate: asyncio.Event | None = None  # a service that is slow to answer
        """When set, ``create`` waits for it (a slow network)."""
        self.calls: list[tuple[str, str]] = []

    async def create(
        self, incident_id: str, targets: Sequence[int], *, reserve: Reserve | None = None
    ) -> TalkgroupAssignment:
        self.calls.append(("create", incident_id))
        await asyncio.sleep(0)
        held = self.gssis.of(incident_id)
        gssi = self.gssis.allocate(incident_id)
        if held is None and reserve is not None and not await reserve(gssi):
            self.gssis.release(incident_id)
            raise TalkgroupError(f"GSSI {gssi} refused by the caller")
        try:
            await self._network_answer()
        except (TalkgroupUnavailable, OSError, TimeoutError):
            raise  # as DgnaBackend: the request may have reached the service; GSSI kept
        except BaseException:
            if held is None:
                self.gssis.release(incident_id)
            raise
        self.members.setdefault(incident_id, set()).update(targets)
        return self._assignment(incident_id, gssi)

    async def _network_answer(self) -> None:
        if self.create_gate is not None:
            await self.create_gate.wait()
        if self.fail_create is not None:
            raise self.fail_create

    async def modify(
        self, incident_id: str, *, add: Sequence[int] = (), remove: Sequence[int] = ()
    ) -> TalkgroupAssignment:
        self.calls.append(("modify", incident_id))
        await asyncio.sleep(0)
        if self.fail_modify is not None:
            raise self.fail_modify
        gssi = self.gssis.of(incident_id)
        if gssi is None:
            raise TalkgroupError(f"incident {incident_id} holds no group")
        members = self.members.setdefault(incident_id, set())
        members.update(add)
        members.difference_update(remove)
        return self._assignment(incident_id, gssi)

    async def release(self, incident_id: str) -> None:
        self.calls.append(("release", incident_id))
        await asyncio.sleep(0)
        if self.release_gate is not None:
            await self.release_gate.wait()
        if self.fail_release is not None:
            raise self.fail_release
        self.gssis.release(incident_id)
        self.members.pop(incident_id, None)

    def restore(self, in_use: Mapping[str, int]) -> None:
        self.gssis.restore(in_use)

    def _assignment(self, incident_id: str, gssi: int) -> TalkgroupAssignment:
        targets: dict[int, TargetState] = dict.fromkeys(
            sorted(self.members.get(incident_id, set())), "acknowledged"
        )
        return TalkgroupAssignment(incident_id, gssi, targets)


@dataclass(frozen=True, slots=True)
class Published:
    """One outbox row, payload parsed."""

    seq: int
    topic: str
    body: dict[str, Any]
    retain: bool
    raw: bytes


@dataclass
class Harness:
    """The engine wired around a real store; every radio and backend is a fake."""

    store: Store
    clock: FakeClock
    radio: ScriptedRadio
    topics: Topics
    publisher: Publisher
    engine: CalloutEngine
    incidents: IncidentService
    router: InboundRouter
    relay: StatusRelay
    radios: RadioStates
    notified: list[int] = field(default_factory=list)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    # ---- driving -----------------------------------------------------------------------

    def start_engine(self) -> None:
        self.tasks.append(asyncio.create_task(self.engine.run(), name="engine"))

    async def stop(self) -> None:
        await settle()  # what is under way in tasks of its own (a group's release)
        await self.router.stop()
        for task in self.tasks:
            task.cancel()
        for task in self.tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self.tasks.clear()

    async def advance(self, seconds: float) -> None:
        """Move the clock and let the send loop act on the new time."""
        self.clock.advance(seconds)
        self.engine.wake()
        await settle()

    async def callout(self, body: Mapping[str, Any]) -> None:
        await self.router.handle(self.topics.callouts(), json.dumps(body).encode())

    # ---- reading what was published -----------------------------------------------------

    def outbox(self) -> list[Published]:
        return [
            Published(m.seq, m.topic, json.loads(m.payload), m.retain, bytes(m.payload))
            for m in self.store.pending_outbox()
        ]

    def on(self, topic: str) -> list[dict[str, Any]]:
        return [p.body for p in self.outbox() if p.topic == topic]

    def events(self, callout_id: str) -> list[dict[str, Any]]:
        return self.on(self.topics.callout_events(callout_id))

    def unit_events(self, callout_id: str, issi: int) -> list[str]:
        return [e["event"] for e in self.events(callout_id) if e.get("issi") == issi]

    def audit_rows(self) -> list[dict[str, Any]]:
        return [
            {"kind": e.kind, "subject": e.subject, "data": e.data}
            for e in read_entries(self.store._conn)
        ]


def callout_body(
    callout_id: str = "OSL-1-1",
    incident_id: str = "OSL-1",
    units: Iterable[tuple[int, str]] = ((2040101, "ambulance"), (2047001, "first_responder")),
    text: str = "Hjertestans. Storgata 1, Oslo. Mann 67 år.",
    **extra: Any,
) -> dict[str, Any]:
    return {
        "callout_id": callout_id,
        "incident_id": incident_id,
        "priority": "1A",
        "units": [{"issi": issi, "role": role} for issi, role in units],
        "text": text,
        **extra,
    }


def make_harness(
    tmp_path: Path,
    *,
    radio: ScriptedRadio | None = None,
    backend: TalkgroupBackend | None = None,
    retry: RetryPolicy | None = None,
    limits: InboundLimits | None = None,
    policy_warnings: bool = True,
    idle_release_s: float = 3600.0,
    clock: FakeClock | None = None,
    store: Store | None = None,
    urgent_priorities: tuple[str, ...] = (),
) -> Harness:
    clock = clock or FakeClock()
    store = store or Store(tmp_path / "tetragw.sqlite3", synchronous="OFF", clock=clock)
    radio = radio or ScriptedRadio()
    topics = Topics(ROOT)
    publisher = Publisher(topics)
    notified: list[int] = []

    def notify() -> None:
        notified.append(1)

    radios = RadioStates(["gw1"])
    services = build_services(
        store=store,
        publisher=publisher,
        radios=radio,
        backend=backend,
        table=StatusTable.from_toml(STATUS_TABLE_PATH.read_text(encoding="utf-8")),
        radio_states=radios,
        notify_outbox=notify,
        retry=retry or RetryPolicy(initial_s=2.0, max_s=30.0, jitter=0.0),
        policy_warnings=policy_warnings,
        idle_release_s=idle_release_s,
        limits=limits,
        clock=clock,
        # The fake clock jumps; a real pause between wake-ups would let it outrun the engine.
        min_tick_interval_s=0.0,
        urgent_priorities=urgent_priorities,
    )
    incidents, engine, relay, router = (
        services.incidents,
        services.engine,
        services.relay,
        services.router,
    )
    return Harness(
        store=store,
        clock=clock,
        radio=radio,
        topics=topics,
        publisher=publisher,
        engine=engine,
        incidents=incidents,
        router=router,
        relay=relay,
        radios=radios,
        notified=notified,
    )


async def settle(rounds: int = 50) -> None:
    """Let every ready task run (the fakes never wait on real time)."""
    for _ in range(rounds):
        await asyncio.sleep(0)


async def groups_settled(h: Harness, *incident_ids: str) -> None:
    """Wait until the incidents' groups are no longer (about to be) created: a DGNA create
    first makes its reservation durable (an fsync in a worker thread), which ``settle`` does
    not wait for."""

    def settled(incident_id: str) -> bool:
        incident = h.store.incident(incident_id)
        return incident is not None and incident.talkgroup_state not in ("none", "creating")

    await wait_until(lambda: all(settled(i) for i in incident_ids))


async def wait_until(predicate: Callable[[], bool], *, rounds: int = 2000) -> None:
    """Yield to the loop until ``predicate()`` holds; fail (not hang) if it never does.

    After the first rounds it sleeps a millisecond per round, for loops that sleep (the
    incident service's idle check); a bound, not a timing assertion."""
    for round_ in range(rounds):
        if predicate():
            return
        await asyncio.sleep(0 if round_ < 200 else 0.001)
    raise AssertionError("condition not reached")


async def events_of(items: Iterable[Any]) -> AsyncIterator[Any]:
    for item in items:
        yield item


def count_by(items: Iterable[str]) -> dict[str, int]:
    counts: dict[str, int] = defaultdict(int)
    for item in items:
        counts[item] += 1
    return dict(counts)
