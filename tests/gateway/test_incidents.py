"""Incidents and their talk groups: one group per incident, later callouts add units, failures
are announced, and the group is released on close, when every mission ended, or when idle."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gateway.store import NewCallout, Store, UnitAssignment
from hardware.radio_events import StatusReceived
from hardware.talkgroups import GssiRange, PoolBackend, TalkgroupError, TalkgroupUnavailable
from tests.gateway.fakes import (
    T0,
    FakeClock,
    FakeDgna,
    Harness,
    callout_body,
    groups_settled,
    make_harness,
    settle,
    wait_until,
)

AMBULANCE = 2040101
RESPONDER = 2047001
DOCTOR = 2043001
MISSION_ENDED = 0x8007
INSTRUCTION = "Velg talegruppe {gssi} / select talk group {gssi}"


@pytest.fixture
async def pool(tmp_path: Path) -> AsyncIterator[Harness]:
    h = make_harness(tmp_path, backend=PoolBackend(GssiRange(9001, 9002)))
    yield h
    await h.stop()
    h.store.close()


@pytest.fixture
async def dgna(tmp_path: Path) -> AsyncIterator[tuple[Harness, FakeDgna]]:
    backend = FakeDgna()
    h = make_harness(tmp_path, backend=backend)
    yield h, backend
    await h.stop()
    h.store.close()


def talkgroup_events(h: Harness, callout_id: str) -> list[dict[str, Any]]:
    return [e for e in h.events(callout_id) if e["event"] == "talkgroup"]


def group_of(h: Harness, incident_id: str) -> tuple[int | None, str]:
    incident = h.store.incident(incident_id)
    assert incident is not None
    return incident.gssi, incident.talkgroup_state


async def test_first_callout_creates_the_incident_group_and_announces_it(pool: Harness) -> None:
    await pool.callout(callout_body())
    await settle()

    events = talkgroup_events(pool, "OSL-1-1")
    assert [(e["state"], e.get("gssi")) for e in events] == [("creating", None), ("active", 9001)]
    assert events[-1]["attached"] == [AMBULANCE, RESPONDER]
    assert group_of(pool, "OSL-1") == (9001, "active")
    assert pool.on(pool.topics.incident_timeline("OSL-1"))[-1]["gssi"] == 9001


async def test_later_callouts_of_the_incident_add_their_units_to_the_same_group(
    pool: Harness,
) -> None:
    await pool.callout(callout_body())
    await settle()
    await pool.callout(
        callout_body(callout_id="OSL-1-2", units=[(DOCTOR, "doctor")], talkgroup=True)
    )
    await settle()
    await pool.callout(callout_body(callout_id="OSL-2-1", incident_id="OSL-2"))
    await settle()

    (added,) = talkgroup_events(pool, "OSL-1-2")
    assert (added["state"], added["gssi"]) == ("active", 9001)
    assert added["attached"] == [AMBULANCE, DOCTOR, RESPONDER]
    assert group_of(pool, "OSL-1") == (9001, "active")
    assert group_of(pool, "OSL-2") == (9002, "active")


async def test_pool_group_instruction_is_added_to_the_callout_text(pool: Harness) -> None:
    pool.start_engine()
    await pool.callout(callout_body(text="Hjertestans"))
    await wait_until(lambda: len(pool.radio.calls) == 2)

    expected = "Hjertestans\n" + INSTRUCTION.format(gssi=9001)
    assert [call.text for call in pool.radio.calls] == [expected, expected]


async def test_a_pool_group_is_recorded_before_the_callouts_sends_run(pool: Harness) -> None:
    """The first SDS names the group: with the pool, which answers at once, it is recorded
    while the callout is handled, and no send waits for a task of its own to record it."""
    await pool.callout(callout_body())  # no settle: nothing else has run yet

    assert group_of(pool, "OSL-1") == (9001, "active")
    events = talkgroup_events(pool, "OSL-1-1")
    assert [(e["state"], e.get("gssi")) for e in events] == [("creating", None), ("active", 9001)]
    audited = [
        (row["data"]["from"], row["data"]["to"])
        for row in pool.audit_rows()
        if row["kind"] == "state_change" and row["data"].get("change") == "talkgroup"
    ]
    assert audited == [("none", "creating"), ("creating", "active")]


class SlowReleasePool(PoolBackend):
    """A pool whose release waits for ``gate`` (as one that did radio I/O would)."""

    def __init__(self, gssis: GssiRange) -> None:
        super().__init__(gssis)
        self.gate = asyncio.Event()

    async def release(self, incident_id: str) -> None:
        await self.gate.wait()
        await super().release(incident_id)


async def test_a_callout_during_its_incidents_pool_release_waits_for_it(
    tmp_path: Path,
) -> None:
    backend = SlowReleasePool(GssiRange(9001, 9003))
    h = make_harness(tmp_path, backend=backend)
    try:
        await h.callout(callout_body())
        releasing = asyncio.create_task(h.incidents.release("OSL-1", reason="idle"))
        await settle()
        await h.callout(
            callout_body(callout_id="OSL-1-2", units=[(DOCTOR, "doctor")], talkgroup=True)
        )
        await settle()
        assert talkgroup_events(h, "OSL-1-2") == []  # waiting for the release

        backend.gate.set()
        await releasing
        await settle()
        # The release is announced on the incident's latest callout; then a new group,
        # recorded after it (adding the unit to the group being released would be lost).
        assert [e["state"] for e in talkgroup_events(h, "OSL-1-2")] == [
            "released",
            "creating",
            "active",
        ]
        assert group_of(h, "OSL-1") == (9001, "active")
        assert backend.gssis.held == {"OSL-1": 9001}
    finally:
        await h.stop()
        h.store.close()


async def test_dgna_group_needs_no_instruction_in_the_text(
    dgna: tuple[Harness, FakeDgna],
) -> None:
    h, _ = dgna
    h.start_engine()
    await h.callout(callout_body(text="Hjertestans"))
    await wait_until(lambda: len(h.radio.calls) == 2)
    await groups_settled(h, "OSL-1")

    assert [call.text for call in h.radio.calls] == ["Hjertestans", "Hjertestans"]
    assert group_of(h, "OSL-1") == (9001, "active")


async def test_exhausted_pool_announces_failed_and_the_callout_still_goes_out(
    tmp_path: Path,
) -> None:
    h = make_harness(tmp_path, backend=PoolBackend(GssiRange(9001, 9001)))
    try:
        h.start_engine()
        await h.callout(callout_body())
        await h.callout(callout_body(callout_id="OSL-2-1", incident_id="OSL-2", text="Brann"))
        await wait_until(lambda: len(h.radio.calls) == 4)
        await settle()

        (creating, failed) = talkgroup_events(h, "OSL-2-1")
        assert creating["state"] == "creating"
        assert (failed["state"], failed["reason"]) == ("failed", "pool_exhausted")
        assert group_of(h, "OSL-2") == (None, "failed")
        assert group_of(h, "OSL-1") == (9001, "active")
        assert sorted(c.text for c in h.radio.calls if "Brann" in c.text) == ["Brann", "Brann"]
    finally:
        await h.stop()
        h.store.close()


@pytest.mark.parametrize(
    ("failure", "reason"),
    [
        # What DgnaBackend raises when its service is down (tests/hardware/test_talkgroups.py).
        (
            TalkgroupUnavailable("DGNA service unreachable", aiohttp.ClientConnectionError("x")),
            "backend_unavailable:ClientConnectionError",
        ),
        # A backend's own socket error.
        (ConnectionRefusedError(111, "refused"), "backend_unavailable:ConnectionRefusedError"),
    ],
    ids=["unavailable", "socket-error"],
)
async def test_unreachable_dgna_service_announces_failed_with_the_cause(
    dgna: tuple[Harness, FakeDgna], failure: Exception, reason: str
) -> None:
    h, backend = dgna
    backend.fail_create = failure
    await h.callout(callout_body())
    await groups_settled(h, "OSL-1")

    failed = talkgroup_events(h, "OSL-1-1")[-1]
    assert (failed["state"], failed["reason"], failed.get("gssi")) == ("failed", reason, None)
    # The create may have reached the service all the same: the GSSI reserved for it stays
    # recorded (not announced), and the close releases what the network may hold.
    assert group_of(h, "OSL-1") == (9001, "failed")
    await h.router.handle(h.topics.incident_close("OSL-1"), b"{}")
    await wait_until(lambda: group_of(h, "OSL-1") == (9001, "released"))
    assert backend.calls == [("create", "OSL-1"), ("release", "OSL-1")]


async def test_a_refused_dgna_create_leaves_nothing_to_release(
    dgna: tuple[Harness, FakeDgna],
) -> None:
    h, backend = dgna
    backend.fail_create = TalkgroupError("DGNA create 9001 answered 403: not allowed")
    await h.callout(callout_body())
    await groups_settled(h, "OSL-1")

    assert group_of(h, "OSL-1") == (None, "failed")
    await h.router.handle(h.topics.incident_close("OSL-1"), b"{}")
    await settle()
    assert backend.calls == [("create", "OSL-1")]
    assert backend.gssis.held == {}


async def test_failure_to_add_units_keeps_the_incident_group_and_releases_it_on_close(
    dgna: tuple[Harness, FakeDgna],
) -> None:
    h, backend = dgna
    await h.callout(callout_body())
    await groups_settled(h, "OSL-1")
    backend.fail_modify = TalkgroupError("target rejected")
    await h.callout(callout_body(callout_id="OSL-1-2", units=[(DOCTOR, "doctor")], talkgroup=True))
    await settle()

    (refused,) = talkgroup_events(h, "OSL-1-2")
    assert (refused["state"], refused["gssi"], refused["reason"]) == (
        "failed",
        9001,
        "backend_refused",
    )
    assert group_of(h, "OSL-1") == (9001, "active")

    await h.router.handle(h.topics.incident_close("OSL-1"), b"{}")
    await settle()  # the release runs in a task of its own
    assert ("release", "OSL-1") in backend.calls
    assert group_of(h, "OSL-1") == (9001, "released")


# ---- release ---------------------------------------------------------------------------


async def test_closing_the_incident_releases_its_group_for_reuse(pool: Harness) -> None:
    await pool.callout(callout_body())
    await settle()
    await pool.router.handle(pool.topics.incident_close("OSL-1"), b"{}")
    await settle()  # the release runs in a task of its own

    released = talkgroup_events(pool, "OSL-1-1")[-1]
    assert (released["state"], released["gssi"], released["reason"]) == (
        "released",
        9001,
        "incident_closed",
    )
    assert group_of(pool, "OSL-1") == (9001, "released")
    await pool.callout(callout_body(callout_id="OSL-3-1", incident_id="OSL-3"))
    await settle()
    assert group_of(pool, "OSL-3") == (9001, "active")


async def test_group_is_released_once_every_unit_has_ended_its_mission(pool: Harness) -> None:
    await pool.callout(callout_body())
    await settle()

    await pool.relay.handle(StatusReceived("gw1", AMBULANCE, MISSION_ENDED, T0 + 1))
    assert group_of(pool, "OSL-1") == (9001, "active")  # one unit is still on it
    await pool.relay.handle(StatusReceived("gw1", RESPONDER, MISSION_ENDED, T0 + 2))
    await settle()  # the release runs in a task of its own

    released = talkgroup_events(pool, "OSL-1-1")[-1]
    assert (released["state"], released["reason"]) == ("released", "all_units_ended")
    assert group_of(pool, "OSL-1") == (9001, "released")


async def test_close_and_last_mission_ended_at_once_release_the_group_once(
    dgna: tuple[Harness, FakeDgna],
) -> None:
    h, backend = dgna
    await h.callout(callout_body(units=[(AMBULANCE, "ambulance")], talkgroup=True))
    await groups_settled(h, "OSL-1")

    # The mission_ended release is under way (the backend answers) when the close comes in.
    await asyncio.gather(
        h.relay.handle(StatusReceived("gw1", AMBULANCE, MISSION_ENDED, T0 + 1)),
        h.router.handle(h.topics.incident_close("OSL-1"), b"{}"),
    )

    states = [e["state"] for e in talkgroup_events(h, "OSL-1-1")]
    assert states.count("released") == 1
    assert backend.calls.count(("release", "OSL-1")) == 1


async def test_a_slow_release_holds_up_neither_the_inbound_messages_nor_the_status_relay(
    dgna: tuple[Harness, FakeDgna],
) -> None:
    # A DGNA service over the network may take up to its request timeout to answer.
    h, backend = dgna
    await h.callout(callout_body(units=[(AMBULANCE, "ambulance")], talkgroup=True))
    await h.callout(
        callout_body(
            callout_id="OSL-2-1", incident_id="OSL-2", units=[(DOCTOR, "doctor")], talkgroup=True
        )
    )
    await groups_settled(h, "OSL-1", "OSL-2")
    backend.release_gate = asyncio.Event()

    # The close is stored and answered; the next callout is not kept waiting behind it.
    await asyncio.wait_for(h.router.handle(h.topics.incident_close("OSL-1"), b"{}"), 1)
    await asyncio.wait_for(
        h.callout(callout_body(callout_id="OSL-3-1", incident_id="OSL-3", talkgroup=False)), 1
    )
    assert h.store.callout("OSL-3-1") is not None
    # Nor is the relay, when the last unit of an incident ends its mission.
    await asyncio.wait_for(h.relay.handle(StatusReceived("gw1", DOCTOR, MISSION_ENDED, T0 + 1)), 1)
    await asyncio.wait_for(h.relay.handle(StatusReceived("gw1", AMBULANCE, 0x8003, T0 + 2)), 1)
    assert group_of(h, "OSL-1") == (9001, "active")  # both releases still under way
    assert group_of(h, "OSL-2") == (9002, "active")

    backend.release_gate.set()
    await wait_until(lambda: group_of(h, "OSL-1")[1] == group_of(h, "OSL-2")[1] == "released")
    assert backend.gssis.held == {}


async def test_a_stopping_service_gives_a_release_under_way_a_moment_then_cancels_it(
    dgna: tuple[Harness, FakeDgna], monkeypatch: pytest.MonkeyPatch
) -> None:
    h, backend = dgna
    monkeypatch.setattr("gateway.incidents._RELEASE_GRACE_S", 0.05)
    await h.callout(callout_body(units=[(AMBULANCE, "ambulance")], talkgroup=True))
    await settle()
    backend.release_gate = asyncio.Event()  # never answers
    checker = asyncio.create_task(h.incidents.run(check_every_s=3600))
    await h.router.handle(h.topics.incident_close("OSL-1"), b"{}")
    await wait_until(lambda: ("release", "OSL-1") in backend.calls)
    checker.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(checker, 1)
    await settle()
    assert not h.incidents._releases  # cancelled after the grace, not left running
    assert group_of(h, "OSL-1") == (9001, "active")


async def test_close_while_the_group_is_being_created_still_releases_it(
    dgna: tuple[Harness, FakeDgna],
) -> None:
    h, backend = dgna
    backend.create_gate = asyncio.Event()
    await h.callout(callout_body())
    await wait_until(lambda: ("create", "OSL-1") in backend.calls)

    close = asyncio.create_task(h.router.handle(h.topics.incident_close("OSL-1"), b"{}"))
    await settle()
    backend.create_gate.set()
    await close
    await wait_until(lambda: group_of(h, "OSL-1")[1] == "released")
    assert backend.gssis.held == {}


async def test_idle_incident_releases_its_group_and_activity_postpones_it(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    h = make_harness(
        tmp_path, backend=PoolBackend(GssiRange(9001, 9002)), idle_release_s=600, clock=clock
    )
    checker = asyncio.create_task(h.incidents.run(check_every_s=0.001))
    try:
        await h.callout(callout_body())
        await h.callout(
            callout_body(
                callout_id="OSL-2-1",
                incident_id="OSL-2",
                units=[(DOCTOR, "doctor"), (2040102, "ambulance")],
            )
        )
        await settle()
        clock.advance(500)
        await h.relay.handle(StatusReceived("gw1", RESPONDER, 0x8002, clock()))  # en route
        clock.advance(200)

        await wait_until(lambda: group_of(h, "OSL-2")[1] == "released")
        assert group_of(h, "OSL-1") == (9001, "active")  # its last status was 200 s ago
        assert talkgroup_events(h, "OSL-2-1")[-1]["reason"] == "idle"

        clock.advance(400)
        await wait_until(lambda: group_of(h, "OSL-1")[1] == "released")
    finally:
        checker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await checker
        h.store.close()


async def test_release_that_failed_at_close_is_tried_again(
    dgna: tuple[Harness, FakeDgna],
) -> None:
    h, backend = dgna
    await h.callout(callout_body())
    await groups_settled(h, "OSL-1")
    backend.fail_release = TalkgroupUnavailable(
        "DGNA service unreachable", aiohttp.ClientConnectionError("down")
    )
    await h.router.handle(h.topics.incident_close("OSL-1"), b"{}")
    assert group_of(h, "OSL-1") == (9001, "active")

    backend.fail_release = None
    checker = asyncio.create_task(h.incidents.run(check_every_s=0.001))
    try:
        await wait_until(lambda: group_of(h, "OSL-1")[1] == "released")
    finally:
        checker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await checker
    assert talkgroup_events(h, "OSL-1-1")[-1]["reason"] == "incident_closed"
    assert backend.gssis.held == {}


# ---- restart ---------------------------------------------------------------------------


async def test_groups_held_by_open_incidents_are_restored_after_a_restart(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    path = tmp_path / "tetragw.sqlite3"
    first = make_harness(tmp_path, backend=PoolBackend(GssiRange(9001, 9003)), clock=clock)
    await first.callout(callout_body())
    await settle()
    await first.callout(callout_body(callout_id="OSL-2-1", incident_id="OSL-2"))
    await settle()
    await first.router.handle(first.topics.incident_close("OSL-1"), b"{}")
    await first.stop()
    first.store.close()

    backend = PoolBackend(GssiRange(9001, 9003))
    with Store(path, synchronous="OFF", clock=clock) as store:
        h = make_harness(tmp_path, backend=backend, clock=clock, store=store)
        h.incidents.restore()
        assert backend.gssis.held == {"OSL-2": 9002}

        await h.callout(callout_body(callout_id="OSL-3-1", incident_id="OSL-3"))
        await settle()
        assert group_of(h, "OSL-3") == (9001, "active")  # 9002 is still OSL-2's

        await h.router.handle(h.topics.incident_close("OSL-2"), b"{}")
        await settle()  # the release runs in a task of its own
        assert group_of(h, "OSL-2") == (9002, "released")
        assert backend.gssis.held == {"OSL-3": 9001}
        await h.stop()


async def run_until(h: Harness, predicate: Callable[[], bool]) -> None:
    """Run the service (with its usual 30 s period) until ``predicate()`` holds."""
    checker = asyncio.create_task(h.incidents.run())
    try:
        await wait_until(predicate)
    finally:
        checker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await checker


async def run_until_released(h: Harness, *incident_ids: str) -> None:
    await run_until(h, lambda: all(group_of(h, i)[1] == "released" for i in incident_ids))


async def test_a_closed_incidents_group_left_unreleased_is_released_after_a_restart(
    tmp_path: Path,
) -> None:
    clock = FakeClock()
    path = tmp_path / "tetragw.sqlite3"
    first_backend = FakeDgna()
    first = make_harness(tmp_path, backend=first_backend, clock=clock)
    await first.callout(callout_body())
    await groups_settled(first, "OSL-1")
    first_backend.fail_release = TalkgroupUnavailable(
        "DGNA service unreachable", aiohttp.ClientConnectionError("down")
    )
    await first.router.handle(first.topics.incident_close("OSL-1"), b"{}")
    await first.stop()  # stopped while the service was away: the retry list is gone
    first.store.close()

    backend = FakeDgna()  # the service is back; the group is still taken on the network
    with Store(path, synchronous="OFF", clock=clock) as store:
        h = make_harness(tmp_path, backend=backend, clock=clock, store=store)
        assert group_of(h, "OSL-1") == (9001, "active")
        h.incidents.restore()
        assert backend.gssis.held == {"OSL-1": 9001}

        await run_until_released(h, "OSL-1")  # at once, not after the checker's period
        assert backend.calls == [("release", "OSL-1")]
        assert backend.gssis.held == {}
        last = talkgroup_events(h, "OSL-1-1")[-1]
        assert (last["state"], last["gssi"], last["reason"]) == (
            "released",
            9001,
            "incident_closed",
        )
        await h.stop()


async def test_a_restart_does_not_release_a_group_that_another_incident_has_since_taken(
    tmp_path: Path,
) -> None:
    """A closed incident's group that was never released, whose GSSI was handed out again
    (the pool's, or a DGNA group that expired on the network): the GSSI's newest holder keeps
    it, and the closed incident's record is only marked released."""
    clock = FakeClock()
    path = tmp_path / "tetragw.sqlite3"
    with Store(path, synchronous="OFF", clock=clock) as store:
        # Each incident opened one second after the one before: A, B, C, D, E.
        for incident_id, gssi, closed in (
            ("A", 9001, True),
            ("B", 9001, False),  # open: holds 9001 whatever a closed incident's record says
            ("C", 9002, True),  # closed, and nobody else has 9002: released by the backend
            ("D", 9003, True),
            ("E", 9003, True),  # handed 9003 after D: E holds it
        ):
            clock.advance(1.0)
            with store.transaction() as tx:
                tx.accept_callout(
                    NewCallout(
                        callout_id=f"{incident_id}-1",
                        incident_id=incident_id,
                        units=(UnitAssignment(AMBULANCE, "ambulance"),),
                        text="Hjertestans",
                        deadline_s=60,
                        talkgroup=True,
                        priority="1A",
                    )
                )
                tx.set_talkgroup(incident_id, gssi=gssi, state="active")
                if closed:
                    tx.close_incident(incident_id)

        backend = FakeDgna()
        h = make_harness(tmp_path, backend=backend, clock=clock, store=store)
        h.incidents.restore()
        assert backend.gssis.held == {"B": 9001, "C": 9002, "E": 9003}
        for incident_id in ("A", "D"):
            assert group_of(h, incident_id)[1] == "released"
            assert talkgroup_events(h, f"{incident_id}-1")[-1]["reason"] == "reassigned"

        await run_until_released(h, "C", "E")
        assert sorted(backend.calls) == [("release", "C"), ("release", "E")]
        assert backend.gssis.held == {"B": 9001}
        assert group_of(h, "B") == (9001, "active")
        await h.stop()


async def test_a_dgna_create_records_its_gssi_before_the_network_answers(
    dgna: tuple[Harness, FakeDgna],
) -> None:
    h, backend = dgna
    backend.create_gate = asyncio.Event()  # the network has not answered yet
    await h.callout(callout_body())
    await wait_until(lambda: group_of(h, "OSL-1") == (9001, "creating"))
    assert [e["state"] for e in talkgroup_events(h, "OSL-1-1")] == ["creating"]

    backend.create_gate.set()
    await groups_settled(h, "OSL-1")
    assert group_of(h, "OSL-1") == (9001, "active")


@contextlib.asynccontextmanager
async def restarted_after_a_create_cut_off(
    tmp_path: Path, *, close: bool
) -> AsyncIterator[tuple[Harness, FakeDgna]]:
    """A gateway restarted (and its groups restored) after one whose DGNA create for OSL-1
    was under way (GSSI 9001 reserved) when it stopped; with ``close``, dispatch closed the
    incident meanwhile, and the release the stop let run found the service away."""
    clock = FakeClock()
    backend = FakeDgna()
    backend.create_gate = asyncio.Event()
    backend.fail_release = TalkgroupUnavailable(
        "DGNA service unreachable", aiohttp.ClientConnectionError("down")
    )
    first = make_harness(tmp_path, backend=backend, clock=clock)
    service = asyncio.create_task(first.incidents.run())
    await first.callout(callout_body())
    await wait_until(lambda: group_of(first, "OSL-1") == (9001, "creating"))
    if close:
        await first.router.handle(first.topics.incident_close("OSL-1"), b"{}")
    service.cancel()  # the stop: the create is cancelled (the release waits for it in vain)
    with contextlib.suppress(asyncio.CancelledError):
        await service
    await first.stop()
    first.store.close()

    backend = FakeDgna()
    with Store(tmp_path / "tetragw.sqlite3", synchronous="OFF", clock=clock) as store:
        h = make_harness(tmp_path, backend=backend, clock=clock, store=store)
        h.incidents.restore()
        try:
            yield h, backend
        finally:
            await h.stop()


async def test_an_open_incidents_group_cut_off_while_created_is_created_after_a_restart(
    tmp_path: Path,
) -> None:
    async with restarted_after_a_create_cut_off(tmp_path, close=False) as (h, backend):
        assert backend.gssis.held == {"OSL-1": 9001}  # not handed to another incident
        await run_until(h, lambda: group_of(h, "OSL-1") == (9001, "active"))
        assert backend.calls == [("create", "OSL-1")]  # the held GSSI: taken up
        last = talkgroup_events(h, "OSL-1-1")[-1]
        assert (last["state"], last["gssi"], last["attached"]) == (
            "active",
            9001,
            [AMBULANCE, RESPONDER],
        )


async def test_a_closed_incidents_group_cut_off_while_created_is_released_after_a_restart(
    tmp_path: Path,
) -> None:
    async with restarted_after_a_create_cut_off(tmp_path, close=True) as (h, backend):
        await run_until_released(h, "OSL-1")
        assert backend.calls == [("release", "OSL-1")]  # the network may hold it: asked
        assert backend.gssis.held == {}
