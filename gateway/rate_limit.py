"""The rate of new callouts one gateway instance accepts: a token bucket.

MQTT does not tell a subscriber which client published a message (neither 3.1.1 nor 5 carry
the publisher's identity to the receiver), so the gateway cannot count per client. Who may
publish at all is the broker's job: the shipped ACL (``config/mosquitto/acl``) lets only the
``dispatch`` identity write the inbound topics. The gateway therefore limits the rate of the
whole stream it receives — per instance, which with that ACL is the rate of the dispatch
client(s) — as a last guard against a runaway or compromised CAD paging every unit in a loop
(docs/threat-model.md, D1 and R1).

Only *new* callouts take a token: a republished callout id is answered with its current
state and alerts nobody, so it is never refused for the rate (the CAD's retries must always
learn what became of their callout).
"""

from __future__ import annotations

import time
from collections.abc import Callable

__all__ = ["CalloutRateLimit"]


class CalloutRateLimit:
    """A token bucket of ``per_minute`` tokens, refilled continuously at ``per_minute / 60``
    per second.

    A full bucket lets a burst of ``per_minute`` callouts through at once (a major incident
    pages many units in a few seconds); after that, new callouts are admitted at the steady
    rate. ``clock`` gives monotonic seconds (``time.monotonic``; tests inject their own).
    """

    def __init__(self, per_minute: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        if per_minute < 1:
            raise ValueError("per_minute must be at least 1")
        self.capacity = float(per_minute)
        self._refill_per_s = per_minute / 60.0
        self._clock = clock
        self._tokens = self.capacity
        self._updated = clock()

    @property
    def tokens(self) -> float:
        """The tokens available now (fractional while refilling)."""
        self._refill()
        return self._tokens

    def try_take(self) -> bool:
        """Take one token: True when a new callout may be accepted now, False when the rate
        is exceeded (nothing is taken then)."""
        self._refill()
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True

    def give_back(self) -> None:
        """Return a token taken for a callout that was not accepted after all (its incident
        was closed, say); the bucket never holds more than its capacity."""
        self._tokens = min(self.capacity, self._tokens + 1.0)

    def _refill(self) -> None:
        now = self._clock()
        # A clock that steps back (it should not: monotonic) adds nothing rather than
        # draining the bucket.
        elapsed = max(0.0, now - self._updated)
        self._updated = now
        self._tokens = min(self.capacity, self._tokens + elapsed * self._refill_per_s)
