"""The projector's Faust app: ``orders.events`` folded into Redis views, in batches.

``create_app(settings)`` builds everything (no import-time side effects). Faust's job
here is the consumer group, partition assignment and batching; decoding uses the shared
codec (``value_serializer="raw"``), folding the shared ``evolve``, and every write is one
atomic Redis step per batch (see ``projector.store.redis_store``).
``projector.runtime.consumer`` explains the two consumer hooks (read_committed, resume
from the Redis checkpoint).

Faust settings that matter: ``topic_allow_declare=False`` (ops create the topics with the
right retention; ``projector.runtime.topics`` checks them before start), no leader topic,
``stream_wait_empty=False`` (a rebalance must not wait for a batch), and offsets committed
every ``COMMIT_EVERY`` records / second: a crash re-delivers at most that much, which
the projection skips by checkpoint and by version.

Nothing the projector does raises into Faust (whose supervisor would restart the agent
and drop the batch in flight, or crash the worker): a batch is retried until it goes
through (``projector.core.batch``), the progress timer skips a tick, and /readyz answers
503 with the reason while batches fail. The process never exits by itself.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Any, cast

import faust
from faust.streams import Stream
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from ordersource.connections import faust_credentials
from ordersource.readiness import readiness
from ordersource.settings import Settings
from projector.core.metrics import ProjectorMetrics
from projector.core.retry import Health
from projector.runtime.assignment import Assignment
from projector.runtime.batches import BatchRunner
from projector.runtime.clients import Clients
from projector.runtime.consumer import ProjectorTransport, checkpoint_consumer
from projector.runtime.deadletters import DeadLetterProducer
from projector.runtime.progress import ProgressReporter
from projector.runtime.rebuild import RebuildKeeper
from projector.runtime.rewind import FaustRewinder
from projector.runtime.target import WriteTarget
from projector.store.faults import REDIS_FAULTS

log = logging.getLogger(__name__)

COMMIT_EVERY = 5000
PROGRESS_INTERVAL_S = 0.5
SESSION_TIMEOUT_S = 10.0


def create_app(
    settings: Settings, *, generation: str | None = None, clients: Clients | None = None
) -> faust.App:
    """The projector, wired: ``clients`` (built from ``settings`` unless given) are the
    only clients it talks through besides Faust's own; ``generation`` fixes the one it
    writes (else it follows ``projector.runtime.target``)."""
    clients = clients or Clients.build(settings)
    brokers = [f"kafka://{host.strip()}" for host in settings.kafka_bootstrap.split(",")]
    app = faust.App(
        settings.projector_group,
        broker=brokers,
        broker_credentials=faust_credentials(settings),
        value_serializer="raw",
        key_serializer="raw",
        autodiscover=False,
        datadir=str(Path(settings.state_dir) / f"projector-{settings.projector_group}"),
        topic_allow_declare=False,
        topic_disable_leader=True,
        topic_partitions=settings.partitions,
        consumer_auto_offset_reset="earliest",
        stream_wait_empty=False,
        broker_commit_every=COMMIT_EVERY,
        broker_commit_interval=1.0,
        broker_max_poll_records=settings.projector_batch_size * 4,
        stream_buffer_maxsize=settings.projector_batch_size * 8,
        producer_acks=-1,
        # A projector killed -9 keeps its partitions until its session times out; a
        # restarted one waits that long before it can resume (Faust's default is 60 s).
        broker_session_timeout=SESSION_TIMEOUT_S,
        broker_heartbeat_interval=SESSION_TIMEOUT_S / 4,
        web_enabled=True,
        web_bind=settings.projector_host,
        web_host=settings.projector_host,
        web_port=settings.projector_port,
        web_in_thread=False,
    )
    metrics = ProjectorMetrics()
    health = Health(metrics, REDIS_FAULTS)
    consumer = functools.partial(checkpoint_consumer, app)
    target = WriteTarget(clients.redis, generation)
    rebuilds = RebuildKeeper(settings, clients.redis, target, clients.group_offsets)
    assignment = Assignment(target, rebuilds, health)
    rewinder = FaustRewinder(app, consumer, target)
    dead_letters = DeadLetterProducer(settings, lambda: app.producer)
    batches = BatchRunner(target, consumer, dead_letters, rewinder, metrics, health)
    reporter = ProgressReporter(consumer, target, clients.ends, metrics)
    app.transport = ProjectorTransport(
        app.conf.broker_consumer,
        app,
        resume_offsets=assignment.resume_offsets,
        commit_marker=target.commit_marker,
    )
    events = app.topic(settings.events_topic, partitions=settings.partitions, internal=False)

    @app.agent(events, name="project")
    async def project(stream: faust.StreamT[bytes]) -> None:
        size, window = settings.projector_batch_size, settings.projector_batch_window_s
        async for batch in cast(Stream[bytes], stream).take_events(size, within=window):
            try:
                await batches.project(batch)  # retries until done; raises nothing
            except Exception:  # a bug: never let Faust restart the agent (see above)
                # The batch is not committed; the next one finds the gap and re-reads.
                log.exception("batch abandoned; its records will be read again")

    skipped = [False]  # the progress timer's failures are logged once per streak

    @app.timer(interval=PROGRESS_INTERVAL_S)  # type: ignore[untyped-decorator]
    async def report_progress() -> None:
        if assignment.assigned_once and not app.rebalancing:
            try:
                await rewinder.follow()  # a blue/green replay may have switched generations
                await reporter.report()
                await rebuilds.finish(await target.store())
            except Exception as exc:  # the next tick tries again; a timer must not raise
                if not skipped[0]:
                    kind = type(exc).__name__
                    log.warning("progress reports skipped until they go: %s: %s", kind, exc)
                skipped[0] = True
            else:
                if skipped[0]:
                    log.info("progress reports going again")
                skipped[0] = False

    @app.on_before_shutdown.connect
    async def close_probe(sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        # The end-offset probe's Kafka client. Redis stays open: a batch still retrying
        # during the stop must not fail on a closed client (the process exits anyway).
        await clients.ends.close()

    _pages(app, target, assignment, health, metrics.registry)
    return app


def _pages(
    app: faust.App,
    target: WriteTarget,
    assignment: Assignment,
    health: Health,
    registry: CollectorRegistry,
) -> None:
    @app.page("/healthz")
    async def healthz(web: faust.web.View, request: faust.web.Request) -> faust.web.Response:
        return web.json({"status": "ok"})

    @app.page("/readyz")
    async def readyz(web: faust.web.View, request: faust.web.Request) -> faust.web.Response:
        try:
            redis_ok, error = bool(await (await target.store()).ping()), {}
        except Exception as exc:  # any Redis failure means "not ready", never a crash
            redis_ok, error = False, {"error": repr(exc)}
        assigned = assignment.assigned_once and not app.rebalancing
        failure = health.describe() if health.failing else None  # keeps failing: say why
        ready = readiness({"redis": redis_ok, "assigned": assigned}, ["redis"], failure, **error)
        return web.json(ready.body(), status=ready.http_status)

    @app.page("/metrics")
    async def metrics(web: faust.web.View, request: faust.web.Request) -> faust.web.Response:
        body = generate_latest(registry)
        # aiohttp refuses a charset inside content_type=, so pass the header as is.
        return web.bytes(body, headers={"Content-Type": CONTENT_TYPE_LATEST})
