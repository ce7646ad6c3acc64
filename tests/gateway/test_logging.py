"""JSON-lines logging and the personal-data safety net."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from gateway.logging import (
    bound_ids,
    configure_logging,
    get_logger,
    personal_data_digest,
    reset_logging,
)

CALLOUT_TEXT = "Hjertestans. Storgata 1, Oslo. Mann 67 år."


@pytest.fixture
def output() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    configure_logging("info", stream=stream)
    yield stream
    reset_logging()


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_each_event_is_one_json_line_with_iso_utc_timestamp_and_level(
    output: io.StringIO,
) -> None:
    log = get_logger("gateway.test")
    log.info("callout_accepted", units=2)
    log.warning("radio_down", radio="gw1")
    first, second = lines(output)
    assert first["event"] == "callout_accepted"
    assert first["level"] == "info"
    assert first["units"] == 2
    assert first["logger"] == "gateway.test"
    stamp = datetime.fromisoformat(first["timestamp"])
    assert stamp.utcoffset() is not None
    assert stamp.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
    assert second["level"] == "warning"


def test_events_below_the_level_are_dropped(output: io.StringIO) -> None:
    get_logger().debug("noise")
    assert output.getvalue() == ""


def test_logger_made_before_configuration_follows_it() -> None:
    log = get_logger("early")  # module-level loggers are made at import time
    stream = io.StringIO()
    configure_logging("info", stream=stream)
    try:
        log.info("later")
    finally:
        reset_logging()
    assert lines(stream)[0]["event"] == "later"


def test_text_and_payload_are_replaced_by_digest_and_length(output: io.StringIO) -> None:
    get_logger().info("oops", text=CALLOUT_TEXT, payload=CALLOUT_TEXT.encode())
    raw = output.getvalue()
    assert "Hjertestans" not in raw
    event = lines(output)[0]
    assert event["text"] == personal_data_digest(CALLOUT_TEXT)
    assert event["text"]["length"] == len(CALLOUT_TEXT)
    assert event["payload"]["length"] == len(CALLOUT_TEXT.encode())


def test_personal_data_nested_in_a_mapping_is_redacted_too(output: io.StringIO) -> None:
    get_logger().info("oops", request={"callout_id": "c1", "text": CALLOUT_TEXT})
    event = lines(output)[0]
    assert "Hjertestans" not in output.getvalue()
    assert event["request"]["callout_id"] == "c1"
    assert event["request"]["text"]["length"] == len(CALLOUT_TEXT)


def test_non_text_value_under_a_personal_key_is_hidden_whole(output: io.StringIO) -> None:
    get_logger().info("oops", payload={"text": CALLOUT_TEXT})
    assert "Hjertestans" not in output.getvalue()
    assert lines(output)[0]["payload"] == {"redacted": "dict"}


def test_same_text_gives_same_digest_and_different_text_another() -> None:
    assert personal_data_digest("abc") == personal_data_digest(b"abc")
    assert personal_data_digest("abc")["sha256"] != personal_data_digest("abd")["sha256"]


def test_bound_ids_are_on_every_event_in_the_block_only(output: io.StringIO) -> None:
    log = get_logger()
    with bound_ids(callout_id="OSL-1-1", incident_id="OSL-1"):
        log.info("inside")
    with bound_ids(callout_id="OSL-2-1", incident_id=None):
        log.info("partial")
    log.info("outside")
    inside, partial, outside = lines(output)
    assert (inside["callout_id"], inside["incident_id"]) == ("OSL-1-1", "OSL-1")
    assert "incident_id" not in partial
    assert "callout_id" not in outside


def test_standard_library_records_come_out_as_json_lines_too(output: io.StringIO) -> None:
    logging.getLogger("some.library").warning("disk %s", "full", extra={"text": CALLOUT_TEXT})
    event = lines(output)[0]
    assert event["event"] == "disk full"
    assert event["level"] == "warning"
    assert event["logger"] == "some.library"
    assert "Hjertestans" not in output.getvalue()


def test_third_party_debug_chatter_is_held_back(output: io.StringIO) -> None:
    configure_logging("debug", stream=output)
    logging.getLogger("amqtt.broker").debug("broadcast %s", CALLOUT_TEXT)
    get_logger().debug("ours")
    assert [event["event"] for event in lines(output)] == ["ours"]


def test_unknown_level_is_refused() -> None:
    with pytest.raises(ValueError, match="level"):
        configure_logging("chatty")
