"""Incidents and their talk groups: one GSSI per open incident, released when it is over.

A callout that wants a talk group asks the configured backend (the network's DGNA service, or
a pre-provisioned pool) for one group per incident; later callouts of the same incident add
their units to it. The group is released when dispatch closes the incident, when every unit
has ended its mission, or after ``idle_release_s`` without any callout or status. Each step is
announced as a ``talkgroup`` event on the callout's events topic and recorded in the store, so
a restart restores which incident holds which GSSI.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import Callable, Sequence

from gateway.logging import get_logger
from gateway.publisher import Publisher
from gateway.store import GssiInUseError, IncidentRecord, Store, Transaction
from hardware.talkgroups import (
    PoolBackend,
    TalkgroupAssignment,
    TalkgroupBackend,
    TalkgroupError,
    TalkgroupPoolExhausted,
    TalkgroupUnavailable,
)

#: What a backend raises when its service cannot do or be asked something: ``TalkgroupError``
#: (``DgnaBackend`` wraps its HTTP client's errors in ``TalkgroupUnavailable``), or a timeout
#: or socket error of its own.
_BACKEND_ERRORS = (TalkgroupError, TimeoutError, OSError)

_log = get_logger("tetragw.incidents")

#: Per-target states that mean the unit is in the group (or has been told to select it).
_ATTACHED = frozenset({"acknowledged", "attached", "instructed"})
#: States in which a recorded GSSI was reserved for a create (``_reserve``) whose outcome
#: is not known: the network may hold the group.
_RESERVED_STATES = frozenset({"creating", "failed"})
#: How long a callout's first send waits for a pool group, whose number goes into the text.
_INSTRUCTION_WAIT_S = 2.0
#: How long a stopping gateway lets the releases under way finish.
_RELEASE_GRACE_S = 2.0


class IncidentService:
    """Talk-group lifecycle and incident closing."""

    def __init__(
        self,
        *,
        store: Store,
        publisher: Publisher,
        backend: TalkgroupBackend | None,
        notify_outbox: Callable[[], None],
        idle_release_s: float = 3600.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._publisher = publisher
        self._backend = backend
        self._notify = notify_outbox
        self._idle_release_s = idle_release_s
        self._clock = clock
        self._locks: dict[str, asyncio.Lock] = {}
        self._creating: dict[str, asyncio.Task[None]] = {}
        self._last_activity: dict[str, float] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._releases: set[asyncio.Task[None]] = set()
        self._release_retries: dict[str, str] = {}

    def restore(self) -> None:
        """After a restart: tell the backend which incidents hold which groups, create the
        groups that open incidents were waiting for, and have ``run`` release those that
        incidents closed before them still hold.

        A group counts as held when it is recorded ``active``, or ``creating`` or ``failed``
        with a GSSI (``_reserve``: the network may have said yes just before the gateway died,
        or to a request whose answer never came). A closed
        incident's release was failing (the service was away), cut off by a stop or lost to a
        crash: the list of releases to retry lives in memory. A closed incident's group whose
        GSSI has since been handed to another incident (the pool's, or a DGNA group that
        expired on the network) is recorded released without asking the backend: releasing
        it there would release the other incident's group.
        """
        if self._backend is None:
            return  # no backend to release them with (the store keeps them ``active``)
        # Open incidents whose group was being created: created (again) below.
        recreate = [
            i.incident_id for i in self._store.open_incidents() if i.talkgroup_state == "creating"
        ]
        held: dict[str, int] = {}
        holder: dict[int, str] = {}
        closed: list[str] = []
        superseded: list[str] = []
        # Open incidents first (the store never lets two of them hold one GSSI), then the
        # closed ones, most recently opened first: the last to be handed a GSSI holds it.
        for incident in sorted(
            self._store.incidents_holding_groups(),
            key=lambda i: (not i.is_open, -i.opened_at),
        ):
            assert incident.gssi is not None
            if incident.gssi in holder:
                superseded.append(incident.incident_id)
                continue
            holder[incident.gssi] = incident.incident_id
            held[incident.incident_id] = incident.gssi
            if not incident.is_open:
                closed.append(incident.incident_id)
        self._backend.restore(held)
        for incident_id in superseded:
            self._record_released(incident_id, reason="reassigned")
        now = self._clock()
        for incident_id in held:
            self._last_activity[incident_id] = now
        for incident_id in closed:
            # ``run`` releases them first thing (and again while the backend fails).
            self._release_retries[incident_id] = "incident_closed"
        for incident_id in recreate:
            self._create_again(incident_id)
        if closed or superseded or recreate:
            _log.warning(
                "talkgroups_left_by_a_stop",
                to_release=len(closed),
                reassigned=len(superseded),
                to_create=len(recreate),
            )

    # ---- groups ----------------------------------------------------------------------

    def on_callout(self, incident_id: str, callout_id: str, issis: Sequence[int]) -> None:
        """A new callout wants the incident's group: create it or add the units to it."""
        self.touch(incident_id)
        if self._backend is None:
            return
        lock = self._locks.setdefault(incident_id, asyncio.Lock())
        if isinstance(self._backend, PoolBackend) and not lock.locked():
            # The pool is bookkeeping (the radios' scan runs in the background): the group
            # is recorded here, before the callout's sends run, so that their first SDS,
            # which names it, waits for no task. A held lock is a release or a create
            # under way: then the task below waits for it.
            self._pool_group(self._backend, incident_id, callout_id, tuple(issis))
            return
        task = asyncio.create_task(
            self._ensure_group(incident_id, callout_id, tuple(issis)),
            name=f"talkgroup-{incident_id}",
        )
        self._creating[incident_id] = task
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        task.add_done_callback(lambda done: self._created(incident_id, done))

    def _created(self, incident_id: str, task: asyncio.Task[None]) -> None:
        if self._creating.get(incident_id) is task:
            del self._creating[incident_id]

    async def callout_text(self, incident_id: str, text: str) -> str:
        """``text`` with the instruction to select the incident's pool group, where needed."""
        if not isinstance(self._backend, PoolBackend):
            return text
        pending = self._creating.get(incident_id)
        if pending is not None and not pending.done():
            with contextlib.suppress(TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(pending), _INSTRUCTION_WAIT_S)
        incident = self._store.incident(incident_id)
        if incident is None or incident.gssi is None or incident.talkgroup_state != "active":
            return text
        return f"{text}\n{self._backend.instruction_text(incident.gssi)}"

    def touch(self, incident_id: str) -> None:
        self._last_activity[incident_id] = self._clock()

    async def _ensure_group(
        self, incident_id: str, callout_id: str, issis: tuple[int, ...]
    ) -> None:
        assert self._backend is not None
        lock = self._locks.setdefault(incident_id, asyncio.Lock())
        async with lock:
            incident = self._store.incident(incident_id)
            if incident is None or not incident.is_open:
                return
            try:
                if _holds_group(incident):
                    assignment = await self._backend.modify(incident_id, add=issis)
                else:
                    # Announced before the create: a service may take seconds to answer. A
                    # GSSI reserved before a restart is kept: that group may exist.
                    reserved = (
                        incident.gssi if incident.talkgroup_state in _RESERVED_STATES else None
                    )
                    self._set(incident_id, callout_id, reserved, "creating")
                    assignment = await self._backend.create(
                        incident_id, issis, reserve=functools.partial(self._reserve, incident_id)
                    )
            except _BACKEND_ERRORS as exc:
                self._failed(incident, callout_id, exc, creating=False)
                return
            self._active(incident, callout_id, assignment, creating=False)

    async def _reserve(self, incident_id: str, gssi: int) -> bool:
        """Record ``gssi`` as the incident's group-to-be, durably, before the backend asks the
        network for it: if the gateway dies between the network's yes and the record of the
        group, ``restore`` finds the GSSI and releases the group or takes it up again (it would
        otherwise stay taken on the network until its lifetime ends). False if another open
        incident holds ``gssi`` in the store: the backend tries another."""
        try:
            with self._store.transaction(durable=True) as tx:
                tx.set_talkgroup(incident_id, gssi=gssi, state="creating")
        except GssiInUseError:
            return False
        await self._store.wal_sync.wait()
        return True

    def _pool_group(
        self, backend: PoolBackend, incident_id: str, callout_id: str, issis: tuple[int, ...]
    ) -> None:
        """``_ensure_group`` for the pool, which answers at once: ``creating`` is recorded in
        the same transaction as the outcome, with the same events in the same order."""
        incident = self._store.incident(incident_id)
        if incident is None or not incident.is_open:
            return
        creating = not _holds_group(incident)
        try:
            if creating:
                assignment = backend.create_now(incident_id, issis)
            else:
                assignment = backend.modify_now(incident_id, add=issis)
        except TalkgroupError as exc:
            self._failed(incident, callout_id, exc, creating=creating)
            return
        self._active(incident, callout_id, assignment, creating=creating)

    def _failed(
        self, incident: IncidentRecord, callout_id: str, exc: BaseException, *, creating: bool
    ) -> None:
        reason = _reason(exc)
        incident_id = incident.incident_id
        _log.warning("talkgroup_failed", incident_id=incident_id, reason=reason)
        if _holds_group(incident):
            # Only adding this callout's units failed: the incident keeps its group
            # (recording it ``failed`` would lose the GSSI and never release it).
            self._set(incident_id, callout_id, incident.gssi, "failed", reason=reason, record=False)
            return
        reserved = None
        if not isinstance(exc, TalkgroupError) or isinstance(exc, TalkgroupUnavailable):
            # The service could not be asked or did not answer: a create may have reached it
            # all the same. The GSSI ``_reserve`` recorded stays recorded (not announced), so
            # that the close releases what the network may hold; a refusal leaves nothing.
            current = self._store.incident(incident_id)
            if current is not None and current.talkgroup_state == "creating":
                reserved = current.gssi
        self._set(
            incident_id,
            callout_id,
            None,
            "failed",
            reason=reason,
            creating=creating,
            recorded_gssi=reserved,
        )

    def _active(
        self,
        incident: IncidentRecord,
        callout_id: str,
        assignment: TalkgroupAssignment,
        *,
        creating: bool,
    ) -> None:
        incident_id = incident.incident_id
        try:
            self._set(
                incident_id, callout_id, assignment.gssi, "active", assignment, creating=creating
            )
        except GssiInUseError:
            _log.error("talkgroup_gssi_in_use", incident_id=incident_id, gssi=assignment.gssi)
            self._set(
                incident_id, callout_id, None, "failed", reason="gssi_in_use", creating=creating
            )

    def _set(
        self,
        incident_id: str,
        callout_id: str,
        gssi: int | None,
        state: str,
        assignment: TalkgroupAssignment | None = None,
        *,
        reason: str | None = None,
        record: bool = True,
        creating: bool = False,
        recorded_gssi: int | None = None,
    ) -> None:
        """Announce the group's ``state`` on the callout's events (and, with ``record``,
        store it as the incident's talk-group state, with ``recorded_gssi`` instead of
        ``gssi`` if given); with ``creating``, record and announce ``creating`` first, in the
        same transaction."""
        with self._store.transaction() as tx:
            if creating:
                self._step(
                    tx,
                    incident_id,
                    callout_id,
                    None,
                    "creating",
                    assignment=None,
                    reason=None,
                    record=True,
                )
            self._step(
                tx,
                incident_id,
                callout_id,
                gssi,
                state,
                assignment=assignment,
                reason=reason,
                record=record,
                recorded_gssi=recorded_gssi,
            )
            if state in ("active", "released"):
                self._publisher.timeline_of(tx, incident_id)
        self._notify()

    def _step(
        self,
        tx: Transaction,
        incident_id: str,
        callout_id: str,
        gssi: int | None,
        state: str,
        *,
        assignment: TalkgroupAssignment | None,
        reason: str | None,
        record: bool,
        recorded_gssi: int | None = None,
    ) -> None:
        if record:
            recorded = gssi if recorded_gssi is None else recorded_gssi
            tx.set_talkgroup(incident_id, gssi=recorded, state=state)  # type: ignore[arg-type]
        attached = (
            tuple(sorted(i for i, s in assignment.targets.items() if s in _ATTACHED))
            if assignment is not None
            else None
        )
        self._publisher.callout_event(
            tx,
            callout_id=callout_id,
            incident_id=incident_id,
            event="talkgroup",
            gssi=gssi,
            state=state,
            attached=attached,
            reason=reason,
        )

    async def release(self, incident_id: str, *, reason: str) -> None:
        """Give the incident's group back to the backend (idempotent)."""
        if self._backend is None:
            return
        lock = self._locks.setdefault(incident_id, asyncio.Lock())
        async with lock:
            # Read under the lock: a concurrent release (close and the last mission_ended
            # at once) must find the group released and announce nothing twice.
            incident = self._store.incident(incident_id)
            if incident is None or not _may_hold_group(incident):
                self._release_retries.pop(incident_id, None)
                return
            try:
                await self._backend.release(incident_id)
            except _BACKEND_ERRORS as exc:
                # The group stays recorded as active; ``run`` tries again (also for a
                # closed incident, which the idle check no longer looks at).
                self._release_retries[incident_id] = reason
                _log.warning(
                    "talkgroup_release_failed", incident_id=incident_id, error=_reason(exc)
                )
                return
            self._release_retries.pop(incident_id, None)
            self._record_released(incident_id, reason=reason)

    def _create_again(self, incident_id: str) -> None:
        """The group an open incident was waiting for when the gateway stopped, for its units,
        announced on its latest callout."""
        callouts = self._store.callouts_of_incident(incident_id)
        timeline = self._store.timeline(incident_id)
        if not callouts or timeline is None:
            return
        issis = [unit.issi for unit in timeline.units]
        self.on_callout(incident_id, callouts[-1].callout_id, issis)

    def _record_released(self, incident_id: str, *, reason: str) -> None:
        """Record and announce the incident's group released (on its latest callout)."""
        incident = self._store.incident(incident_id)
        assert incident is not None
        callouts = self._store.callouts_of_incident(incident_id)
        callout_id = callouts[-1].callout_id if callouts else incident_id
        self._set(incident_id, callout_id, incident.gssi, "released", reason=reason)
        self._last_activity.pop(incident_id, None)
        _log.info("talkgroup_released", incident_id=incident_id, gssi=incident.gssi, reason=reason)

    # ---- closing ---------------------------------------------------------------------

    async def close(self, incident_id: str, *, reason: str | None) -> bool:
        """Close the incident's timeline and release its group; False if unknown or closed."""
        # A promise: durable before dispatch hears of it (gateway/store/durability.py).
        with self._store.transaction(durable=True) as tx:
            closed = tx.close_incident(incident_id, reason=reason)
            if closed is not None:
                self._publisher.timeline_of(tx, incident_id)
        self._notify()
        if closed is None:
            return False
        self._release_later(incident_id, "incident_closed")
        return True

    async def on_unit_ended(self, incident_id: str) -> None:
        """A unit ended its mission: release the group once every unit has."""
        timeline = self._store.timeline(incident_id)
        if timeline is None or not timeline.units:
            return
        if all(unit.ended_at is not None for unit in timeline.units):
            self._release_later(incident_id, "all_units_ended")

    def _release_later(self, incident_id: str, reason: str) -> None:
        """Release the group in a task of its own. A backend may answer slowly (a DGNA
        service over the network: up to its request timeout), and neither the MQTT inbound
        loop (an incident's close) nor the status relay (the last ``mission_ended``) may wait
        for it: the callouts and statuses behind them would."""
        if self._backend is None:
            return
        task = asyncio.create_task(
            self._release_logged(incident_id, reason), name=f"talkgroup-release-{incident_id}"
        )
        self._releases.add(task)
        task.add_done_callback(self._releases.discard)

    async def _release_logged(self, incident_id: str, reason: str) -> None:
        try:
            await self.release(incident_id, reason=reason)
        except Exception as exc:  # a background task: logged here or nowhere
            self._release_retries[incident_id] = reason  # ``run`` tries again
            _log.error("talkgroup_release_crashed", incident_id=incident_id, error=repr(exc))

    async def run(self, check_every_s: float = 30.0) -> None:
        """Release groups of incidents idle for longer than the configured time."""
        try:
            while True:
                # Retries first, before the first wait: a restart's releases are due now.
                for incident_id, reason in list(self._release_retries.items()):
                    await self._release_logged(incident_id, reason)
                await asyncio.sleep(check_every_s)
                now = self._clock()
                for incident in self._store.open_incidents():
                    if incident.talkgroup_state != "active":
                        continue
                    last = self._last_activity.setdefault(incident.incident_id, now)
                    if now - last >= self._idle_release_s:
                        await self._release_logged(incident.incident_id, "idle")
        finally:
            for task in list(self._tasks):
                task.cancel()
            # Releases under way get a moment to finish: a group left to a stopped gateway
            # stays taken on the network.
            if self._releases:
                await asyncio.wait(list(self._releases), timeout=_RELEASE_GRACE_S)
            for task in list(self._releases):
                task.cancel()


def _holds_group(incident: IncidentRecord) -> bool:
    return incident.talkgroup_state == "active" and incident.gssi is not None


def _may_hold_group(incident: IncidentRecord) -> bool:
    """Active, or a create under way, cut off or unanswered that reserved a GSSI."""
    return incident.gssi is not None and (
        incident.talkgroup_state == "active" or incident.talkgroup_state in _RESERVED_STATES
    )


def _reason(exc: BaseException) -> str:
    if isinstance(exc, TalkgroupPoolExhausted):
        return "pool_exhausted"
    if isinstance(exc, TalkgroupUnavailable):
        return f"backend_unavailable:{exc.cause}"
    if isinstance(exc, TalkgroupError):
        return "backend_refused"
    return f"backend_unavailable:{type(exc).__name__}"
