"""Dispatch API v1 (MQTT): the models the gateway validates with and documents from.

Inbound (dispatch → gateway): :class:`CalloutRequest`, :class:`IncidentClose`,
:class:`UnitSendRequest`, read through :func:`parse_inbound`. Outbound events:
:class:`CalloutEvent`, :class:`RequestEvent`, :class:`UnitStatusEvent`, :class:`PositionEvent`,
:class:`UnitMessageEvent`, :class:`Timeline`, :class:`HealthEvent`, :class:`ErrorEvent`,
:class:`AlarmEvent`, each with ``to_json()``. Topic names: :class:`Topics`. The contract is
``dispatch-api.md``; ``docs/asyncapi.yaml`` and ``docs/schemas/`` are generated from here.
"""

from protocols.dispatch.events import (
    KNOWN_MEANINGS,
    AlarmEvent,
    CalloutEvent,
    CalloutEventKind,
    ErrorEvent,
    HealthEvent,
    PositionEvent,
    RadioHealth,
    RequestEvent,
    TalkgroupState,
    Timeline,
    TimelineUnit,
    UnitMessageEvent,
    UnitStatusEvent,
)
from protocols.dispatch.identifiers import (
    ISSI_MAX,
    STATUS_MAX,
    DispatchId,
    Gssi,
    Issi,
    StatusValue,
    Timestamp,
    is_dispatch_id,
    is_issi,
)
from protocols.dispatch.inbound import (
    DEADLINE_DEFAULT_S,
    DEADLINE_MAX_S,
    DEADLINE_MIN_S,
    KNOWN_ROLES,
    MAX_UNITS,
    CalloutRequest,
    IncidentClose,
    UnitRef,
    UnitSendRequest,
)
from protocols.dispatch.parse import (
    DEFAULT_MAX_PAYLOAD_BYTES,
    InboundMessage,
    IncidentCloseCommand,
    UnitSendCommand,
    parse_inbound,
)
from protocols.dispatch.rejection import (
    DispatchRejected,
    RejectionCode,
    describe_error,
    describe_validation_error,
    field_path,
)
from protocols.dispatch.timestamps import format_time, parse_time
from protocols.dispatch.topics import API_VERSION, Topics

__all__ = [
    "API_VERSION",
    "DEADLINE_DEFAULT_S",
    "DEADLINE_MAX_S",
    "DEADLINE_MIN_S",
    "DEFAULT_MAX_PAYLOAD_BYTES",
    "ISSI_MAX",
    "KNOWN_MEANINGS",
    "KNOWN_ROLES",
    "MAX_UNITS",
    "STATUS_MAX",
    "AlarmEvent",
    "CalloutEvent",
    "CalloutEventKind",
    "CalloutRequest",
    "DispatchId",
    "DispatchRejected",
    "ErrorEvent",
    "Gssi",
    "HealthEvent",
    "InboundMessage",
    "IncidentClose",
    "IncidentCloseCommand",
    "Issi",
    "PositionEvent",
    "RadioHealth",
    "RejectionCode",
    "RequestEvent",
    "StatusValue",
    "TalkgroupState",
    "Timeline",
    "TimelineUnit",
    "Timestamp",
    "Topics",
    "UnitMessageEvent",
    "UnitRef",
    "UnitSendCommand",
    "UnitSendRequest",
    "UnitStatusEvent",
    "describe_error",
    "describe_validation_error",
    "field_path",
    "format_time",
    "is_dispatch_id",
    "is_issi",
    "parse_inbound",
    "parse_time",
]
