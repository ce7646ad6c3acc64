"""Times on the dispatch API: RFC 3339 UTC with milliseconds and ``Z`` (dispatch-api.md).

Pure functions: the caller passes the time (``protocols/`` never reads a clock).
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime, timedelta
from typing import Final

from protocols.errors import ProtocolError

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_TIME_RE: Final = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\.(\d{3})Z")


def format_time(epoch_seconds: float) -> str:
    """Format a POSIX time as ``2026-11-21T22:19:05.123Z`` (rounded to the millisecond)."""
    seconds, millis = divmod(round(epoch_seconds * 1000), 1000)
    return f"{_second(seconds)}{millis:03d}Z"


@functools.lru_cache(maxsize=64)
def _second(seconds: int) -> str:
    """``2026-11-21T22:19:05.`` for a whole POSIX second: the events of a busy second share
    it, so ``strftime`` runs once per second rather than once per event."""
    return (_EPOCH + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.")


def parse_time(text: str) -> float:
    """Inverse of :func:`format_time`: the POSIX seconds of an API time.

    Raises ``ProtocolError`` for text that is not ``YYYY-MM-DDTHH:MM:SS.mmmZ``.
    """
    match = _TIME_RE.fullmatch(text)
    if match is None:
        raise ProtocolError("time must look like 2026-11-21T22:19:05.123Z")
    year, month, day, hour, minute, second, millis = (int(g) for g in match.groups())
    try:
        moment = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError as exc:
        raise ProtocolError(f"time is not a valid date: {exc}") from None
    whole_ms = (moment - _EPOCH) // timedelta(milliseconds=1) + millis
    return whole_ms / 1000
