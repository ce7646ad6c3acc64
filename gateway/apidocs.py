"""Generate the dispatch API documents from the models the gateway validates with.

``python -m gateway.apidocs`` writes ``docs/schemas/<Model>.json`` (JSON Schema 2020-12) and
``docs/asyncapi.yaml`` (AsyncAPI 3.0: every channel of dispatch-api.md, its messages, and the
MQTT QoS/retain of each operation). ``--check`` writes nothing and exits 1 when the files on
disk differ from what the models generate, so CI catches a model change without its docs.

The YAML is emitted by :func:`to_yaml` (block style, every string double-quoted in JSON
syntax, which YAML 1.2 reads the same), so no YAML library is needed.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from pydantic import BaseModel

from protocols.dispatch import (
    AlarmEvent,
    CalloutEvent,
    CalloutRequest,
    ErrorEvent,
    HealthEvent,
    IncidentClose,
    PositionEvent,
    RequestEvent,
    Timeline,
    UnitMessageEvent,
    UnitSendRequest,
    UnitStatusEvent,
)

DOCS_DIR: Final = Path(__file__).resolve().parents[1] / "docs"
MQTT_BINDING_VERSION: Final = "0.2.0"

INBOUND_MODELS: Final[tuple[type[BaseModel], ...]] = (
    CalloutRequest,
    IncidentClose,
    UnitSendRequest,
)
OUTBOUND_MODELS: Final[tuple[type[BaseModel], ...]] = (
    CalloutEvent,
    RequestEvent,
    UnitStatusEvent,
    PositionEvent,
    UnitMessageEvent,
    Timeline,
    AlarmEvent,
    HealthEvent,
    ErrorEvent,
)


@dataclass(frozen=True, slots=True)
class Channel:
    """One topic of the contract: who publishes it, its message, QoS and retain flag."""

    key: str
    address: str
    direction: Literal["inbound", "outbound"]
    model: type[BaseModel]
    retained: bool
    description: str
    parameters: tuple[str, ...] = ()


_PARAMETERS: Final[Mapping[str, str]] = {
    "callout_id": "The callout's idempotency key (1-64 of [A-Za-z0-9._:-]).",
    "incident_id": "The incident id (1-64 of [A-Za-z0-9._:-]).",
    "request_id": "The request_id of a units/<issi>/send request.",
    "issi": "The unit's ISSI in decimal (0..16777215).",
    "gateway_id": "The gateway instance id (config gateway.id).",
}

CHANNELS: Final[tuple[Channel, ...]] = (
    Channel(
        "callouts",
        "tetragw/v1/callouts",
        "inbound",
        CalloutRequest,
        retained=False,
        description="Alert units to an incident. callout_id is the idempotency key: a repeat "
        "alerts nobody twice and is answered with the callout's current state.",
    ),
    Channel(
        "incidentClose",
        "tetragw/v1/incidents/{incident_id}/close",
        "inbound",
        IncidentClose,
        retained=False,
        description="End an incident: release its talk group and close its timeline.",
        parameters=("incident_id",),
    ),
    Channel(
        "unitSend",
        "tetragw/v1/units/{issi}/send",
        "inbound",
        UnitSendRequest,
        retained=False,
        description="Send a text or a status value to one unit; answered on "
        "requests/{request_id}/events.",
        parameters=("issi",),
    ),
    Channel(
        "calloutEvents",
        "tetragw/v1/callouts/{callout_id}/events",
        "outbound",
        CalloutEvent,
        retained=False,
        description="Progress of a callout, one message per event. Every unit of every "
        "accepted callout ends in exactly one of delivered (or read) or unreached.",
        parameters=("callout_id",),
    ),
    Channel(
        "requestEvents",
        "tetragw/v1/requests/{request_id}/events",
        "outbound",
        RequestEvent,
        retained=False,
        description="Progress of a units/{issi}/send request (callout event vocabulary).",
        parameters=("request_id",),
    ),
    Channel(
        "unitStatus",
        "tetragw/v1/units/{issi}/status",
        "outbound",
        UnitStatusEvent,
        retained=True,
        description="Retained: the unit's latest status, meaning from the status table.",
        parameters=("issi",),
    ),
    Channel(
        "unitPosition",
        "tetragw/v1/units/{issi}/position",
        "outbound",
        PositionEvent,
        retained=True,
        description="Retained: the unit's latest LIP position (unknown fields are null).",
        parameters=("issi",),
    ),
    Channel(
        "unitMessages",
        "tetragw/v1/units/{issi}/messages",
        "outbound",
        UnitMessageEvent,
        retained=False,
        description="Free text a unit sent; delivered to dispatch only, never logged.",
        parameters=("issi",),
    ),
    Channel(
        "incidentTimeline",
        "tetragw/v1/incidents/{incident_id}/timeline",
        "outbound",
        Timeline,
        retained=True,
        description="Retained: the incident's documentation record.",
        parameters=("incident_id",),
    ),
    Channel(
        "alarms",
        "tetragw/v1/alarms",
        "outbound",
        AlarmEvent,
        retained=False,
        description="Emergency status (TETRA status 0) and anything dispatch must see at once.",
    ),
    Channel(
        "gatewayHealth",
        "tetragw/v1/gateway/{gateway_id}/health",
        "outbound",
        HealthEvent,
        retained=True,
        description='Retained: gateway and radio health; the MQTT will sets {"state": "offline"}.',
        parameters=("gateway_id",),
    ),
    Channel(
        "errors",
        "tetragw/v1/errors",
        "outbound",
        ErrorEvent,
        retained=False,
        description="Input the gateway refused; detail names the field and never echoes a value.",
    ),
)


def model_schema(model: type[BaseModel]) -> dict[str, object]:
    """The JSON Schema of ``model`` as it travels: validation form for inbound messages,
    serialization form (with derived fields) for outbound events."""
    mode: Literal["validation", "serialization"] = (
        "validation" if model in INBOUND_MODELS else "serialization"
    )
    schema = model.model_json_schema(mode=mode)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{model.__name__}.json",
        **schema,
    }


def asyncapi_document() -> dict[str, object]:
    """The AsyncAPI 3.0 document of dispatch API v1."""
    channels: dict[str, object] = {}
    operations: dict[str, object] = {}
    messages: dict[str, object] = {}
    for channel in CHANNELS:
        name = channel.model.__name__
        entry: dict[str, object] = {
            "address": channel.address,
            "description": channel.description,
            "messages": {name: {"$ref": f"#/components/messages/{name}"}},
        }
        if channel.parameters:
            entry["parameters"] = {p: {"description": _PARAMETERS[p]} for p in channel.parameters}
        channels[channel.key] = entry
        inbound = channel.direction == "inbound"
        operations[
            ("receive" if inbound else "send") + channel.key[0].upper() + channel.key[1:]
        ] = {
            "action": "receive" if inbound else "send",
            "summary": (
                "Dispatch publishes, the gateway acts."
                if inbound
                else "The gateway publishes, dispatch subscribes."
            ),
            "channel": {"$ref": f"#/channels/{channel.key}"},
            "messages": [{"$ref": f"#/channels/{channel.key}/messages/{name}"}],
            "bindings": {
                "mqtt": {
                    "qos": 1,
                    "retain": channel.retained,
                    "bindingVersion": MQTT_BINDING_VERSION,
                }
            },
        }
        messages[name] = {
            "name": name,
            "title": name,
            "summary": _first_line(channel.model.__doc__),
            "contentType": "application/json",
            "payload": {"$ref": f"./schemas/{name}.json"},
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "tetragw dispatch API",
            "version": "1.0.0",
            "description": "MQTT interface between emergency medical dispatch (AMK CAD) and "
            "TETRA radio terminals. The topic root is configurable (default tetragw); every "
            "topic is under <root>/v1/. Payloads are UTF-8 JSON; times are RFC 3339 UTC with "
            "milliseconds; ISSIs and GSSIs are integers 0..16777215. Inbound messages ignore "
            "unknown fields; a payload that does not validate is answered on errors and never "
            "acted on. Generated by python -m gateway.apidocs from protocols/dispatch.",
            "license": {"name": "Apache-2.0"},
        },
        "defaultContentType": "application/json",
        "servers": {
            "broker": {
                "host": "localhost:1883",
                "protocol": "mqtt",
                "protocolVersion": "5",
                "description": "The site broker (Mosquitto, EMQX, HiveMQ) or the gateway's "
                "embedded broker.",
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages},
    }


def generated_files() -> dict[str, str]:
    """Relative path under ``docs/`` → file text, for every generated document."""
    files = {
        f"schemas/{model.__name__}.json": json.dumps(
            model_schema(model), indent=2, ensure_ascii=False
        )
        + "\n"
        for model in (*INBOUND_MODELS, *OUTBOUND_MODELS)
    }
    files["asyncapi.yaml"] = (
        "# Generated by `python -m gateway.apidocs` from protocols/dispatch; do not edit.\n"
        + to_yaml(asyncapi_document())
    )
    return files


_PLAIN_KEY_RE: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def to_yaml(value: object, indent: int = 0) -> str:
    """Block-style YAML for JSON-like data; strings are JSON-quoted (valid YAML 1.2)."""
    return "".join(_yaml_lines(value, indent))


def _scalar(value: object) -> str:
    return json.dumps(value, ensure_ascii=False)


def _key(key: str) -> str:
    return key if _PLAIN_KEY_RE.fullmatch(key) else _scalar(key)


def _yaml_lines(value: object, indent: int) -> list[str]:
    pad = " " * indent
    lines: list[str] = []
    if isinstance(value, Mapping):
        if not value:
            return [pad + "{}\n"]
        for key, item in value.items():
            if _is_collection(item) and item:
                lines.append(f"{pad}{_key(str(key))}:\n")
                lines.extend(_yaml_lines(item, indent + 2))
            else:
                lines.append(f"{pad}{_key(str(key))}: {_inline(item)}\n")
        return lines
    if isinstance(value, Sequence) and not isinstance(value, str):
        if not value:
            return [pad + "[]\n"]
        for item in value:
            if _is_collection(item) and item:
                nested = _yaml_lines(item, indent + 2)
                lines.append(f"{pad}- {nested[0].lstrip()}")
                lines.extend(nested[1:])
            else:
                lines.append(f"{pad}- {_inline(item)}\n")
        return lines
    return [pad + _inline(value) + "\n"]


def _is_collection(value: object) -> bool:
    return isinstance(value, Mapping) or (
        isinstance(value, Sequence) and not isinstance(value, str)
    )


def _inline(value: object) -> str:
    if isinstance(value, Mapping):
        return "{}"
    if isinstance(value, Sequence) and not isinstance(value, str):
        return "[]"
    return _scalar(value)


def _first_line(doc: str | None) -> str:
    return (doc or "").strip().splitlines()[0] if doc else ""


def write(docs_dir: Path = DOCS_DIR) -> list[Path]:
    """Write every generated document under ``docs_dir``; returns the paths written."""
    written = []
    for relative, text in generated_files().items():
        path = docs_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def stale(docs_dir: Path = DOCS_DIR) -> list[str]:
    """Relative paths whose file under ``docs_dir`` is missing or differs from the models."""
    out = []
    for relative, text in generated_files().items():
        path = docs_dir / relative
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            out.append(relative)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gateway.apidocs",
        description="Generate docs/asyncapi.yaml and docs/schemas/*.json from the dispatch models.",
    )
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/ is out of date")
    parser.add_argument("--docs-dir", type=Path, default=DOCS_DIR, help="default: the repo's docs/")
    args = parser.parse_args(argv)
    if args.check:
        out_of_date = stale(args.docs_dir)
        for relative in out_of_date:
            sys.stderr.write(f"out of date: {args.docs_dir / relative}\n")
        if out_of_date:
            sys.stderr.write("run: python -m gateway.apidocs\n")
            return 1
        return 0
    for path in write(args.docs_dir):
        sys.stdout.write(f"wrote {path}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
