"""Structured logging for the gateway: JSON lines on stderr, one event per line.

Every line carries an ISO 8601 UTC ``timestamp``, a ``level`` and the ``event`` name, plus any
context bound with :func:`bound_ids` (``callout_id``, ``incident_id``...). Records emitted
through the standard library (aiomqtt, paho, amqtt) go through the same renderer.

Personal data (callout text, free text from units, raw MQTT payloads) must never reach a log
line (dispatch-api.md, "Nothing in a rejected payload is logged in clear"). Callers are expected
not to pass it; :func:`redact_personal_data` is the safety net that replaces the values of known
personal-data keys by a digest and a length wherever they appear in an event.
"""

from __future__ import annotations

import hashlib
import logging
import sys
from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from typing import Any, Final, TextIO

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

#: Keys whose values may hold personal data; their values never appear in clear.
PERSONAL_DATA_KEYS: Final[frozenset[str]] = frozenset({"text", "payload"})

#: Third-party loggers that log message contents at DEBUG (amqtt logs whole broadcasts);
#: they are held at WARNING whatever the gateway's level.
_CHATTY_LOGGERS: Final[tuple[str, ...]] = ("amqtt", "transitions", "mqtt", "paho", "asyncio")


def personal_data_digest(value: str | bytes) -> dict[str, Any]:
    """Describe ``value`` without revealing it: first 16 hex digits of its SHA-256 and its length.

    ``length`` counts characters for ``str`` and bytes for ``bytes``; the digest is taken over
    the UTF-8 encoding of a ``str``, so the same text gives the same digest in every log line.
    """
    raw = value.encode("utf-8") if isinstance(value, str) else bytes(value)
    return {"sha256": hashlib.sha256(raw).hexdigest()[:16], "length": len(value)}


def _redact(value: Any) -> Any:
    if isinstance(value, str | bytes | bytearray):
        return personal_data_digest(bytes(value) if isinstance(value, bytearray) else value)
    if value is None:
        return None
    # Anything else under a personal-data key (a dict, a model...) is hidden entirely: its
    # repr could still carry the text.
    return {"redacted": type(value).__name__}


def _scrub(mapping: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in mapping.items():
        if key in PERSONAL_DATA_KEYS:
            out[key] = _redact(value)
        elif isinstance(value, Mapping):
            out[key] = _scrub(value)
        else:
            out[key] = value
    return out


def redact_personal_data(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """structlog processor: replace every ``text``/``payload`` value, at any nesting depth of
    mappings, by :func:`personal_data_digest` of it (or a type marker for non-text values)."""
    return _scrub(event_dict)


def _name_logger(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    if "logger_name" in event_dict:
        event_dict["logger"] = event_dict.pop("logger_name")
    return event_dict


def _shared_processors() -> list[Processor]:
    return [
        structlog.contextvars.merge_contextvars,
        _name_logger,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        redact_personal_data,
    ]


def configure_logging(level: str | int = "info", *, stream: TextIO | None = None) -> None:
    """Send every log event, the gateway's and the standard library's, as one JSON object per
    line to ``stream`` (default: ``sys.stderr``) at ``level`` and above.

    Safe to call more than once (tests do); the last call wins.
    """
    numeric = logging.getLevelName(level.upper()) if isinstance(level, str) else level
    if not isinstance(numeric, int):
        raise ValueError(f"unknown log level {level!r}")  # noqa: TRY004 - a bad value, not type
    out = stream if stream is not None else sys.stderr
    shared = _shared_processors()
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.dict_tracebacks,
            structlog.processors.JSONRenderer(sort_keys=False),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.WriteLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.dict_tracebacks,
                structlog.processors.JSONRenderer(sort_keys=False),
            ],
        )
    )
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_tetragw", False):
            root.removeHandler(old)
    handler._tetragw = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(numeric)
    for name in _CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(max(numeric, logging.WARNING))


def reset_logging() -> None:
    """Undo :func:`configure_logging` (structlog defaults, our stdlib handler removed)."""
    structlog.reset_defaults()
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_tetragw", False):
            root.removeHandler(old)


def get_logger(name: str | None = None, **initial: Any) -> structlog.typing.FilteringBoundLogger:
    """A logger for module-level use; ``name`` (usually ``__name__``) becomes the ``logger`` key.

    It stays lazy: the configuration in force when an event is logged applies, so loggers
    made at import time honour a later :func:`configure_logging`.
    """
    if name is not None:
        # structlog.get_logger() reserves the keyword "logger"; _name_logger renames it.
        initial["logger_name"] = name
    log: structlog.typing.FilteringBoundLogger = structlog.get_logger(**initial)
    return log


@contextmanager
def bound_ids(
    *, callout_id: str | None = None, incident_id: str | None = None, **more: Any
) -> Iterator[None]:
    """Within the block, every log event of this task carries the given identifiers.

    ``None`` values are left out, so ``bound_ids(callout_id=c.callout_id,
    incident_id=c.incident_id)`` can be used whatever is known. Identifiers never hold
    personal data (dispatch-api.md restricts them to ``[A-Za-z0-9._:-]``).
    """
    ids: MutableMapping[str, Any] = {
        key: value
        for key, value in {"callout_id": callout_id, "incident_id": incident_id, **more}.items()
        if value is not None
    }
    with structlog.contextvars.bound_contextvars(**ids):
        yield
