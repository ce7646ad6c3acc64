"""A short run of every fuzz target inside ``make test`` (the long run is ``tests.fuzz.run``).

Each target runs ``quick_examples`` examples (a few seconds for all of them). Failures that
a long run finds are pinned in ``test_regressions.py``.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from protocols.dispatch import DispatchRejected
from tests.fuzz import strategies as gen
from tests.fuzz.targets import TARGETS, FuzzTarget, check_parse_inbound


@pytest.mark.parametrize("target", TARGETS, ids=lambda target: target.name)
def test_fuzz_target_keeps_its_contract(target: FuzzTarget) -> None:
    @settings(
        max_examples=target.quick_examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(target.inputs)
    def run(example: Any) -> None:
        target.check(example)

    run()


def test_parse_inbound_check_catches_a_detail_that_echoes_the_input(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The leak check can fail: a parser that quotes the payload in ``detail`` is caught."""

    def leaky(topic: str, payload: bytes, *, max_bytes: int) -> None:
        raise DispatchRejected(topic, "invalid_payload", f"text: bad {payload.decode()!r}")

    monkeypatch.setattr("tests.fuzz.targets.parse_inbound", leaky)
    payload = ('{"text": "' + gen.CANARY + '"}').encode()
    with pytest.raises(AssertionError, match="detail echoes the input"):
        check_parse_inbound(("callouts", payload, 65536))


def test_hostile_json_keeps_raw_literals_and_canaries_in_the_payload_text() -> None:
    """Non-standard literals reach the parser verbatim; planted strings decode to the canary."""
    text = gen.to_json({"deadline_s": gen.RawJson("1e999"), "units": [gen.CANARY]})
    assert text.startswith('{"deadline_s":1e999,')
    assert json.loads(text.replace("1e999", "0"))["units"] == [gen.CANARY]
