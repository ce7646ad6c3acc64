"""The gateway's engine, assembled: one place that wires its four services together.

The daemon (``gateway/daemon.py``) builds them from the configuration around the real radio
pool; the unit tests build them around scripted radios. Both go through :func:`build_services`
so that what is tested is wired exactly as what runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from dataclasses import dataclass

from gateway.callouts import CalloutEngine, RetryPolicy
from gateway.health import RadioStates
from gateway.inbound import InboundLimits, InboundRouter, UnitSender
from gateway.incidents import IncidentService
from gateway.publisher import Publisher
from gateway.rate_limit import CalloutRateLimit
from gateway.relay import StatusRelay
from gateway.store import Store
from hardware.talkgroups import TalkgroupBackend
from protocols.sds.status import StatusTable


@dataclass(frozen=True, slots=True)
class Services:
    """The engine's parts: inbound messages go to ``router``, radio events to ``relay``."""

    publisher: Publisher
    incidents: IncidentService
    engine: CalloutEngine
    relay: StatusRelay
    router: InboundRouter


def build_services(
    *,
    store: Store,
    publisher: Publisher,
    radios: UnitSender,
    backend: TalkgroupBackend | None,
    table: StatusTable,
    radio_states: RadioStates,
    notify_outbox: Callable[[], None],
    retry: RetryPolicy | None = None,
    policy_warnings: bool = True,
    idle_release_s: float = 3600.0,
    limits: InboundLimits | None = None,
    rate_limit: CalloutRateLimit | None = None,
    clock: Callable[[], float] = time.time,
    min_tick_interval_s: float = 0.02,
    urgent_priorities: Collection[str] = (),
) -> Services:
    """Wire the incident service, the callout engine, the status relay and the router."""
    incidents = IncidentService(
        store=store,
        publisher=publisher,
        backend=backend,
        notify_outbox=notify_outbox,
        idle_release_s=idle_release_s,
        clock=clock,
    )
    engine = CalloutEngine(
        store=store,
        publisher=publisher,
        radios=radios,
        notify_outbox=notify_outbox,
        retry=retry,
        groups=incidents,
        policy_warnings=policy_warnings,
        clock=clock,
        min_tick_interval_s=min_tick_interval_s,
        urgent_priorities=urgent_priorities,
    )
    relay = StatusRelay(
        store=store,
        publisher=publisher,
        table=table,
        callouts=engine,
        incidents=incidents,
        radios=radio_states,
        notify_outbox=notify_outbox,
        clock=clock,
    )
    router = InboundRouter(
        topics=publisher.topics,
        store=store,
        publisher=publisher,
        callouts=engine,
        incidents=incidents,
        pool=radios,
        notify_outbox=notify_outbox,
        limits=limits,
        rate_limit=rate_limit,
    )
    return Services(publisher, incidents, engine, relay, router)
