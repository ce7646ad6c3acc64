"""`tetragw send` against a real Mosquitto: what arrives on the broker, and how `--wait`
follows a callout's events (a fake gateway answers on the events topic)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiomqtt
import pytest

from gateway.cli import main
from gateway.cmd_send import CalloutProgress, build_callout, default_callout_id
from tests.integration.mosquitto import MosquittoBroker, find_mosquitto, free_port

pytestmark = pytest.mark.integration

WAIT_S = 15.0  # a guard against hanging, never a measured bound
TEXT = "Hjertestans. Storgata 1, Oslo. Mann 67 år."


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[MosquittoBroker]:
    find_mosquitto()
    running = MosquittoBroker(workdir=tmp_path)
    running.start()
    try:
        yield running
    finally:
        running.stop()


@asynccontextmanager
async def subscribed(broker: MosquittoBroker, topic: str) -> AsyncIterator[aiomqtt.Client]:
    async with aiomqtt.Client(broker.host, broker.port, identifier="test-observer") as client:
        await client.subscribe(topic, qos=1)
        yield client


async def next_message(client: aiomqtt.Client) -> aiomqtt.Message:
    async with asyncio.timeout(WAIT_S):
        async for message in client.messages:
            return message
    raise AssertionError("the message iterator ended")


def payload_of(message: aiomqtt.Message) -> Any:
    assert isinstance(message.payload, bytes)
    return json.loads(message.payload)


async def send(*argv: str) -> int:
    """Run ``tetragw send`` in a thread (it runs its own event loop)."""
    return await asyncio.to_thread(main, ["send", *argv])


async def fake_gateway(client: aiomqtt.Client, outcomes: dict[int, str]) -> dict[str, Any]:
    """Take one callout and answer: accepted, then each listed unit's event."""
    callout: dict[str, Any] = payload_of(await next_message(client))
    topic = f"tetragw/v1/callouts/{callout['callout_id']}/events"
    base = {"callout_id": callout["callout_id"], "incident_id": callout["incident_id"]}
    at = "2026-11-21T22:19:05.123Z"
    await client.publish(topic, json.dumps({**base, "event": "accepted", "at": at}), qos=1)
    for issi, kind in outcomes.items():
        event = {**base, "event": kind, "issi": issi, "at": at}
        await client.publish(topic, json.dumps(event), qos=1)
    return callout


def callout_args(broker: MosquittoBroker, *extra: str) -> list[str]:
    return [
        "--broker",
        broker.url,
        "--incident",
        "OSL-2026-000123",
        "--unit",
        "2040101:ambulance",
        "--unit",
        "2047001:first_responder",
        "--text",
        TEXT,
        *extra,
    ]


async def test_callout_arrives_validated_at_qos1_under_the_given_root(
    broker: MosquittoBroker, capsys: pytest.CaptureFixture[str]
) -> None:
    async with subscribed(broker, "amk/v1/callouts") as observer:
        status = await send(
            *callout_args(broker),
            "--root",
            "amk",
            "--callout-id",
            "OSL-2026-000123-1",
            "--priority",
            "1A",
            "--deadline",
            "30",
            "--no-talkgroup",
        )
        message = await next_message(observer)
    assert status == 0
    assert message.qos == 1
    assert payload_of(message) == {
        "callout_id": "OSL-2026-000123-1",
        "incident_id": "OSL-2026-000123",
        "units": [
            {"issi": 2040101, "role": "ambulance"},
            {"issi": 2047001, "role": "first_responder"},
        ],
        "text": TEXT,
        "talkgroup": False,
        "deadline_s": 30,
        "priority": "1A",
    }
    assert capsys.readouterr().out.splitlines() == ["OSL-2026-000123-1"]


async def test_default_callout_id_is_the_incident_id_with_a_random_suffix(
    broker: MosquittoBroker, capsys: pytest.CaptureFixture[str]
) -> None:
    async with subscribed(broker, "tetragw/v1/callouts") as observer:
        assert await send(*callout_args(broker)) == 0
        callout = payload_of(await next_message(observer))
    assert callout["callout_id"].startswith("OSL-2026-000123-")
    assert len(callout["callout_id"]) == len("OSL-2026-000123-") + 6
    assert "talkgroup" not in callout  # the gateway's default applies
    assert capsys.readouterr().out.strip() == callout["callout_id"]


async def test_invalid_callout_is_refused_and_never_published(
    broker: MosquittoBroker, capsys: pytest.CaptureFixture[str]
) -> None:
    async with subscribed(broker, "tetragw/v1/callouts") as observer:
        bad = await send(
            "--broker", broker.url, "--incident", "X-1", "--unit", "16777216", "--text", "hei"
        )
        good = await send(
            "--broker", broker.url, "--incident", "X-2", "--unit", "2040101", "--text", "hei"
        )
        first = payload_of(await next_message(observer))
    assert (bad, good) == (2, 0)
    assert first["incident_id"] == "X-2"  # the invalid one never reached the broker
    err = capsys.readouterr().err
    assert "units[0].issi" in err
    assert "16777216" not in err  # the detail names the field, never the value


async def test_wait_prints_every_event_and_exits_0_when_all_delivered(
    broker: MosquittoBroker, capsys: pytest.CaptureFixture[str]
) -> None:
    async with subscribed(broker, "tetragw/v1/callouts") as gateway:
        answer = asyncio.create_task(fake_gateway(gateway, {2040101: "delivered", 2047001: "read"}))
        status = await send(*callout_args(broker, "--wait", "20"))
        callout = await answer
    assert status == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(e["event"], e.get("issi")) for e in lines] == [
        ("accepted", None),
        ("delivered", 2040101),
        ("read", 2047001),
    ]
    assert {e["callout_id"] for e in lines} == {callout["callout_id"]}


async def test_wait_exits_3_when_a_unit_is_unreached(
    broker: MosquittoBroker, capsys: pytest.CaptureFixture[str]
) -> None:
    async with subscribed(broker, "tetragw/v1/callouts") as gateway:
        answer = asyncio.create_task(
            fake_gateway(gateway, {2040101: "delivered", 2047001: "unreached"})
        )
        status = await send(*callout_args(broker, "--wait", "20"))
        await answer
    assert status == 3
    assert len(capsys.readouterr().out.splitlines()) == 3


async def test_wait_exits_4_when_it_ends_before_every_unit_is_final(
    broker: MosquittoBroker, capsys: pytest.CaptureFixture[str]
) -> None:
    async with subscribed(broker, "tetragw/v1/callouts") as gateway:
        answer = asyncio.create_task(fake_gateway(gateway, {2040101: "delivered"}))
        status = await send(*callout_args(broker, "--wait", "1"))
        await answer
    assert status == 4
    events = [json.loads(line)["event"] for line in capsys.readouterr().out.splitlines()]
    assert events == ["accepted", "delivered"]


async def test_close_publishes_the_incident_close_with_its_reason(
    broker: MosquittoBroker,
) -> None:
    async with subscribed(broker, "tetragw/v1/incidents/+/close") as observer:
        status = await send(
            "--broker", broker.url, "--close", "OSL-2026-000123", "--reason", "Pasient levert"
        )
        message = await next_message(observer)
    assert status == 0
    assert message.topic.value == "tetragw/v1/incidents/OSL-2026-000123/close"
    assert message.qos == 1
    assert payload_of(message) == {"reason": "Pasient levert"}


async def test_unreachable_broker_exits_1_with_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    port = free_port()  # nobody listens there
    status = await send(
        "--broker", f"mqtt://127.0.0.1:{port}", "--incident", "X", "--unit", "1", "--text", "hei"
    )
    assert status == 1
    assert len(capsys.readouterr().err.splitlines()) == 1


def test_callout_without_units_or_text_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["send", "--broker", "mqtt://127.0.0.1", "--incident", "X"])
    assert exit_info.value.code == 2
    assert "--unit, --text" in capsys.readouterr().err


def test_unit_must_be_issi_with_optional_role(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(
            [
                "send",
                "--broker",
                "mqtt://h",
                "--incident",
                "X",
                "--unit",
                "ambulance",
                "--text",
                "t",
            ]
        )
    assert "ISSI[:ROLE]" in capsys.readouterr().err


def test_default_callout_id_fits_the_64_character_limit() -> None:
    long_incident = "I" * 64
    callout_id = default_callout_id(long_incident, suffix="abcdef")
    assert len(callout_id) == 64
    assert callout_id.endswith("-abcdef")
    request = build_callout(incident_id=long_incident, units=[{"issi": 1}], text="t")
    assert len(request.callout_id) == 64


def test_progress_counts_the_first_final_event_of_each_unit() -> None:
    progress = CalloutProgress((1, 2))
    progress.feed({"event": "delivered", "issi": 1})
    progress.feed({"event": "unreached", "issi": 1})  # a late duplicate changes nothing
    assert not progress.done
    assert progress.exit_status() == 4
    progress.feed({"event": "read", "issi": 2})
    assert progress.done
    assert progress.exit_status() == 0
    rejected = CalloutProgress((1,))
    rejected.feed({"event": "rejected", "reason": "text_too_long"})
    assert (rejected.done, rejected.exit_status()) == (True, 1)
