"""The projector at run time: Redis, the store of its generation, and the Faust adapters.

Generation: the projector writes the generation ``projector.store.generations.target`` names
(its own rebuild after an operator reset, else ``views:current``), or a fixed one it
was created for. It follows that name: the progress timer calls ``follow`` twice a
second, and when ``views:current`` moved (a blue/green replay switched), it rewinds —
the same sequence as after a FLUSHALL — onto the new generation's checkpoints. Every
batch captures its store *before* dropping stale records and every switch marks all
records fetched so far stale *before* the store changes, so a batch planned against
one generation can never be applied to another (the plan's keys carry the
generation's prefix, and the commit script checks that generation's checkpoints).

Nothing here raises into Faust: a batch is retried until it goes through
(``projector.core.batch.run_batch``), and so is the Redis work of an assignment
(``resume_offsets``); meanwhile ``health`` says why on /readyz.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any, cast

import faust

from ordersource import keys
from ordersource.connections import async_redis_client
from ordersource.settings import Settings
from projector.core.batch import BatchHandler, Health, Key, run_batch, until_done
from projector.core.metrics import ProjectorMetrics
from projector.core.plan import Incoming
from projector.ops.offsets import marker
from projector.runtime.consumer import CheckpointConsumer
from projector.runtime.rebuild import RebuildKeeper
from projector.store import generations
from projector.store.redis_store import RedisProjectionStore

log = logging.getLogger(__name__)

FLOW_SETTLE_S = 0.2
"""After stopping Faust's flow, time for its fetch loop to finish the record in hand."""


class Projection:
    def __init__(self, app: faust.App, settings: Settings, generation: str | None) -> None:
        self.app, self.settings, self.metrics = app, settings, ProjectorMetrics()
        self.redis = async_redis_client(settings)
        self.fixed = generation
        self._store: RedisProjectionStore | None = None
        self._lock = asyncio.Lock()
        self.assigned_once = False
        self.rebuilds = RebuildKeeper(self)
        self.health = Health(self.metrics)

    async def store(self) -> RedisProjectionStore:
        async with self._lock:
            if self._store is None:
                generation = self.fixed or await generations.target(self.redis)
                self._store = RedisProjectionStore(
                    self.redis, generation or keys.DEFAULT_GENERATION
                )
                log.info("projecting into generation %s", self._store.generation)
            return self._store

    async def use(self, store: RedisProjectionStore) -> None:
        async with self._lock:
            self._store = store
        log.info("projecting into generation %s", store.generation)

    def commit_marker(self) -> str:
        return marker(self._store.generation if self._store else "-")

    async def resume_offsets(self, assigned: set[Any]) -> dict[Any, int | None]:
        """Where each assigned partition resumes; retried until Redis lets it finish
        (an exception here would crash Faust's consumer)."""
        found: dict[Any, int | None] = {}

        async def attempt() -> None:
            found.update(await self._resume_offsets(assigned))

        await until_done(attempt, self.health)
        return found

    async def _resume_offsets(self, assigned: set[Any]) -> dict[Any, int | None]:
        store = await self.store()
        # Creating the generation here (idempotent) makes a first start on an empty Redis
        # begin at the earliest offsets without a rewind; if Redis has lost the
        # generation, its checkpoints are gone too, so "earliest" is right either way.
        await store.initialize(time.time())
        if self.fixed is None:
            store = await self.rebuilds.honour_reset(store, {tp.partition for tp in assigned})
        stored = await store.checkpoints()
        self.assigned_once = True
        return {tp: stored.get(tp.partition) for tp in assigned}

    async def project(self, events: Sequence[faust.types.EventT[Any]]) -> None:
        """The batch, whatever it takes; never raises (``projector.core.batch.run_batch``)."""
        sent: set[Key] = set()
        attempt = functools.partial(self._attempt, sent=sent)
        await run_batch(events, attempt, _key, self.health)

    async def _attempt(
        self,
        events: Sequence[faust.types.EventT[Any]],
        refused: Mapping[Key, str],
        *,
        sent: set[Key],
    ) -> None:
        # The store first, then the stale filter, with no await in between (see above);
        # on every attempt, as a rewind or rebalance during a retry makes records stale.
        store = await self.store()
        consumer = cast(CheckpointConsumer, self.app.consumer)
        batch = [
            Incoming(m.partition, m.offset, m.key, m.value, since=consumer.since(m))
            for m in (event.message for event in events)
            # Records fetched before the last seek (rebalance, rewind) come again from
            # the new position; applying them first would move the checkpoint past
            # records not yet re-applied.
            if not consumer.is_stale(m)
        ]
        if batch:
            handler = BatchHandler(store, DeadLetterProducer(self), self, self.metrics, sent=sent)
            with self.metrics.batch_seconds.time():
                await handler.handle(batch, refused)

    async def follow(self) -> None:
        """Move to the generation the projector should write, if it changed."""
        if self.fixed is None and self._store is not None:
            wanted = await generations.target(self.redis)
            if wanted is not None and wanted != self._store.generation:
                log.info("generation %s -> %s: following", self._store.generation, wanted)
                await self.rewind()

    async def rewind(self) -> None:
        """Re-read every assigned partition from the store's checkpoint (Faust's own
        revocation sequence: stop the flow, drop queued records, seek, resume), after
        resolving the generation to write again."""
        app, consumer = self.app, cast(CheckpointConsumer, self.app.consumer)
        consumer.stop_flow()
        app.flow_control.suspend()
        app.flow_control.clear()
        await asyncio.sleep(FLOW_SETTLE_S)
        consumer.seek_epoch += 1  # everything fetched so far is stale, before the store changes
        if self.fixed is None:
            async with self._lock:
                self._store = None
        await consumer.perform_seek()  # to the store's checkpoints; older records go stale
        app.flow_control.resume()
        consumer.resume_flow()
        log.info("rewound every assigned partition to its checkpoint")


def _key(event: faust.types.EventT[Any]) -> Key:
    return event.message.partition, event.message.offset


DLQ_SEND_TIMEOUT_S = 10.0
"""A DLQ produce that takes longer fails the attempt (Faust's producer would wait for
its request timeout, 20 minutes); the batch is retried and may send it again."""


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
        send = self.projection.app.producer.send_and_wait(
            settings.dlq_topic, record.key, record.value, None, None, headers
        )
        try:
            await asyncio.wait_for(send, DLQ_SEND_TIMEOUT_S)
        except TimeoutError as exc:
            raise TimeoutError(
                f"DLQ produce to {settings.dlq_topic} took over {DLQ_SEND_TIMEOUT_S:g} s"
            ) from exc


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
