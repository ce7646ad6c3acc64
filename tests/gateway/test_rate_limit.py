"""The callout rate limit: a token bucket per gateway instance, on new callouts only."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from gateway.inbound import InboundRouter
from gateway.rate_limit import CalloutRateLimit
from tests.gateway.fakes import FakeClock, Harness, callout_body, make_harness

# ---- the bucket ------------------------------------------------------------------------


def test_a_full_bucket_admits_a_burst_of_one_minute_then_refuses() -> None:
    clock = FakeClock(0.0)
    bucket = CalloutRateLimit(3, clock=clock)
    assert [bucket.try_take() for _ in range(4)] == [True, True, True, False]


def test_tokens_come_back_at_the_per_minute_rate() -> None:
    clock = FakeClock(0.0)
    bucket = CalloutRateLimit(6, clock=clock)  # one token every 10 s
    for _ in range(6):
        assert bucket.try_take()
    clock.advance(9.9)
    assert not bucket.try_take()
    clock.advance(0.1)
    assert bucket.try_take()
    assert not bucket.try_take()


def test_a_refused_take_costs_nothing() -> None:
    clock = FakeClock(0.0)
    bucket = CalloutRateLimit(1, clock=clock)
    assert bucket.try_take()
    clock.advance(30.0)
    for _ in range(5):
        assert not bucket.try_take()
    clock.advance(30.0)
    assert bucket.try_take()


def test_an_idle_bucket_never_holds_more_than_one_minute() -> None:
    clock = FakeClock(0.0)
    bucket = CalloutRateLimit(2, clock=clock)
    clock.advance(3600.0)
    assert bucket.tokens == 2.0
    assert [bucket.try_take() for _ in range(3)] == [True, True, False]


def test_a_token_given_back_is_capped_at_capacity() -> None:
    clock = FakeClock(0.0)
    bucket = CalloutRateLimit(2, clock=clock)
    bucket.give_back()
    assert bucket.tokens == 2.0
    assert bucket.try_take()
    bucket.give_back()
    assert bucket.tokens == 2.0


def test_a_clock_stepping_back_does_not_drain_the_bucket() -> None:
    clock = FakeClock(100.0)
    bucket = CalloutRateLimit(2, clock=clock)
    assert bucket.try_take()
    clock.advance(-50.0)
    assert bucket.try_take()
    clock.advance(30.0)  # back at 80 s: the refill counts from the latest reading (50 s)
    assert bucket.try_take()


def test_a_rate_below_one_per_minute_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        CalloutRateLimit(0)


# ---- through the inbound router --------------------------------------------------------


class Limited:
    """The harness, with a router that holds a rate limit of ``per_minute`` on its clock."""

    def __init__(self, harness: Harness, per_minute: int) -> None:
        self.h = harness
        self.bucket = CalloutRateLimit(per_minute, clock=harness.clock)
        self.router = InboundRouter(
            topics=harness.topics,
            store=harness.store,
            publisher=harness.publisher,
            callouts=harness.engine,
            incidents=harness.incidents,
            pool=harness.radio,
            notify_outbox=lambda: None,
            rate_limit=self.bucket,
        )

    async def callout(self, callout_id: str, incident_id: str = "OSL-1", **extra: Any) -> None:
        body = callout_body(callout_id, incident_id, **extra)
        await self.router.handle(self.h.topics.callouts(), json.dumps(body).encode())

    def kinds(self, callout_id: str) -> list[tuple[str, str | None]]:
        return [(e["event"], e.get("reason")) for e in self.h.events(callout_id)]

    def errors(self) -> list[dict[str, Any]]:
        return self.h.on(self.h.topics.errors())


@pytest.fixture
async def limited(tmp_path: Path) -> AsyncIterator[Limited]:
    harness = make_harness(tmp_path)
    yield Limited(harness, per_minute=2)
    await harness.stop()
    harness.store.close()


async def test_new_callouts_beyond_the_rate_are_rejected_rate_limited(limited: Limited) -> None:
    await limited.callout("C-1")
    await limited.callout("C-2")
    await limited.callout("C-3", "OSL-3")
    assert limited.kinds("C-1")[0] == ("accepted", None)
    assert limited.kinds("C-2")[0] == ("accepted", None)
    assert limited.kinds("C-3") == [("rejected", "rate_limited")]
    (error,) = limited.errors()
    assert error == {
        "topic": "tetragw/v1/callouts",
        "error": "rate_limited",
        "detail": "callouts: more new callouts than [limits] callouts_per_minute_per_client",
    }
    # Refused means nothing stored: no callout, no incident opened for it.
    assert limited.h.store.callout("C-3") is None
    assert limited.h.store.incident("OSL-3") is None


async def test_the_rate_refusal_names_no_value_of_the_callout(limited: Limited) -> None:
    for n in range(3):
        await limited.callout(f"C-{n}", text="Kari Nordmann, Storgata 1")
    (error,) = limited.errors()
    assert "Storgata" not in json.dumps(error)
    assert "C-2" not in error["detail"]
    assert "2040101" not in error["detail"]


async def test_a_duplicate_of_an_accepted_callout_is_answered_even_with_no_tokens_left(
    limited: Limited,
) -> None:
    await limited.callout("C-1")
    await limited.callout("C-2")
    assert limited.bucket.tokens < 1.0
    await limited.callout("C-1")  # the CAD's retry, or the broker's redelivery
    await limited.callout("C-1")
    duplicates = [e for e in limited.h.events("C-1") if e.get("duplicate")]
    assert [e["event"] for e in duplicates] == ["accepted", "accepted"]
    assert ("rejected", "rate_limited") not in limited.kinds("C-1")
    assert limited.errors() == []


async def test_a_duplicate_takes_no_token(limited: Limited) -> None:
    await limited.callout("C-1")
    await limited.callout("C-1")
    await limited.callout("C-1")
    await limited.callout("C-2")
    assert limited.kinds("C-2")[0] == ("accepted", None)


async def test_a_callout_refused_for_its_content_takes_no_token(limited: Limited) -> None:
    await limited.callout("C-BAD", text="x" * 5000)  # over max_text_length
    await limited.callout("C-BAD-2", text="y" * 5000)
    await limited.callout("C-1")
    await limited.callout("C-2")
    assert limited.kinds("C-BAD") == [("rejected", "text_too_long")]
    assert limited.kinds("C-1")[0] == ("accepted", None)
    assert limited.kinds("C-2")[0] == ("accepted", None)


async def test_a_callout_to_a_closed_incident_gives_its_token_back(limited: Limited) -> None:
    await limited.callout("C-1", "OSL-1")
    await limited.router.handle(limited.h.topics.incident_close("OSL-1"), b"{}")
    tokens = limited.bucket.tokens
    await limited.callout("C-2", "OSL-1")
    assert limited.kinds("C-2") == [("rejected", "incident_closed")]
    assert limited.bucket.tokens == tokens


async def test_the_rate_recovers_as_the_clock_moves(limited: Limited) -> None:
    await limited.callout("C-1")
    await limited.callout("C-2")
    await limited.callout("C-3", "OSL-3")
    assert limited.kinds("C-3") == [("rejected", "rate_limited")]
    limited.h.clock.advance(30.0)  # 2 per minute: one token back
    await limited.callout("C-4", "OSL-4")
    await limited.callout("C-5", "OSL-5")
    assert limited.kinds("C-4")[0] == ("accepted", None)
    assert limited.kinds("C-5") == [("rejected", "rate_limited")]


async def test_a_rate_limited_callout_id_may_be_sent_again_later(limited: Limited) -> None:
    """A refusal stores nothing: the CAD retrying the same id later gets it accepted."""
    await limited.callout("C-1")
    await limited.callout("C-2")
    await limited.callout("C-3", "OSL-3")
    limited.h.clock.advance(30.0)
    await limited.callout("C-3", "OSL-3")
    assert limited.kinds("C-3") == [("rejected", "rate_limited"), ("accepted", None)]
