"""Topic names of dispatch API v1 under a configurable root (dispatch-api.md, "Conventions").

``Topics("tetragw").callout_events("OSL-1")`` → ``"tetragw/v1/callouts/OSL-1/events"``.
Builders check the ids they put into a topic level, so that a bad id can never address
(or wildcard into) another topic.
"""

from __future__ import annotations

import re
from typing import Final

from protocols.dispatch.identifiers import is_dispatch_id, is_issi
from protocols.errors import ProtocolError

API_VERSION: Final = "v1"

_ROOT_LEVEL_RE: Final = re.compile(r"[^/+#\x00]+")


class Topics:
    """Every topic of the API under ``<root>/v1/``, the inbound subscription filters, and
    :meth:`relative` to strip the prefix from a received topic."""

    __slots__ = ("prefix", "root")

    def __init__(self, root: str = "tetragw") -> None:
        levels = root.split("/")
        if root.startswith("$") or not all(_ROOT_LEVEL_RE.fullmatch(level) for level in levels):
            raise ProtocolError(
                "topic root must be non-empty levels without '+', '#', NUL or a leading '$'"
            )
        self.root = root
        self.prefix = f"{root}/{API_VERSION}/"

    def __repr__(self) -> str:
        return f"Topics({self.root!r})"

    # -- inbound (dispatch → gateway) -------------------------------------------------
    def callouts(self) -> str:
        return f"{self.prefix}callouts"

    def incident_close(self, incident_id: str) -> str:
        return f"{self.prefix}incidents/{_id(incident_id)}/close"

    def unit_send(self, issi: int) -> str:
        return f"{self.prefix}units/{_issi(issi)}/send"

    def inbound_filters(self) -> tuple[str, ...]:
        """The MQTT filters a gateway subscribes to (QoS 1)."""
        return (
            self.callouts(),
            f"{self.prefix}incidents/+/close",
            f"{self.prefix}units/+/send",
        )

    def subscriptions(self, share_group: str | None = None) -> tuple[str, ...]:
        """:meth:`inbound_filters`, as MQTT 5 shared subscriptions ``$share/<group>/...``
        when ``share_group`` is given (scale-out over several gateway instances)."""
        filters = self.inbound_filters()
        if share_group is None:
            return filters
        if not _ROOT_LEVEL_RE.fullmatch(share_group):
            raise ProtocolError("share group must be one topic level without '+' or '#'")
        return tuple(f"$share/{share_group}/{topic}" for topic in filters)

    # -- outbound (gateway → dispatch) ------------------------------------------------
    def callout_events(self, callout_id: str) -> str:
        return f"{self.prefix}callouts/{_id(callout_id)}/events"

    def request_events(self, request_id: str) -> str:
        return f"{self.prefix}requests/{_id(request_id)}/events"

    def unit_status(self, issi: int) -> str:
        """Retained."""
        return f"{self.prefix}units/{_issi(issi)}/status"

    def unit_position(self, issi: int) -> str:
        """Retained."""
        return f"{self.prefix}units/{_issi(issi)}/position"

    def unit_messages(self, issi: int) -> str:
        return f"{self.prefix}units/{_issi(issi)}/messages"

    def incident_timeline(self, incident_id: str) -> str:
        """Retained."""
        return f"{self.prefix}incidents/{_id(incident_id)}/timeline"

    def alarms(self) -> str:
        return f"{self.prefix}alarms"

    def health(self, gateway_id: str) -> str:
        """Retained; also the MQTT will's topic."""
        return f"{self.prefix}gateway/{_id(gateway_id)}/health"

    def errors(self) -> str:
        return f"{self.prefix}errors"

    def relative(self, topic: str) -> str:
        """``topic`` without ``<root>/v1/``; ``ProtocolError`` if it is not under the prefix."""
        if not topic.startswith(self.prefix) or len(topic) == len(self.prefix):
            raise ProtocolError(f"topic is not under {self.prefix}")
        return topic[len(self.prefix) :]


def _id(value: str) -> str:
    if not is_dispatch_id(value):
        raise ProtocolError("id must be 1-64 characters of [A-Za-z0-9._:-]")
    return value


def _issi(value: int) -> int:
    if not is_issi(value):
        raise ProtocolError("ISSI must be 0..16777215")
    return value
