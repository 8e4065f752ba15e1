"""One batch, end to end: decode, load, plan, dead-letter, commit, account.

Free of Faust and of any client library so it can be tested with fakes: the store, the
DLQ and the rewind are reached only through the small ports below (the Redis store, the
Faust producer and the Faust consumer's seeks implement them in the live process; the
replay builder of ``orders replay`` has its own). Ordering matters for G5/G6: dead
letters are produced (and acknowledged by Kafka) *before* the commit that moves the
checkpoint past them, so a crash in between re-sends a dead letter rather than losing
one. What happens when an attempt fails is ``projector.core.retry``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from ordersource.codec import UndecodableEvent, decode_event
from projector.core.metrics import ProjectorMetrics
from projector.core.plan import BatchPlan, Incoming, Snapshot, plan_batch

log = logging.getLogger(__name__)

MAX_CONFLICTS = 10

Key = tuple[int, int]
"""(partition, offset) of a record."""


class StoreKeepsMoving(RuntimeError):
    """Checkpoints moved under the batch MAX_CONFLICTS times in a row (another projector
    writing the same partitions): retried like any other failure."""


class ProjectionStore(Protocol):
    """Where the projection lives (``projector.store``: Redis, or in memory for tests)."""

    generation: str

    async def load(self, order_ids: Iterable[str], partitions: Iterable[int]) -> Snapshot | None:
        """The batch's starting point, or None when the generation does not exist."""

    async def commit(self, plan: BatchPlan, now: float) -> bool:
        """Apply the plan atomically; False if the store moved since ``load``."""

    async def initialize(self, now: float) -> None:
        """Create the generation's marker (and make it current if none is)."""

    async def checkpoints(self) -> dict[int, int]: ...

    async def report_progress(self, progress: dict[int, dict[str, Any]]) -> None: ...

    async def ping(self) -> bool: ...


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
        *,
        sent: set[Key] | None = None,
    ) -> None:
        self.store, self.dead_letters, self.rewinder = store, dead_letters, rewinder
        self.metrics = metrics
        # Dead letters already produced for this batch (shared by its retried attempts).
        self.sent: set[Key] = set() if sent is None else sent

    async def handle(self, batch: Sequence[Incoming], refused: Mapping[Key, str] = {}) -> None:
        """``refused``: records to dead-letter with that reason instead of projecting."""
        records = [
            dead(record, refused[(record.partition, record.offset)])
            if (record.partition, record.offset) in refused
            else decode(record)
            for record in batch
        ]
        order_ids = {r.event.order_id for r in records if r.event is not None}
        partitions = {r.partition for r in records}
        sent = self.sent  # a retried plan must not dead-letter twice
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
            if plan.gaps:
                # Records between a checkpoint and this batch were read but never
                # committed (a batch lost in flight): applying this one would move the
                # checkpoint over them. Commit nothing; read again from the checkpoints.
                for partition, (checkpoint, since) in sorted(plan.gaps.items()):
                    log.warning(
                        "partition %s: batch continues from offset %s, checkpoint is %s:"
                        " re-reading from the checkpoint",
                        partition,
                        since,
                        checkpoint,
                    )
                self.metrics.gaps.inc()
                await self.rewinder.rewind()
                return
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
        raise StoreKeepsMoving("projection store keeps changing under this projector")


def decode(record: Incoming) -> Incoming:
    try:
        event = decode_event(record.value)
    except UndecodableEvent as exc:
        return dead(record, exc.reason)
    r = record
    return Incoming(r.partition, r.offset, r.key, r.value, event, since=r.since)


def dead(record: Incoming, reason: str) -> Incoming:
    """The record as one the plan dead-letters with ``reason``."""
    r = record
    return Incoming(r.partition, r.offset, r.key, r.value, None, reason, since=r.since)
