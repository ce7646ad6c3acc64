"""Why an inbound message was refused, worded so that it never repeats the input.

A rejected payload may hold personal data (dispatch-api.md: "Nothing in a rejected payload is
logged in clear"), and pydantic's own messages and error records carry ``input_value``. So
:func:`describe_validation_error` builds each line from the error's location and a message
template filled only from the *constraint* (``le``, ``max_length``, ``pattern``), never the input.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any, Final, Literal, get_args

from pydantic import ValidationError
from pydantic_core.core_schema import ErrorType

from protocols.errors import ProtocolError

RejectionCode = Literal["invalid_json", "invalid_payload", "unknown_topic", "payload_too_large"]

MAX_LISTED_ERRORS: Final = 3

_BUILTIN_TYPES: Final = frozenset(get_args(ErrorType))
"""pydantic's own error types; any other type is a ``PydanticCustomError`` of ours."""
_OWN_PATH_RE: Final = re.compile(r"^([A-Za-z_\[][\w.\[\]]*): (.*)$", re.DOTALL)
_JSON_POSITION_RE: Final = re.compile(r"line (\d+) column (\d+)")

# pydantic error type → template over the error's ``ctx`` (constraints only).
_TEMPLATES: Final[Mapping[str, str]] = {
    "missing": "is required",
    "extra_forbidden": "is not a known key",
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "int_from_float": "must be a whole number",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "finite_number": "must be a finite number",
    "string_type": "must be a string",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "list_type": "must be a list",
    "tuple_type": "must be a list",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
    "dict_type": "must be an object",
    "none_required": "must be null",
    "greater_than": "must be > {gt}",
    "greater_than_equal": "must be >= {ge}",
    "less_than": "must be < {lt}",
    "less_than_equal": "must be <= {le}",
    "string_too_long": "must be at most {max_length} characters",
    "string_pattern_mismatch": "must match {pattern}",
    "too_long": "must have at most {max_length} entries",
    "literal_error": "must be one of {expected}",
    "enum": "must be one of {expected}",
    "path_type": "must be a path",
    "url_parsing": "must be a URL",
    "url_scheme": "must use scheme {expected_schemes}",
}


class DispatchRejected(ProtocolError):  # noqa: N818 -- name fixed by docs/internal-api.md
    """An inbound message the gateway will not act on; answered on ``<root>/v1/errors``.

    ``topic`` is the topic as given to the parser, ``error`` one of :data:`RejectionCode`,
    ``detail`` names the field (``units[1].issi: must be <= 16777215``) and never holds a value
    taken from the payload.
    """

    def __init__(self, topic: str, error: RejectionCode, detail: str) -> None:
        super().__init__(f"{topic}: {error}: {detail}")
        self.topic = topic
        self.error: RejectionCode = error
        self.detail = detail


def field_path(loc: Sequence[int | str], root: str = "payload") -> str:
    """``("units", 1, "issi")`` → ``units[1].issi``; the empty location → ``root``."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else part
    return path or root


def describe_error(error: Mapping[str, Any], root: str = "payload") -> str:
    """One pydantic error as ``<field path>: <message>`` without the input value.

    Errors raised by our own validators as ``PydanticCustomError`` carry a message we wrote,
    made only from constraints. Such a message may start with a path below the error's
    location (``"[3].issi: ..."`` from a list validator, ``"key: ..."`` from a model validator).
    """
    kind = str(error.get("type", ""))
    ctx: Mapping[str, Any] = error.get("ctx") or {}
    loc: Sequence[int | str] = error.get("loc", ())
    if kind == "json_invalid":
        return f"{field_path(loc, root)}: {_json_message(ctx)}"
    if kind in ("string_too_short", "too_short"):
        minimum = ctx.get("min_length", 1)
        noun = "characters" if kind == "string_too_short" else "entries"
        message = "must not be empty" if minimum == 1 else f"must have at least {minimum} {noun}"
    elif kind in _TEMPLATES:
        message = _TEMPLATES[kind].format_map(_SafeContext(ctx))
    elif kind in _BUILTIN_TYPES:
        # A pydantic message we have no template for (or value_error, whose text comes from
        # an exception that may quote the input): name the kind only.
        message = f"is invalid ({kind})"
    else:
        message = str(error.get("msg", ""))
        own_path = _OWN_PATH_RE.match(message)
        if own_path is not None:
            # Our validator named a field below its own location: "[3].issi: ..." or "key: ...".
            sub_path, message = own_path.group(1), own_path.group(2)
            base = field_path(loc, "")
            joiner = "" if sub_path.startswith("[") or not base else "."
            return f"{base}{joiner}{sub_path}: {message}"
    return f"{field_path(loc, root)}: {message}"


def describe_validation_error(exc: ValidationError, root: str = "payload") -> str:
    """The first :data:`MAX_LISTED_ERRORS` errors of ``exc`` joined by ``; ``.

    Each is worded by :func:`describe_error`, so no input value appears.
    """
    errors = exc.errors(include_url=False, include_input=False)
    lines = [describe_error(err, root) for err in errors[:MAX_LISTED_ERRORS]]
    if len(errors) > MAX_LISTED_ERRORS:
        lines.append(f"and {len(errors) - MAX_LISTED_ERRORS} more")
    return "; ".join(lines)


def _json_message(ctx: Mapping[str, Any]) -> str:
    match = _JSON_POSITION_RE.search(str(ctx.get("error", "")))
    if match is None:
        return "not valid JSON"
    return f"not valid JSON (line {match.group(1)} column {match.group(2)})"


class _SafeContext(dict[str, Any]):
    """``str.format_map`` context that renders a missing key as ``?``."""

    def __missing__(self, key: str) -> str:
        return "?"
