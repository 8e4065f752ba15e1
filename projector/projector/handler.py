"""One batch, end to end: decode, load, plan, dead-letter, commit, account.

Free of Faust so it can be tested with fakes: Kafka is reached only through the two
small ports below. Ordering matters for G5/G6: dead letters are produced (and
acknowledged by Kafka) *before* the commit that moves the checkpoint past them, so a
crash in between re-sends a dead letter rather than losing one.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Protocol

from ordersource.codec import UndecodableEvent, decode_event
from projector.metrics import ProjectorMetrics
from projector.projection import Incoming, plan_batch
from projector.store import ProjectionStore

log = logging.getLogger(__name__)

MAX_CONFLICTS = 10


class DeadLetters(Protocol):
    async def send(self, record: Incoming, reason: str) -> None: ...


class Rewinder(Protocol):
    async def rewind(self) -> None:
        """Re-read every assigned partition from its checkpoint in the store."""


class BatchHandler:
    def __init__(
        self,
        store: ProjectionStore,
        dead_letters: DeadLetters,
        rewinder: Rewinder,
        metrics: ProjectorMetrics,
    ) -> None:
        self.store, self.dead_letters, self.rewinder = store, dead_letters, rewinder
        self.metrics = metrics

    async def handle(self, batch: Sequence[Incoming]) -> None:
        records = [decode(record) for record in batch]
        order_ids = {r.event.order_id for r in records if r.event is not None}
        partitions = {r.partition for r in records}
        sent: set[tuple[int, int]] = set()  # a retried plan must not dead-letter twice
        for _ in range(MAX_CONFLICTS):
            snapshot = await self.store.load(order_ids, partitions)
            if snapshot is None:
                # Redis lost the generation (restarted empty, flushed) or never had it:
                # recreate the marker and re-read everything; this batch is dropped
                # because it will come again from the checkpoint (now: earliest).
                log.warning("generation %s missing in Redis: rebuilding", self.store.generation)
                self.metrics.rebuilds.inc()
                await self.store.initialize(time.time())
                await self.rewinder.rewind()
                return
            plan = plan_batch(records, snapshot)
            for record, reason in plan.dead:
                if (record.partition, record.offset) not in sent:
                    await self.dead_letters.send(record, reason)
                    sent.add((record.partition, record.offset))
            if await self.store.commit(plan, time.time()):
                self.metrics.observe(plan)
                for record, reason in plan.parked:
                    log.error("parked %s@%s: %s", record.partition, record.offset, reason)
                return
            log.info("checkpoints moved under this batch; reloading")
        raise RuntimeError("projection store keeps changing under this projector")


def decode(record: Incoming) -> Incoming:
    try:
        event = decode_event(record.value)
    except UndecodableEvent as exc:
        return Incoming(record.partition, record.offset, record.key, record.value, None, exc.reason)
    return Incoming(record.partition, record.offset, record.key, record.value, event)
