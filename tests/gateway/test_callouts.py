"""The callout engine over a real SQLite store and a scripted radio: accepting, sending,
retrying with backoff to the deadline, duplicates, restarts and the parallel-alert policy."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from gateway.audit import read_entries
from gateway.callouts import CalloutEngine, RetryPolicy
from gateway.publisher import Publisher
from gateway.store import IncidentClosedError, NewCallout, Store, Transaction, UnitAssignment
from hardware.delivery import ReportLevel, SendOutcome
from hardware.radio_events import DeliveryReported
from protocols.dispatch import CalloutRequest, Topics
from tests.gateway.fakes import (
    T0,
    FakeClock,
    Harness,
    Hold,
    ScriptedRadio,
    callout_body,
    count_by,
    delivered,
    failed,
    make_harness,
    read,
    settle,
    wait_until,
)

AMBULANCE = 2040101
RESPONDER = 2047001
DOCTOR = 2043001
FINAL = {"delivered", "read", "unreached"}


def request(**overrides: Any) -> CalloutRequest:
    return CalloutRequest.model_validate(callout_body(**overrides))


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    h = make_harness(tmp_path)
    yield h
    await h.stop()
    h.store.close()


def all_final(h: Harness, callout_id: str) -> bool:
    return all(send.is_final for send in h.store.sends_of(callout_id))


async def run_to_the_end(h: Harness, callout_id: str, *, step_s: float = 1.0) -> None:
    """Advance the clock step by step until every send of the callout is final."""
    for _ in range(4000):
        await settle()
        if all_final(h, callout_id):
            return
        await h.advance(step_s)
    raise AssertionError("callout never finished")


def final_events(h: Harness, callout_id: str, issi: int) -> list[str]:
    return [e for e in h.unit_events(callout_id, issi) if e in FINAL]


# ---- accepting -----------------------------------------------------------------------


def test_accept_stores_callout_sends_and_accepted_event_before_any_radio_call(
    harness: Harness,
) -> None:
    acceptance = harness.engine.accept(request(), topic=harness.topics.callouts())

    assert acceptance.created
    stored = harness.store.callout("OSL-1-1")
    assert stored is not None
    assert stored.deadline_at == T0 + 60
    assert [(s.issi, s.state) for s in harness.store.sends_of("OSL-1-1")] == [
        (AMBULANCE, "pending"),
        (RESPONDER, "pending"),
    ]
    events = harness.events("OSL-1-1")
    assert [e["event"] for e in events] == ["accepted"]
    assert "issi" not in events[0]
    assert events[0]["priority"] == "1A"
    assert harness.radio.calls == []  # nothing goes to a radio before the engine runs


def test_accept_is_one_transaction_so_a_failure_after_storing_leaves_nothing(
    tmp_path: Path,
) -> None:
    class BrokenPublisher(Publisher):
        def timeline_of(self, tx: Transaction, incident_id: str) -> None:
            raise RuntimeError("disk full")

    clock = FakeClock()
    with Store(tmp_path / "s.sqlite3", synchronous="OFF", clock=clock) as store:
        engine = CalloutEngine(
            store=store,
            publisher=BrokenPublisher(Topics("tetragw")),
            radios=ScriptedRadio(),
            notify_outbox=lambda: None,
            clock=clock,
        )
        with pytest.raises(RuntimeError):
            engine.accept(request(), topic="tetragw/v1/callouts")

        assert store.callout("OSL-1-1") is None
        assert store.sends_of("OSL-1-1") == []
        assert store.incident("OSL-1") is None
        assert store.pending_outbox() == []


async def test_duplicate_callout_id_alerts_nobody_again_and_answers_unit_states(
    harness: Harness,
) -> None:
    harness.start_engine()
    harness.engine.accept(request(), topic="t")
    await wait_until(lambda: all_final(harness, "OSL-1-1"))
    calls_before = len(harness.radio.calls)

    again = harness.engine.accept(request(), topic="t")
    await harness.advance(1)

    assert not again.created
    assert len(harness.radio.calls) == calls_before == 2
    answer = harness.events("OSL-1-1")[-1]
    assert answer["event"] == "accepted"
    assert answer["duplicate"] is True
    assert answer["unit_states"] == {str(AMBULANCE): "delivered", str(RESPONDER): "delivered"}
    assert "reason" not in answer


def test_duplicate_callout_id_with_other_content_is_flagged_conflicting(
    harness: Harness,
) -> None:
    harness.engine.accept(request(), topic="t")
    harness.engine.accept(request(text="Another text"), topic="t")

    answer = harness.events("OSL-1-1")[-1]
    assert answer["duplicate"] is True
    assert answer["reason"] == "conflicting_duplicate"
    assert answer["unit_states"] == {str(AMBULANCE): "pending", str(RESPONDER): "pending"}


async def test_callout_to_a_closed_incident_is_rejected_and_stores_nothing(
    harness: Harness,
) -> None:
    harness.engine.accept(request(), topic="t")
    assert await harness.incidents.close("OSL-1", reason=None)

    with pytest.raises(IncidentClosedError):
        harness.engine.accept(request(callout_id="OSL-1-2"), topic="t")

    await harness.callout(callout_body(callout_id="OSL-1-3"))
    assert harness.store.callout("OSL-1-2") is None
    assert harness.store.callout("OSL-1-3") is None
    events = harness.events("OSL-1-3")
    assert [(e["event"], e["reason"]) for e in events] == [("rejected", "incident_closed")]


# ---- sending and outcomes ------------------------------------------------------------


async def test_send_asks_for_read_reports_waits_for_delivery_and_names_the_send(
    harness: Harness,
) -> None:
    harness.engine.accept(request(units=[(AMBULANCE, "ambulance")]), topic="t")
    harness.start_engine()
    await wait_until(lambda: all_final(harness, "OSL-1-1"))

    (call,) = harness.radio.calls
    (send,) = harness.store.sends_of("OSL-1-1")
    assert call.issi == AMBULANCE
    assert call.text == "Hjertestans. Storgata 1, Oslo. Mann 67 år."
    assert call.reports == ReportLevel.READ
    assert call.wait_for == ReportLevel.DELIVERED
    assert call.send_id == str(send.send_id)


async def test_callouts_of_an_urgent_priority_label_are_sent_urgent_in_any_case(
    tmp_path: Path,
) -> None:
    h = make_harness(tmp_path, urgent_priorities=("1A", "Akutt"))
    try:
        labels = {"C-1": "1a", "C-2": " AKUTT ", "C-3": "2", "C-4": None}
        for n, (callout_id, label) in enumerate(labels.items()):
            body = callout_body(
                callout_id=callout_id, incident_id=f"I-{n}", units=[(AMBULANCE + n, "ambulance")]
            )
            body["priority"] = label
            h.engine.accept(CalloutRequest.model_validate(body), topic="t")
        h.start_engine()
        await wait_until(lambda: len(h.radio.calls) == 4)
        urgent = {call.issi - AMBULANCE: call.urgent for call in h.radio.calls}
        assert urgent == {0: True, 1: True, 2: False, 3: False}
        # The audit entry of each radio command says so.
        commands = {
            e.issi - AMBULANCE: e.data["urgent"]
            for e in read_entries(h.store._conn)
            if e.kind == "radio_command" and e.issi is not None
        }
        assert commands == urgent
    finally:
        await h.stop()
        h.store.close()


async def test_without_urgent_priorities_no_callout_is_sent_urgent(harness: Harness) -> None:
    harness.engine.accept(request(), topic="t")  # priority "1A"
    harness.start_engine()
    await wait_until(lambda: all_final(harness, "OSL-1-1"))
    assert [call.urgent for call in harness.radio.calls] == [False, False]


async def test_unit_delivered_at_once_ends_delivered_and_the_text_is_erased(
    harness: Harness,
) -> None:
    harness.engine.accept(request(), topic="t")
    harness.start_engine()
    await wait_until(lambda: all_final(harness, "OSL-1-1"))

    for issi in (AMBULANCE, RESPONDER):
        assert harness.unit_events("OSL-1-1", issi) == ["sent", "delivered"]
    sends = harness.store.sends_of("OSL-1-1")
    assert {s.state for s in sends} == {"delivered"}
    assert {s.attempts for s in sends} == {1}
    assert harness.store.callout_text("OSL-1-1") is None
    callout = harness.store.callout("OSL-1-1")
    assert callout is not None
    assert callout.state == "completed"


async def test_unit_failing_twice_then_delivered_reports_retrying_with_attempt_counts(
    harness: Harness,
) -> None:
    harness.radio.script(AMBULANCE, failed("delivery_status_0x41"), failed("busy"), delivered())
    harness.engine.accept(request(units=[(AMBULANCE, "ambulance")]), topic="t")
    harness.start_engine()

    await run_to_the_end(harness, "OSL-1-1")

    events = [e for e in harness.events("OSL-1-1") if e.get("issi") == AMBULANCE]
    assert [(e["event"], e.get("attempt"), e.get("reason")) for e in events] == [
        ("retrying", 1, "delivery_status_0x41"),
        ("retrying", 2, "busy"),
        ("sent", 3, None),
        ("delivered", 3, None),
    ]
    assert len(harness.radio.calls) == 3
    (send,) = harness.store.sends_of("OSL-1-1")
    assert (send.state, send.attempts) == ("delivered", 3)


async def test_unit_always_failing_is_unreached_at_the_deadline_with_the_last_reason(
    harness: Harness,
) -> None:
    harness.radio.script(RESPONDER, failed("delivery_status_0x42"))
    harness.engine.accept(request(deadline_s=20), topic="t")
    harness.start_engine()

    await run_to_the_end(harness, "OSL-1-1")

    unreached = [e for e in harness.events("OSL-1-1") if e["event"] == "unreached"]
    assert [(e["issi"], e["reason"]) for e in unreached] == [(RESPONDER, "delivery_status_0x42")]
    assert harness.clock() >= T0 + 20  # not before the deadline
    (send,) = [s for s in harness.store.sends_of("OSL-1-1") if s.issi == RESPONDER]
    assert send.state == "unreached"
    assert send.attempts == len(harness.radio.calls_to(RESPONDER)) >= 3
    assert final_events(harness, "OSL-1-1", AMBULANCE) == ["delivered"]
    # The documentation record says when the unit was given up, and only for that unit.
    timeline = harness.on(harness.topics.incident_timeline("OSL-1"))[-1]
    lines = {u["issi"]: u for u in timeline["units"]}
    assert lines[RESPONDER]["unreached_at"] is not None
    assert lines[RESPONDER]["delivered_at"] is None
    assert lines[AMBULANCE]["unreached_at"] is None


async def test_radio_timeout_ends_the_unit_unreached(harness: Harness) -> None:
    harness.radio.script(AMBULANCE, SendOutcome("timeout", "no_radio_up"))
    harness.radio.script(RESPONDER, SendOutcome("timeout", radio="gw1"))
    harness.engine.accept(request(), topic="t")
    harness.start_engine()
    await wait_until(lambda: all_final(harness, "OSL-1-1"))

    unreached = {
        e["issi"]: e["reason"] for e in harness.events("OSL-1-1") if e["event"] == "unreached"
    }
    assert unreached == {AMBULANCE: "no_radio_up", RESPONDER: "deadline"}
    assert len(harness.radio.calls) == 2


async def test_radio_exception_is_an_internal_error_and_is_retried(harness: Harness) -> None:
    harness.radio.script(AMBULANCE, RuntimeError("driver bug"), delivered())
    harness.engine.accept(request(units=[(AMBULANCE, "ambulance")]), topic="t")
    harness.start_engine()

    await run_to_the_end(harness, "OSL-1-1")

    assert [(e["event"], e.get("reason")) for e in harness.events("OSL-1-1") if e.get("issi")] == [
        ("retrying", "internal_error"),
        ("sent", None),
        ("delivered", None),
    ]


async def test_read_outcome_reports_delivered_then_read(harness: Harness) -> None:
    harness.radio.script(AMBULANCE, read())
    harness.engine.accept(request(units=[(AMBULANCE, "ambulance")]), topic="t")
    harness.start_engine()
    await wait_until(lambda: all_final(harness, "OSL-1-1"))

    assert harness.unit_events("OSL-1-1", AMBULANCE) == ["sent", "delivered", "read"]
    (send,) = harness.store.sends_of("OSL-1-1")
    assert send.state == "read"


async def test_read_reported_after_delivery_is_published_once(harness: Harness) -> None:
    harness.engine.accept(request(units=[(AMBULANCE, "ambulance")]), topic="t")
    harness.start_engine()
    await wait_until(lambda: all_final(harness, "OSL-1-1"))
    (send,) = harness.store.sends_of("OSL-1-1")

    report = DeliveryReported("gw1", AMBULANCE, str(send.send_id), "read", T0 + 5)
    await harness.relay.handle(report)
    await harness.relay.handle(report)  # the same report heard again

    assert harness.unit_events("OSL-1-1", AMBULANCE) == ["sent", "delivered", "read"]
    stored = harness.store.send(send.send_id)
    assert stored is not None
    assert stored.state == "read"


async def test_every_unit_ends_in_exactly_one_final_outcome(harness: Harness) -> None:
    units = [(2040000 + n, "ambulance") for n in range(6)]
    harness.radio.script(2040000, delivered())
    harness.radio.script(2040001, failed(), failed(), delivered())
    harness.radio.script(2040002, failed("unit_memory_full"))
    harness.radio.script(2040003, SendOutcome("timeout"))
    harness.radio.script(2040004, ValueError("boom"), read())
    harness.radio.script(2040005, read())
    harness.engine.accept(request(units=units, deadline_s=30), topic="t")
    harness.start_engine()

    await run_to_the_end(harness, "OSL-1-1")
    await harness.advance(100)  # nothing changes after the end

    outcome = {issi: final_events(harness, "OSL-1-1", issi) for issi, _ in units}
    assert outcome == {
        2040000: ["delivered"],
        2040001: ["delivered"],
        2040002: ["unreached"],
        2040003: ["unreached"],
        2040004: ["delivered", "read"],
        2040005: ["delivered", "read"],
    }
    for issi, _ in units:
        counts = count_by(harness.unit_events("OSL-1-1", issi))
        assert counts.get("unreached", 0) + counts.get("delivered", 0) == 1


# ---- backoff -------------------------------------------------------------------------


def test_retry_delays_grow_exponentially_and_are_capped() -> None:
    policy = RetryPolicy(initial_s=2.0, max_s=30.0, jitter=0.0)
    assert [policy.delay(n) for n in range(1, 8)] == [2, 4, 8, 16, 30, 30, 30]


def test_retry_jitter_stays_within_its_bounds() -> None:
    policy = RetryPolicy(initial_s=2.0, max_s=30.0, jitter=0.2)
    for attempt in (1, 3, 10):
        base = min(30.0, 2.0 * 2 ** (attempt - 1))
        delays = [policy.delay(attempt) for _ in range(200)]
        assert all(base * 0.8 <= d <= base * 1.2 for d in delays)
        assert len(set(delays)) > 1  # jitter spreads retries of many units


async def test_retries_follow_the_backoff_schedule(harness: Harness) -> None:
    harness.radio.script(AMBULANCE, failed())
    harness.engine.accept(request(units=[(AMBULANCE, "ambulance")], deadline_s=60), topic="t")
    harness.start_engine()
    await wait_until(lambda: len(harness.radio.calls) == 1)
    await settle()

    scheduled: list[float] = []
    for _ in range(4):
        (send,) = harness.store.sends_of("OSL-1-1")
        assert send.next_attempt_at is not None
        scheduled.append(send.next_attempt_at - harness.clock())
        calls = len(harness.radio.calls)
        await harness.advance(send.next_attempt_at - harness.clock() - 0.5)
        assert len(harness.radio.calls) == calls  # not before it is due
        await harness.advance(0.5)
        await wait_until(lambda: len(harness.radio.calls) == calls + 1)  # noqa: B023
        await settle()
    assert scheduled == [2.0, 4.0, 8.0, 16.0]


async def test_no_retry_is_scheduled_or_announced_past_the_deadline(tmp_path: Path) -> None:
    # 4 s then 8 s of backoff: the second retry would come after the 10 s deadline.
    harness = make_harness(tmp_path, retry=RetryPolicy(initial_s=4.0, max_s=30.0, jitter=0.0))
    harness.radio.script(AMBULANCE, failed("a"), failed("b"), delivered())
    harness.engine.accept(request(units=[(AMBULANCE, "ambulance")], deadline_s=10), topic="t")
    deadline = T0 + 10
    harness.start_engine()

    for _ in range(40):
        await harness.advance(0.5)
        (send,) = harness.store.sends_of("OSL-1-1")
        if send.next_attempt_at is not None:
            assert send.next_attempt_at <= deadline
    assert len(harness.radio.calls) == 2
    events = [(e["event"], e.get("reason")) for e in harness.events("OSL-1-1") if e.get("issi")]
    assert events == [("retrying", "a"), ("unreached", "b")]
    unreached = harness.events("OSL-1-1")[-1]
    assert unreached["attempt"] == 2
    await harness.stop()
    harness.store.close()


# ---- restart -------------------------------------------------------------------------


def _stored_callout(path: Path, clock: FakeClock, *, deadline_s: float) -> int:
    """A previous run: a callout whose first unit was handed to a radio (``sent``)."""
    with Store(path, synchronous="OFF", clock=clock) as store:
        with store.transaction() as tx:
            acceptance = tx.accept_callout(
                NewCallout(
                    "OSL-1-1",
                    "OSL-1",
                    (UnitAssignment(AMBULANCE, "ambulance"), UnitAssignment(DOCTOR, "doctor")),
                    "Hjertestans",
                    deadline_s,
                    talkgroup=False,
                )
            )
            first = acceptance.sends[0].send_id
            tx.record_sent(first, radio="gw1", message_refs=(7,))
        return first


async def test_restart_sends_again_what_was_sent_before_and_finishes_it(tmp_path: Path) -> None:
    path = tmp_path / "tetragw.sqlite3"
    clock = FakeClock()
    first = _stored_callout(path, clock, deadline_s=60)
    clock.advance(3)

    with Store(path, synchronous="OFF", clock=clock) as store:
        h = make_harness(tmp_path, store=store, clock=clock)
        h.start_engine()
        await wait_until(lambda: all_final(h, "OSL-1-1"))
        await h.stop()

        assert sorted(call.issi for call in h.radio.calls) == [AMBULANCE, DOCTOR]
        again = store.send(first)
        assert again is not None
        assert (again.state, again.attempts) == ("delivered", 2)
        assert h.unit_events("OSL-1-1", AMBULANCE) == ["sent", "delivered"]
        assert [e["attempt"] for e in h.events("OSL-1-1") if e.get("issi") == AMBULANCE] == [2, 2]


async def test_restart_after_the_deadline_reports_unfinished_units_unreached(
    tmp_path: Path,
) -> None:
    path = tmp_path / "tetragw.sqlite3"
    clock = FakeClock()
    _stored_callout(path, clock, deadline_s=10)
    clock.advance(30)

    with Store(path, synchronous="OFF", clock=clock) as store:
        h = make_harness(tmp_path, store=store, clock=clock)
        h.start_engine()
        await wait_until(lambda: all_final(h, "OSL-1-1"))
        await h.stop()

        assert h.radio.calls == []
        assert {s.state for s in store.sends_of("OSL-1-1")} == {"unreached"}
        reasons = {e["issi"]: e["reason"] for e in h.events("OSL-1-1")}
        assert reasons == {AMBULANCE: "deadline", DOCTOR: "deadline"}


# ---- the parallel-alert policy -------------------------------------------------------


def policy_warnings(h: Harness, callout_id: str) -> list[dict[str, Any]]:
    return [e for e in h.events(callout_id) if e["event"] == "policy_warning"]


def test_first_responder_alerted_without_an_ambulance_gets_a_policy_warning(
    harness: Harness,
) -> None:
    harness.engine.accept(request(units=[(RESPONDER, "first_responder")]), topic="t")

    (warning,) = policy_warnings(harness, "OSL-1-1")
    assert warning["reason"] == "first_responder_without_ambulance"
    assert "issi" not in warning


def test_no_policy_warning_when_an_ambulance_is_in_the_same_callout(harness: Harness) -> None:
    harness.engine.accept(request(), topic="t")
    assert policy_warnings(harness, "OSL-1-1") == []


def test_policy_counts_the_ambulance_of_an_earlier_callout_of_the_incident(
    harness: Harness,
) -> None:
    harness.engine.accept(request(units=[(AMBULANCE, "ambulance")]), topic="t")
    harness.engine.accept(
        request(callout_id="OSL-1-2", units=[(RESPONDER, "first_responder")]), topic="t"
    )
    assert policy_warnings(harness, "OSL-1-2") == []


def test_policy_warns_again_for_a_later_callout_while_the_incident_has_no_ambulance(
    harness: Harness,
) -> None:
    harness.engine.accept(request(units=[(RESPONDER, "first_responder")]), topic="t")
    harness.engine.accept(
        request(callout_id="OSL-1-2", units=[(2047002, "first_responder")]), topic="t"
    )
    harness.engine.accept(
        request(callout_id="OSL-2-1", incident_id="OSL-2", units=[(AMBULANCE, "ambulance")]),
        topic="t",
    )
    assert len(policy_warnings(harness, "OSL-1-1")) == 1
    assert len(policy_warnings(harness, "OSL-1-2")) == 1
    assert policy_warnings(harness, "OSL-2-1") == []  # another incident's ambulance


def test_no_policy_warning_when_the_policy_is_off(tmp_path: Path) -> None:
    h = make_harness(tmp_path, policy_warnings=False)
    try:
        h.engine.accept(request(units=[(RESPONDER, "first_responder")]), topic="t")
        assert [e["event"] for e in h.events("OSL-1-1")] == ["accepted"]
    finally:
        h.store.close()


async def test_held_send_is_not_started_twice_while_in_flight(harness: Harness) -> None:
    hold = Hold()
    harness.radio.script(AMBULANCE, hold)
    harness.engine.accept(request(units=[(AMBULANCE, "ambulance")]), topic="t")
    harness.start_engine()
    await hold.started.wait()
    for _ in range(5):
        await harness.advance(5)

    assert len(harness.radio.calls) == 1
    hold.release()
    await wait_until(lambda: all_final(harness, "OSL-1-1"))
    assert harness.unit_events("OSL-1-1", AMBULANCE) == ["sent", "delivered"]
    assert json.loads(json.dumps(harness.events("OSL-1-1")[-1]))["attempt"] == 1


class _RunningClock(FakeClock):
    """A clock that moves with real time (from T0): for the engine's own timers."""

    def __init__(self) -> None:
        super().__init__()
        self._started = time.monotonic()

    def __call__(self) -> float:
        return self.now + time.monotonic() - self._started


async def test_a_failed_try_schedules_its_retry_without_any_other_wake_up(
    tmp_path: Path,
) -> None:
    h = make_harness(
        tmp_path,
        clock=_RunningClock(),
        retry=RetryPolicy(initial_s=0.05, max_s=0.05, jitter=0.0),
    )
    try:
        h.radio.script(AMBULANCE, failed("busy"), delivered())
        h.start_engine()
        await settle()
        h.engine.accept(request(units=[(AMBULANCE, "ambulance")]), topic="t")
        # Nothing else wakes the engine here: only the failed try's end can arm its retry.
        await wait_until(lambda: all_final(h, "OSL-1-1"), rounds=5000)
        assert h.unit_events("OSL-1-1", AMBULANCE) == ["retrying", "sent", "delivered"]
    finally:
        await h.stop()
        h.store.close()


class _TickCountingStore(Store):
    """Counts the engine's ticks: each reads every unfinished send's wake-up time."""

    ticks = 0

    def send_wakeups(self) -> list[tuple[int, float]]:
        self.ticks += 1
        return super().send_wakeups()


async def test_a_send_that_ends_final_costs_the_engine_no_tick(tmp_path: Path) -> None:
    clock = FakeClock()
    store = _TickCountingStore(tmp_path / "s.sqlite3", synchronous="OFF", clock=clock)
    h = make_harness(tmp_path, clock=clock, store=store)
    try:
        h.start_engine()
        await settle()
        before = store.ticks
        for n in range(3):
            h.engine.accept(request(callout_id=f"OSL-1-{n}"), topic="t")
        await wait_until(lambda: all(all_final(h, f"OSL-1-{n}") for n in range(3)))
        await settle()

        # A tick reads every unfinished send: with a backlog of callouts, one tick per
        # delivered SDS was a query of hundreds of rows each time.
        assert store.ticks == before
        assert len(h.radio.calls) == 6
    finally:
        await h.stop()
        store.close()
