"""``parse_inbound``: from an MQTT topic and payload to a validated inbound message.

The checks run cheapest first — size, topic, then JSON and the model — and every refusal is
a :class:`DispatchRejected` whose ``detail`` never holds a value from the payload.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final, TypeVar

from pydantic import BaseModel, ValidationError

from protocols.dispatch.identifiers import ISSI_MAX, is_dispatch_id
from protocols.dispatch.inbound import CalloutRequest, IncidentClose, UnitSendRequest
from protocols.dispatch.rejection import (
    DispatchRejected,
    RejectionCode,
    describe_validation_error,
)

DEFAULT_MAX_PAYLOAD_BYTES: Final = 64 * 1024

_ISSI_LEVEL_RE: Final = re.compile(r"[0-9]{1,8}")

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class IncidentCloseCommand:
    """``incidents/<incident_id>/close``: the incident named by the topic, and the payload."""

    incident_id: str
    request: IncidentClose

    @property
    def reason(self) -> str | None:
        return self.request.reason


@dataclass(frozen=True, slots=True)
class UnitSendCommand:
    """``units/<issi>/send``: the unit named by the topic, and the payload."""

    issi: int
    request: UnitSendRequest


InboundMessage = CalloutRequest | IncidentCloseCommand | UnitSendCommand


def parse_inbound(
    topic: str, payload: bytes, *, max_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES
) -> InboundMessage:
    """Validate one inbound message.

    ``topic`` is relative to ``<root>/v1/`` (``callouts``, ``incidents/<id>/close``,
    ``units/<issi>/send``; see ``Topics.relative``). A payload longer than ``max_bytes`` is
    refused before it is parsed. Raises :class:`DispatchRejected` with ``error`` one of
    ``payload_too_large``, ``unknown_topic``, ``invalid_json``, ``invalid_payload``.
    """
    if len(payload) > max_bytes:
        raise DispatchRejected(
            topic, "payload_too_large", f"payload: must be at most {max_bytes} bytes"
        )
    levels = topic.split("/")
    if levels == ["callouts"]:
        return _validate(topic, CalloutRequest, payload)
    if len(levels) == 3 and levels[0] == "incidents" and levels[2] == "close":
        if not is_dispatch_id(levels[1]):
            raise DispatchRejected(
                topic, "unknown_topic", "topic: incident_id must be 1-64 of [A-Za-z0-9._:-]"
            )
        return IncidentCloseCommand(levels[1], _validate(topic, IncidentClose, payload))
    if len(levels) == 3 and levels[0] == "units" and levels[2] == "send":
        if not _ISSI_LEVEL_RE.fullmatch(levels[1]) or int(levels[1]) > ISSI_MAX:
            raise DispatchRejected(
                topic, "unknown_topic", f"topic: issi must be a decimal 0..{ISSI_MAX}"
            )
        return UnitSendCommand(int(levels[1]), _validate(topic, UnitSendRequest, payload))
    raise DispatchRejected(
        topic, "unknown_topic", "topic: not one of callouts, incidents/+/close, units/+/send"
    )


def _validate(topic: str, model: type[M], payload: bytes) -> M:
    try:
        return model.model_validate_json(payload)
    except ValidationError as exc:
        kinds = {err["type"] for err in exc.errors(include_url=False, include_input=False)}
        code: RejectionCode = "invalid_json" if "json_invalid" in kinds else "invalid_payload"
        raise DispatchRejected(topic, code, describe_validation_error(exc)) from None
