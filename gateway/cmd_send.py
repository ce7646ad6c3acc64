"""``tetragw send``: publish a callout (or an incident close) from the shell, like a CAD would.

The callout is validated with the same :class:`~protocols.dispatch.CalloutRequest` model the
gateway validates with, before anything is published; it goes out at QoS 1 and the command
returns once the broker has acknowledged it (PUBACK). With ``--wait`` it subscribes to
``callouts/<id>/events`` *before* publishing (so no event can slip by) and prints each event as
one JSON line until every unit has a final event (``delivered``/``read``/``unreached``) or the
wait ends.

Exit status: 0 published (with ``--wait``: every unit delivered); 1 the broker could not be
reached or the gateway rejected the callout; 2 bad arguments or a callout that does not
validate; 3 some unit unreached; 4 the wait ended before every unit had a final event.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import ssl
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import aiomqtt
from pydantic import ValidationError

from gateway.config import redact_url
from gateway.mqtt_settings import MqttSettings
from protocols.dispatch import (
    DEADLINE_DEFAULT_S,
    CalloutRequest,
    IncidentClose,
    Topics,
    describe_validation_error,
    is_dispatch_id,
)
from protocols.errors import ProtocolError

EXIT_OK: Final = 0
EXIT_FAILED: Final = 1
EXIT_USAGE: Final = 2
EXIT_UNREACHED: Final = 3
EXIT_TIMEOUT: Final = 4

#: How long ``--wait`` without a value waits beyond the callout's deadline: the gateway
#: reports ``unreached`` at the deadline, the event needs a moment to arrive.
WAIT_MARGIN_S: Final = 15.0

#: Events after which a unit's part of a callout is over (dispatch-api.md).
FINAL_EVENTS: Final = frozenset({"delivered", "read", "unreached"})

MqttVersion = Literal["3.1.1", "5"]


# -- building the callout ----------------------------------------------------------------


def parse_unit(text: str) -> dict[str, Any]:
    """``--unit ISSI[:ROLE]`` → ``{"issi": 2040101, "role": "ambulance"}`` (role optional).

    The range and the role's length are checked by :class:`CalloutRequest`, not here.
    """
    issi_text, sep, role = text.partition(":")
    try:
        issi = int(issi_text, 10)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r}: a unit is ISSI[:ROLE], e.g. 2040101:ambulance"
        ) from None
    unit: dict[str, Any] = {"issi": issi}
    if sep:
        unit["role"] = role
    return unit


def default_callout_id(incident_id: str, suffix: str | None = None) -> str:
    """``<incident_id>-<6 hex digits>``, cut to the 64 characters an id may have."""
    tail = "-" + (suffix if suffix is not None else secrets.token_hex(3))
    return incident_id[: 64 - len(tail)] + tail


def build_callout(
    *,
    incident_id: str,
    units: list[dict[str, Any]],
    text: str,
    callout_id: str | None = None,
    deadline_s: int | None = None,
    priority: str | None = None,
    talkgroup: bool | None = None,
) -> CalloutRequest:
    """The validated callout; raises ``pydantic.ValidationError`` as the gateway would."""
    body: dict[str, Any] = {
        "callout_id": callout_id if callout_id is not None else default_callout_id(incident_id),
        "incident_id": incident_id,
        "units": units,
        "text": text,
    }
    if deadline_s is not None:
        body["deadline_s"] = deadline_s
    if priority is not None:
        body["priority"] = priority
    if talkgroup is not None:
        body["talkgroup"] = talkgroup
    return CalloutRequest.model_validate(body)


def callout_payload(request: CalloutRequest) -> bytes:
    """The MQTT payload: compact UTF-8 JSON, unset optional fields left out."""
    return request.model_dump_json(exclude_none=True).encode()


# -- following the callout ---------------------------------------------------------------


@dataclass
class CalloutProgress:
    """Which units of a callout have had their final event (fed with decoded events)."""

    issis: tuple[int, ...]
    outcomes: dict[int, str] = field(default_factory=dict)
    rejected: str | None = None

    def feed(self, event: dict[str, Any]) -> None:
        """Take one ``callouts/<id>/events`` payload; the first final event of a unit counts."""
        kind = event.get("event")
        if kind == "rejected":
            self.rejected = str(event.get("reason") or "rejected")
            return
        issi = event.get("issi")
        if kind in FINAL_EVENTS and issi in self.issis and issi not in self.outcomes:
            self.outcomes[issi] = "unreached" if kind == "unreached" else "delivered"

    @property
    def done(self) -> bool:
        return self.rejected is not None or len(self.outcomes) == len(self.issis)

    def exit_status(self) -> int:
        """0 all delivered, 1 rejected, 3 some unreached, 4 not every unit final yet."""
        if self.rejected is not None:
            return EXIT_FAILED
        if len(self.outcomes) < len(self.issis):
            return EXIT_TIMEOUT
        if "unreached" in self.outcomes.values():
            return EXIT_UNREACHED
        return EXIT_OK


def event_line(payload: bytes) -> tuple[str, dict[str, Any] | None]:
    """One printable line for an event payload, and the decoded object (``None`` if not JSON)."""
    try:
        decoded = json.loads(payload)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return payload.decode("utf-8", "replace").replace("\n", " "), None
    if not isinstance(decoded, dict):
        return json.dumps(decoded), None
    return json.dumps(decoded, ensure_ascii=False, separators=(",", ":")), decoded


def payload_bytes(payload: object) -> bytes:
    """aiomqtt's ``Message.payload`` (bytes for anything a broker delivers) as bytes."""
    if isinstance(payload, bytes | bytearray):
        return bytes(payload)
    return b"" if payload is None else str(payload).encode()


# -- MQTT --------------------------------------------------------------------------------


def mqtt_client(url: str, *, version: MqttVersion = "3.1.1", name: str = "send") -> aiomqtt.Client:
    """A short-lived client for ``mqtt://[user[:password]@]host[:port]`` (or ``mqtts://``).

    MQTT 3.1.1 by default: nothing here needs MQTT 5, and the embedded broker speaks only 3.1.1.
    Raises ``ValueError`` for a URL that is not an MQTT URL.
    """
    settings = MqttSettings.from_url(url, gateway_id="cli")
    tls_context = None
    if settings.tls is not None:
        tls_context = ssl.create_default_context()
    return aiomqtt.Client(
        settings.host,
        settings.port,
        identifier=f"tetragw-{name}-{secrets.token_hex(4)}",
        username=settings.username,
        password=settings.password,
        protocol=aiomqtt.ProtocolVersion.V5 if version == "5" else aiomqtt.ProtocolVersion.V311,
        tls_context=tls_context,
        timeout=10.0,
    )


async def publish_callout(
    client: aiomqtt.Client,
    topics: Topics,
    request: CalloutRequest,
    *,
    wait_s: float | None,
    emit: Callable[[str], None],
) -> int:
    """Publish ``request`` on a connected client; with ``wait_s``, follow its events (see the
    module docstring for the exit status)."""
    events_topic = topics.callout_events(request.callout_id)
    progress = CalloutProgress(request.issis)
    if wait_s is not None:
        await client.subscribe(events_topic, qos=1)
    await client.publish(topics.callouts(), callout_payload(request), qos=1)
    if wait_s is None:
        emit(request.callout_id)
        return EXIT_OK
    try:
        async with asyncio.timeout(wait_s):
            async for message in client.messages:
                if message.topic.value != events_topic:
                    continue
                line, decoded = event_line(payload_bytes(message.payload))
                emit(line)
                if decoded is not None:
                    progress.feed(decoded)
                if progress.done:
                    break
    except TimeoutError:
        pass
    return progress.exit_status()


async def publish_close(
    client: aiomqtt.Client, topics: Topics, incident_id: str, reason: str | None
) -> None:
    """Publish ``incidents/<id>/close`` (QoS 1) and wait for the broker's PUBACK."""
    request = IncidentClose(reason=reason)
    payload = request.model_dump_json(exclude_none=True).encode()
    await client.publish(topics.incident_close(incident_id), payload, qos=1)


# -- the command -------------------------------------------------------------------------


def register(subparsers: Any) -> None:  # argparse's _SubParsersAction is private
    """Add ``send``."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "send",
        help="publish a callout (or close an incident) on the dispatch API",
        description=(
            "Publish a callout like a CAD would; --wait follows its events. Exit 0 published "
            "(with --wait: all delivered), 1 broker unreachable or callout rejected, 2 bad "
            "arguments, 3 some unit unreached, 4 the wait ended first."
        ),
    )
    parser.add_argument("--broker", required=True, metavar="URL", help="mqtt://host[:port]")
    parser.add_argument("--root", default="tetragw", help="topic root (default tetragw)")
    parser.add_argument(
        "--mqtt-version", choices=("3.1.1", "5"), default="3.1.1", help="default 3.1.1"
    )
    parser.add_argument("--incident", metavar="ID", help="incident id")
    parser.add_argument("--callout-id", metavar="ID", help="default: incident id + random suffix")
    parser.add_argument(
        "--unit",
        dest="units",
        action="append",
        type=parse_unit,
        metavar="ISSI[:ROLE]",
        help="a unit to alert (repeat for several)",
    )
    parser.add_argument("--text", help="the callout text (sent over TETRA only)")
    parser.add_argument(
        "--deadline", type=int, metavar="S", help=f"seconds (default {DEADLINE_DEFAULT_S})"
    )
    parser.add_argument("--priority", metavar="P", help="free label, e.g. 1A")
    parser.add_argument(
        "--no-talkgroup", action="store_true", help="do not create an incident talk group"
    )
    parser.add_argument(
        "--wait",
        nargs="?",
        type=float,
        const=-1.0,
        metavar="SECONDS",
        help=f"print the callout's events until every unit is final (default: deadline + "
        f"{WAIT_MARGIN_S:.0f} s)",
    )
    parser.add_argument("--close", metavar="INCIDENT", help="close this incident instead")
    parser.add_argument("--reason", help="with --close: why the incident ended")
    parser.set_defaults(func=run_send, parser=parser)


def run_send(args: argparse.Namespace) -> int:
    """Validate, then publish; see the module docstring for the exit status."""
    parser: argparse.ArgumentParser = args.parser
    try:
        topics = Topics(args.root)
    except ProtocolError:
        parser.error("--root: must be MQTT topic levels without '+', '#' or a leading '$'")
    if args.close is not None:
        if any(v is not None for v in (args.incident, args.units, args.text, args.wait)):
            parser.error("--close takes only --reason (and --broker/--root)")
        if not is_dispatch_id(args.close):
            parser.error("--close: an incident id is 1-64 characters of [A-Za-z0-9._:-]")
        return _run(args, lambda client: publish_close(client, topics, args.close, args.reason))
    given = {"--incident": args.incident, "--unit": args.units, "--text": args.text}
    missing = [flag for flag, value in given.items() if value is None]
    if missing:
        parser.error("a callout needs " + ", ".join(missing) + " (or use --close INCIDENT)")
    if args.reason is not None:
        parser.error("--reason goes with --close")
    try:
        request = build_callout(
            incident_id=args.incident,
            units=args.units,
            text=args.text,
            callout_id=args.callout_id,
            deadline_s=args.deadline,
            priority=args.priority,
            talkgroup=False if args.no_talkgroup else None,
        )
    except ValidationError as exc:
        print(f"tetragw send: invalid callout: {describe_validation_error(exc)}", file=sys.stderr)  # noqa: T201
        return EXIT_USAGE
    wait_s: float | None = args.wait
    if wait_s is not None and wait_s < 0:
        wait_s = request.deadline_s + WAIT_MARGIN_S

    def emit(line: str) -> None:
        print(line, flush=True)  # noqa: T201 - the command's output

    return _run(
        args, lambda client: publish_callout(client, topics, request, wait_s=wait_s, emit=emit)
    )


def _run(args: argparse.Namespace, action: Callable[[aiomqtt.Client], Any]) -> int:
    async def main() -> int:
        async with mqtt_client(args.broker, version=args.mqtt_version) as client:
            result = await action(client)
        return result if isinstance(result, int) else EXIT_OK

    try:
        return asyncio.run(main())
    except ValueError as exc:
        print(f"tetragw send: --broker: {exc}", file=sys.stderr)  # noqa: T201
        return EXIT_USAGE
    except aiomqtt.MqttError as exc:
        print(f"tetragw send: broker {redact_url(args.broker)}: {exc}", file=sys.stderr)  # noqa: T201
        return EXIT_FAILED
