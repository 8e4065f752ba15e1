"""The projector at run time: Redis, the store of its generation, and the Faust adapters.

Generation: the projector writes the generation named by ``views:current`` (or the one
it was created for; issue 5's blue/green rebuild starts a second projector on a new
generation). It is resolved once per process; if Redis loses it the projector recreates
the same generation and rebuilds it from the log (see ``BatchHandler``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any, cast

import faust
from redis.asyncio import Redis

from ordersource import keys
from ordersource.settings import Settings
from projector.handler import BatchHandler
from projector.kafka import CheckpointConsumer
from projector.metrics import ProjectorMetrics
from projector.projection import Incoming
from projector.store import RedisProjectionStore

log = logging.getLogger(__name__)

FLOW_SETTLE_S = 0.2
"""After stopping Faust's flow, time for its fetch loop to finish the record in hand."""


class Projection:
    def __init__(self, app: faust.App, settings: Settings, generation: str | None) -> None:
        self.app, self.settings, self.metrics = app, settings, ProjectorMetrics()
        password = settings.redis_password.get_secret_value() if settings.redis_password else None
        self.redis = Redis.from_url(settings.redis_url, password=password, socket_timeout=5)
        self._generation = generation
        self._store: RedisProjectionStore | None = None
        self._lock = asyncio.Lock()
        self.assigned_once = False

    async def store(self) -> RedisProjectionStore:
        async with self._lock:
            if self._store is None:
                generation = self._generation
                if generation is None:
                    current = await self.redis.get(keys.CURRENT_GENERATION)
                    generation = _text(current) if current else keys.DEFAULT_GENERATION
                self._store = RedisProjectionStore(self.redis, generation)
                log.info("projecting into generation %s", generation)
            return self._store

    async def handler(self) -> BatchHandler:
        return BatchHandler(await self.store(), DeadLetterProducer(self), self, self.metrics)

    async def resume_offsets(self, assigned: set[Any]) -> dict[Any, int | None]:
        store = await self.store()
        # Creating the generation here (idempotent) makes a first start on an empty Redis
        # begin at the earliest offsets without a rewind; if Redis has lost the
        # generation, its checkpoints are gone too, so "earliest" is right either way.
        await store.initialize(time.time())
        stored = await store.checkpoints()
        self.assigned_once = True
        return {tp: stored.get(tp.partition) for tp in assigned}

    async def project(self, events: Sequence[faust.types.EventT[Any]]) -> None:
        consumer = cast(CheckpointConsumer, self.app.consumer)
        batch = [
            Incoming(m.partition, m.offset, m.key, m.value)
            for m in (event.message for event in events)
            # Records fetched before the last seek (rebalance, rewind) come again from
            # the new position; applying them first would move the checkpoint past
            # records not yet re-applied.
            if not consumer.is_stale(m)
        ]
        if batch:
            with self.metrics.batch_seconds.time():
                await (await self.handler()).handle(batch)

    async def rewind(self) -> None:
        """Re-read every assigned partition from the store's checkpoint (Faust's own
        revocation sequence: stop the flow, drop queued records, seek, resume)."""
        app, consumer = self.app, cast(CheckpointConsumer, self.app.consumer)
        consumer.stop_flow()
        app.flow_control.suspend()
        app.flow_control.clear()
        await asyncio.sleep(FLOW_SETTLE_S)
        await consumer.perform_seek()  # to the store's checkpoints; older records go stale
        app.flow_control.resume()
        consumer.resume_flow()
        log.info("rewound every assigned partition to its checkpoint")


class DeadLetterProducer:
    """Sends a record Faust cannot project to the DLQ, with where it came from."""

    def __init__(self, projection: Projection) -> None:
        self.projection = projection

    async def send(self, record: Incoming, reason: str) -> None:
        settings = self.projection.settings
        headers = [
            ("reason", reason.encode()[:1000]),
            ("source_topic", settings.events_topic.encode()),
            ("source_partition", str(record.partition).encode()),
            ("source_offset", str(record.offset).encode()),
        ]
        log.warning("dead letter %s@%s: %s", record.partition, record.offset, reason)
        await self.projection.app.producer.send_and_wait(
            settings.dlq_topic, record.key, record.value, None, None, headers
        )


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
