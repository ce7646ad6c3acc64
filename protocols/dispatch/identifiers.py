"""The identity and value types of the dispatch API (dispatch-api.md, "Conventions").

ISSIs and GSSIs are 24-bit TETRA short subscriber identities (EN 300 392-1 §7.2.4: the
SSI field is 24 bits), status values are 16-bit (EN 300 392-2 §14.8.34, pre-coded status),
and the dispatch-side ids (callout, incident, request) are 1–64 characters of a charset
that is safe as an MQTT topic level and in file names.
"""

from __future__ import annotations

import re
from typing import Annotated, Final

from pydantic import Field, StringConstraints

ISSI_MAX: Final = 0xFFFFFF
"""Largest 24-bit short subscriber identity (ISSI or GSSI)."""

STATUS_MAX: Final = 0xFFFF
"""Largest 16-bit pre-coded status value."""

ID_MAX_LENGTH: Final = 64
ID_PATTERN: Final = r"^[A-Za-z0-9._:-]+$"
"""Charset of ``callout_id``, ``incident_id`` and ``request_id``: never ``/``, ``+`` or ``#``."""

_ID_RE: Final = re.compile(r"[A-Za-z0-9._:-]{1,64}")

Issi = Annotated[int, Field(ge=0, le=ISSI_MAX, description="24-bit ISSI (0..16777215).")]
Gssi = Annotated[int, Field(ge=0, le=ISSI_MAX, description="24-bit GSSI (0..16777215).")]
StatusValue = Annotated[int, Field(ge=0, le=STATUS_MAX, description="16-bit status (0..65535).")]
DispatchId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=ID_MAX_LENGTH, pattern=ID_PATTERN),
    Field(description="1-64 characters of [A-Za-z0-9._:-]."),
]
Timestamp = Annotated[
    str,
    StringConstraints(pattern=r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$"),
    Field(description="RFC 3339 UTC with milliseconds, e.g. 2026-11-21T22:19:05.123Z."),
]


def is_dispatch_id(value: str) -> bool:
    """True when ``value`` is a valid callout, incident or request id."""
    return _ID_RE.fullmatch(value) is not None


def is_issi(value: int) -> bool:
    """True when ``value`` fits a 24-bit ISSI/GSSI."""
    return 0 <= value <= ISSI_MAX
