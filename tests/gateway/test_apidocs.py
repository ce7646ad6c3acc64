"""The AsyncAPI file and JSON Schemas in docs/ are generated from the dispatch models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gateway import apidocs
from protocols.dispatch import CalloutRequest, Topics

yaml = pytest.importorskip("yaml")  # PyYAML arrives with amqtt; only this test reads YAML


def test_committed_docs_equal_what_the_models_generate() -> None:
    assert apidocs.stale() == [], "run: python -m gateway.apidocs"


def test_check_mode_fails_on_a_stale_file_and_write_fixes_it(tmp_path: Path) -> None:
    assert apidocs.main(["--check", "--docs-dir", str(tmp_path)]) == 1
    assert apidocs.main(["--docs-dir", str(tmp_path)]) == 0
    assert apidocs.main(["--check", "--docs-dir", str(tmp_path)]) == 0
    (tmp_path / "schemas" / "CalloutRequest.json").write_text("{}\n", encoding="utf-8")
    assert apidocs.stale(tmp_path) == ["schemas/CalloutRequest.json"]
    assert apidocs.main(["--check", "--docs-dir", str(tmp_path)]) == 1


def test_yaml_reads_back_as_the_asyncapi_document() -> None:
    text = (apidocs.DOCS_DIR / "asyncapi.yaml").read_text(encoding="utf-8")
    assert yaml.safe_load(text) == apidocs.asyncapi_document()


def test_asyncapi_covers_every_contract_channel_with_qos_and_retain() -> None:
    document = apidocs.asyncapi_document()
    assert document["asyncapi"] == "3.0.0"
    channels = document["channels"]
    assert isinstance(channels, dict)
    addresses = {entry["address"] for entry in channels.values()}
    topics = Topics()
    expected = {
        topics.callouts(),
        "tetragw/v1/incidents/{incident_id}/close",
        "tetragw/v1/units/{issi}/send",
        "tetragw/v1/callouts/{callout_id}/events",
        "tetragw/v1/requests/{request_id}/events",
        "tetragw/v1/units/{issi}/status",
        "tetragw/v1/units/{issi}/position",
        "tetragw/v1/units/{issi}/messages",
        "tetragw/v1/incidents/{incident_id}/timeline",
        topics.alarms(),
        "tetragw/v1/gateway/{gateway_id}/health",
        topics.errors(),
    }
    assert addresses == expected
    operations = document["operations"]
    assert isinstance(operations, dict)
    retained = {
        channels[op["channel"]["$ref"].rsplit("/", 1)[1]]["address"]
        for op in operations.values()
        if op["bindings"]["mqtt"]["retain"]
    }
    assert retained == {
        "tetragw/v1/units/{issi}/status",
        "tetragw/v1/units/{issi}/position",
        "tetragw/v1/incidents/{incident_id}/timeline",
        "tetragw/v1/gateway/{gateway_id}/health",
    }
    assert all(op["bindings"]["mqtt"]["qos"] == 1 for op in operations.values())
    inbound = {op["channel"]["$ref"] for op in operations.values() if op["action"] == "receive"}
    assert inbound == {"#/channels/callouts", "#/channels/incidentClose", "#/channels/unitSend"}


def test_every_message_payload_references_an_existing_schema_file() -> None:
    document = apidocs.asyncapi_document()
    messages = document["components"]["messages"]  # type: ignore[index]
    for name, message in messages.items():
        ref = message["payload"]["$ref"]
        schema = json.loads((apidocs.DOCS_DIR / ref).read_text(encoding="utf-8"))
        assert schema["title"] == name


def test_callout_schema_carries_the_contract_limits() -> None:
    schema = json.loads((apidocs.DOCS_DIR / "schemas/CalloutRequest.json").read_text("utf-8"))
    assert schema == apidocs.model_schema(CalloutRequest)
    props = schema["properties"]
    assert set(schema["required"]) == {"callout_id", "incident_id", "units", "text"}
    assert (props["units"]["minItems"], props["units"]["maxItems"]) == (1, 100)
    assert (props["deadline_s"]["minimum"], props["deadline_s"]["maximum"]) == (5, 3600)
    assert props["deadline_s"]["default"] == 60
    assert props["callout_id"]["pattern"] == "^[A-Za-z0-9._:-]+$"
    issi = schema["$defs"]["UnitRef"]["properties"]["issi"]
    assert (issi["minimum"], issi["maximum"]) == (0, 16777215)


def test_yaml_emitter_round_trips_awkward_strings() -> None:
    data = {
        "a": ["x: y", "- z", "#c", "", "true", "null", "1.5", "æøå", 'q"uote', "multi\nline"],
        "$ref": {"nested": [], "empty": {}, "n": [1, 2.5, True, None]},
        "list of maps": [{"k": 1, "l": [{"m": "n"}]}],
    }
    assert yaml.safe_load(apidocs.to_yaml(data)) == data
