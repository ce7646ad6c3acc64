"""The composition root: config in, a running gateway out.

Builds the store, the radios, the talk-group backend, the MQTT bridge (and the embedded broker
when none is configured) and the engine around them, runs them until SIGTERM/SIGINT, and stops
them in an order that loses nothing: the bridge first (no new inbound messages), then the
engine's tasks, then the radios, then the store. Everything accepted is in the store by then;
the next start resumes it.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
from collections.abc import Awaitable, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from gateway.broker import EmbeddedBroker
from gateway.callouts import RetryPolicy
from gateway.config import GatewayConfig
from gateway.health import RadioStates, health_payload
from gateway.inbound import InboundLimits
from gateway.logging import get_logger
from gateway.mqtt import MqttBridge
from gateway.mqtt_settings import MqttSettings, TlsFiles
from gateway.publisher import Publisher
from gateway.rate_limit import CalloutRateLimit
from gateway.services import build_services
from gateway.store import OutboxMessage, Store
from gateway.store.checkpoints import checkpoint_periodically
from hardware.link import LinkSettings
from hardware.pool import RadioPool
from hardware.talkgroups import PoolBackend, TalkgroupBackend, backend_from_url
from hardware.terminal import Terminal, TerminalConfig
from hardware.vendors import profile_for
from protocols.dispatch import Topics
from protocols.sds.status import StatusTable

_log = get_logger("tetragw.daemon")
_PARITY = {"none": "N", "even": "E", "odd": "O"}
#: Seconds between WAL checkpoints (gateway/store/checkpoints.py says when erased callout
#: text is gone from the -wal file).
CHECKPOINT_INTERVAL_S = 1.0


def gateway_version() -> str:
    try:
        return version("tetragw")
    except PackageNotFoundError:
        return "0+unknown"


class StoreOutbox:
    """The store's outbox as the bridge's ``OutboxSource``.

    Confirmations are written in batches: ``confirm`` notes the seq; the notes go into one
    transaction when the bridge next asks for ``pending()`` (after the batch it is
    publishing), once ``window`` have gathered, or on ``flush()``. One synchronous commit
    per batch instead of one per PUBACK (benchmarks: ``docs/performance.md``). A crash
    before the flush republishes those entries once more after the restart: the
    at-least-once the outbox promises anyway (a crash between PUBACK and confirm did so).
    """

    def __init__(self, store: Store, window: int = 200) -> None:
        self._store = store
        self._window = window
        self._confirmed: list[int] = []

    def pending(self) -> Sequence[OutboxMessage]:
        self.flush()
        return self._store.pending_outbox(self._window)

    def confirm(self, seq: int) -> None:
        self._confirmed.append(seq)
        if len(self._confirmed) >= self._window:
            self.flush()

    def flush(self) -> None:
        """Write the noted confirmations (one transaction)."""
        if not self._confirmed:
            return
        seqs, self._confirmed = self._confirmed, []
        with self._store.transaction() as tx:
            tx.mark_published_many(seqs)


def _terminals(config: GatewayConfig) -> list[Terminal]:
    return [
        Terminal(
            TerminalConfig(
                name=radio.name,
                url=radio.url,
                vendor=profile_for(radio.vendor),
                link=LinkSettings(
                    baud=radio.baud,
                    rtscts=radio.rtscts,
                    parity=_PARITY[radio.parity],  # type: ignore[arg-type]
                ),
                send_deadline=float(config.callouts.default_deadline_s),
            )
        )
        for radio in config.radios
    ]


def _mqtt_settings(config: GatewayConfig, broker_url: str, *, embedded: bool) -> MqttSettings:
    broker = config.broker
    tls = None
    if broker.tls_ca or broker.tls_cert or broker.tls_key or broker_url.startswith("mqtts"):
        tls = TlsFiles(
            ca_file=broker.tls_ca,
            cert_file=broker.tls_cert,
            key_file=broker.tls_key,
            insecure=broker.tls_insecure,
        )
    return MqttSettings.from_url(
        broker_url,
        gateway_id=config.gateway.id,
        root=config.gateway.topic_root,
        client_id=broker.client_id,
        username=broker.username,
        password=broker.read_password(),
        tls=tls,
        keepalive_s=broker.keepalive,
        # amqtt speaks MQTT 3.1.1 only (see gateway/broker.py).
        version="3.1.1" if embedded else broker.protocol_version,
        shared_group=None if embedded else broker.shared_subscription_group,
        # A persistent session of a dead member keeps its share of a shared subscription:
        # Mosquitto 2.0 queues every n-th callout for it until it returns (measured by
        # tests/integration/test_scale_out.py). In a group the session ends with the
        # connection, so the surviving instances take the whole stream (docs/scale-out.md).
        session_expiry_s=0 if broker.shared_subscription_group and not embedded else None,
    )


def _instruction_suffix(backend: TalkgroupBackend | None) -> str:
    """The longest group instruction the engine may append to a callout text."""
    if not isinstance(backend, PoolBackend):
        return ""
    return "\n" + backend.instruction_text(backend.gssis.last)


def _freeze_start_up() -> None:
    """End of start-up under ``tetragw run``, which turned the cyclic garbage collector off
    (gateway/cli.py): move every object made so far — modules, schemas, configuration,
    services — to the collector's permanent generation, then turn it on again.

    Without this, each full collection walked all of them: 31 ms during start-up, 35-42 ms
    on the event loop whenever a full collection came due while serving
    (docs/performance.md, fix 26). Garbage made during start-up is kept, once. Nothing is
    done when the collector is on (the daemon run inside another program, such as a test).
    """
    if gc.isenabled():
        return
    gc.freeze()
    gc.enable()


class Gateway:
    """One running gateway instance."""

    def __init__(self, config: GatewayConfig) -> None:
        self.config = config
        self.stopping = asyncio.Event()
        self.group_lost = False
        self._embedded: EmbeddedBroker | None = None

    async def run(self) -> int:
        config = self.config
        data_dir = Path(config.gateway.data_dir)
        data_dir.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - once, at start
        # The WAL is checkpointed on a timer rather than after every completed callout, and
        # from a worker thread while the store is busy (its syncs cost 3-6 ms: not on the
        # loop; gateway/store/checkpoints.py). Erased text leaves the -wal file once the
        # gateway has been quiet for CHECKPOINT_INTERVAL_S, and within 60 s in any case.
        # Group commit (gateway/store/database.py): transactions share one COMMIT until the
        # outbox pump (or the PUBACK of an inbound message) needs them durable.
        store = Store.in_data_dir(data_dir, checkpoint_after_erase=False, group_commit=True)
        store.on_group_lost = self._group_lost
        checkpoints = asyncio.create_task(
            checkpoint_periodically(store, CHECKPOINT_INTERVAL_S), name="checkpoint"
        )
        try:
            return await self._run(store)
        finally:
            checkpoints.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await checkpoints
            store.checkpoint()
            store.close()

    def _group_lost(self, exc: BaseException) -> None:
        """A group COMMIT failed: what is in memory is ahead of the store. Stop (exit 1) and
        let the service manager restart the gateway from what is on disk; nothing of the lost
        group reached dispatch, and the broker redelivers what was not acknowledged."""
        _log.critical("store_group_lost", error=f"{type(exc).__name__}: {exc}")
        self.group_lost = True
        self.stopping.set()

    async def _run(self, store: Store) -> int:
        config = self.config
        topics = Topics(config.gateway.topic_root)
        publisher = Publisher(topics)
        table = StatusTable.from_toml(config.status.table_path().read_text(encoding="utf-8"))
        if not config.radios:
            _log.warning("no_radios_configured")
        terminals = _terminals(config)
        pool = RadioPool(terminals) if terminals else None
        backend: TalkgroupBackend | None = None
        if pool is not None:
            backend = backend_from_url(config.talkgroups.backend, scanner=pool)

        broker_url = config.broker.url
        if broker_url is None:
            self._embedded = EmbeddedBroker("127.0.0.1", 1883)
            await self._embedded.start()
            broker_url = self._embedded.url
            _log.warning("embedded_broker_started", url=broker_url)
        settings = _mqtt_settings(config, broker_url, embedded=self._embedded is not None)

        bridge: MqttBridge | None = None

        def notify() -> None:
            if bridge is not None:
                bridge.notify()

        def on_radio_change() -> None:
            if bridge is not None:
                task = asyncio.get_running_loop().create_task(bridge.publish_health())
                task.add_done_callback(_quiet)

        radios = RadioStates([t.name for t in terminals], on_change=on_radio_change)
        if pool is None:
            raise SystemExit("no radios configured: give --radio or [[radios]]")
        services = build_services(
            store=store,
            publisher=publisher,
            radios=pool,
            backend=backend,
            table=table,
            radio_states=radios,
            notify_outbox=notify,
            retry=RetryPolicy(
                config.callouts.retry_initial_s,
                config.callouts.retry_max_s,
                attempt_timeout_s=config.callouts.attempt_timeout_s,
            ),
            policy_warnings=config.policy.require_ambulance_with_first_responder,
            urgent_priorities=config.callouts.urgent_priorities,
            idle_release_s=config.talkgroups.idle_release_minutes * 60.0,
            limits=InboundLimits(
                max_payload_bytes=config.limits.max_payload_bytes,
                max_text_length=config.callouts.max_text_length,
                max_units=config.callouts.max_units,
                issi_allowed=config.issi_allowed,
                text_suffix=_instruction_suffix(backend),
            ),
            # Per instance: MQTT does not name the publisher (gateway/rate_limit.py).
            rate_limit=CalloutRateLimit(config.limits.callouts_per_minute_per_client),
        )
        incidents, engine, relay, router = (
            services.incidents,
            services.engine,
            services.relay,
            services.router,
        )
        version_text = gateway_version()
        outbox = StoreOutbox(store)
        bridge = MqttBridge(
            settings,
            on_message=router.handle,
            outbox=outbox,
            health=lambda: health_payload(version_text, radios, store.outbox_size()),
            # Group commit: nothing reaches dispatch (publication or PUBACK) before the
            # store's flush makes it survive power loss (gateway/store/durability.py).
            durable=store.wal_sync.wait,
        )
        incidents.restore()
        router.resume()
        # Subscribe before the radios start: nothing is missed. The relay takes what has
        # queued up as one batch, written in one transaction (gateway/relay.py).
        events = pool.event_batches()
        await pool.start()
        tasks = [
            asyncio.create_task(relay.run_batches(events), name="relay"),
            asyncio.create_task(engine.run(), name="callouts"),
            asyncio.create_task(incidents.run(), name="incidents"),
            asyncio.create_task(bridge.run(), name="mqtt"),
        ]
        _freeze_start_up()
        _log.info("gateway_started", summary=config.summary(), version=version_text)
        stop_wait = asyncio.create_task(self.stopping.wait())
        done, _ = await asyncio.wait([stop_wait, *tasks], return_when=asyncio.FIRST_COMPLETED)
        failed = [t for t in done if t is not stop_wait and t.exception() is not None]
        for task in failed:
            _log.error("task_failed", task=task.get_name(), error=repr(task.exception()))
        _log.info("gateway_stopping")
        await bridge.stop()
        outbox.flush()
        await router.stop()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        stop_wait.cancel()
        await pool.stop()
        close = getattr(backend, "close", None)
        if close is not None:
            result = close()
            if isinstance(result, Awaitable):
                await result
        if self._embedded is not None:
            await self._embedded.stop()
        _log.info("gateway_stopped")
        return 1 if failed or self.group_lost else 0


def _quiet(task: asyncio.Task[object]) -> None:
    if not task.cancelled() and task.exception() is not None:
        _log.warning("health_publish_failed", error=repr(task.exception()))


async def serve(config: GatewayConfig) -> int:
    """Run the gateway until SIGTERM or SIGINT; the exit status."""
    gateway = Gateway(config)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, gateway.stopping.set)
    return await gateway.run()
