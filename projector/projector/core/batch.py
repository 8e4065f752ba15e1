"""One batch, end to end: decode, load, plan, dead-letter, commit, account.

Free of Faust so it can be tested with fakes: Kafka is reached only through the two
small ports below. Ordering matters for G5/G6: dead letters are produced (and
acknowledged by Kafka) *before* the commit that moves the checkpoint past them, so a
crash in between re-sends a dead letter rather than losing one.

Failure model (``run_batch``): an attempt that raises commits nothing (the commit is one
all-or-nothing script), so the same batch is simply tried again, with back-off, for as
long as it takes — Redis refusing writes (OOM, READONLY), not answering, a DLQ produce
failing, the store moving under the batch. Nothing escapes to Faust: its supervisor
would restart the agent and drop the batch in flight. While it fails, ``Health`` says
why (/readyz, ``orders_projector_ready``, ``orders_projector_batch_failures_total``) and
the failure is logged once per streak. An error that may belong to one record (a
refusal by the commit script, a data error while planning) is given ``POISON_AFTER``
attempts; then the batch is committed one record at a time, and a record that fails
alone that often goes to the DLQ with the error as its reason (G6).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from functools import partial
from typing import Protocol, TypeVar

from redis.exceptions import (
    BusyLoadingError,
    NoScriptError,
    OutOfMemoryError,
    ReadOnlyError,
    RedisError,
    ResponseError,
)

from ordersource.codec import UndecodableEvent, decode_event
from projector.core.metrics import ProjectorMetrics
from projector.core.plan import Incoming, plan_batch
from projector.store.redis_store import ProjectionStore

log = logging.getLogger(__name__)

MAX_CONFLICTS = 10
POISON_AFTER = 5
"""Failed attempts with an error that may be a record's before that record is sought."""
FIRST_DELAY_S, MAX_DELAY_S = 0.1, 2.0

Key = tuple[int, int]
"""(partition, offset) of a record."""


class StoreKeepsMoving(RuntimeError):
    """Checkpoints moved under the batch MAX_CONFLICTS times in a row (another projector
    writing the same partitions): retried like any other failure."""


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


# Redis refusing for now, whatever the data: retried for ever, never blamed on a record.
_REDIS_FOR_NOW = (OutOfMemoryError, ReadOnlyError, BusyLoadingError, NoScriptError)
_REDIS_FOR_NOW_CODES = {
    "OOM", "READONLY", "LOADING", "BUSY", "MASTERDOWN", "NOREPLICAS", "MISCONF",
    "TRYAGAIN", "CLUSTERDOWN", "NOSCRIPT", "NOAUTH", "NOPERM", "WRONGPASS", "MOVED", "ASK",
}  # fmt: skip
_DATA_ERRORS = (ValueError, TypeError, KeyError, IndexError, ArithmeticError)


def may_be_a_records_fault(exc: BaseException) -> bool:
    """An error some record of the batch may cause every time: the commit script's
    refusal or a Redis error about the data, or a data error while planning. Not: Redis
    or Kafka unavailable or refusing writes, timeouts, the store moving, a bug."""
    if isinstance(exc, ResponseError):
        if isinstance(exc, _REDIS_FOR_NOW):
            return False
        return str(exc).split(" ", 1)[0].upper() not in _REDIS_FOR_NOW_CODES
    return isinstance(exc, _DATA_ERRORS)


class Health:
    """Whether batches go through; if not, since when and why (for /readyz and the
    ``orders_projector_ready`` gauge). Logs a failure once per streak, and the recovery."""

    def __init__(self, metrics: ProjectorMetrics) -> None:
        self.metrics = metrics
        self.reason: str | None = None
        self.since: float | None = None
        self.failures = 0

    @property
    def failing(self) -> bool:
        return self.reason is not None

    def failed(self, exc: BaseException) -> None:
        kind = type(exc).__name__
        self.metrics.batch_failures.labels(reason=kind).inc()
        self.failures += 1
        if self.reason is None:
            self.since = time.time()
            # A traceback only for the unexpected: Redis's refusals speak for themselves.
            expected = isinstance(exc, RedisError | OSError | StoreKeepsMoving)
            log.error(
                "projection failing, retrying until it goes through: %s: %s",
                kind,
                exc,
                exc_info=None if expected else exc,
            )
        elif not self.reason.startswith(f"{kind}:"):
            log.error("projection still failing, now: %s: %s", kind, exc)
        self.reason = f"{kind}: {exc}"[:500]
        self.metrics.ready.set(0)

    def ok(self) -> None:
        if self.reason is not None:
            took = time.time() - (self.since or time.time())
            log.warning(
                "projection going again after %d failed attempts in %.1f s (last: %s)",
                self.failures,
                took,
                self.reason,
            )
        self.reason, self.since, self.failures = None, None, 0
        self.metrics.ready.set(1)

    def describe(self) -> dict[str, object]:
        return {"reason": self.reason, "since": self.since, "failed_attempts": self.failures}


class Poisoned(Exception):
    """An attempt kept failing with an error that may be a record's."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


T = TypeVar("T")
Attempt = Callable[[Sequence[T], Mapping[Key, str]], Awaitable[None]]
"""Project these records (all of them or a part), dead-lettering ``refused`` ones."""


async def run_batch(
    records: Sequence[T],
    attempt: Attempt[T],
    key: Callable[[T], Key],
    health: Health,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """Project ``records`` whatever it takes; never raises (but cancellation)."""
    if len(records) > 1:
        try:
            await _until_done(partial(attempt, records, {}), health, sleep, POISON_AFTER)
            return
        except Poisoned as exc:
            log.error(
                "batch of %d refused %d times (%s): committing it one record at a time",
                len(records),
                POISON_AFTER,
                exc,
            )
    for record in records:
        one = [record]
        try:
            await _until_done(partial(attempt, one, {}), health, sleep, POISON_AFTER)
        except Poisoned as exc:
            reason = f"cannot commit: {exc}"[:900]
            partition, offset = key(record)
            log.error("record %s@%s refused %d times: dead letter", partition, offset, POISON_AFTER)
            refused = {key(record): reason}
            await _until_done(partial(attempt, one, refused), health, sleep, None)


async def until_done(
    work: Callable[[], Awaitable[None]],
    health: Health,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """Run ``work`` until it goes through, with back-off; never raises (but cancellation)."""
    await _until_done(work, health, sleep, None)


async def _until_done(
    work: Callable[[], Awaitable[None]],
    health: Health,
    sleep: Callable[[float], Awaitable[None]],
    poison_after: int | None,
) -> None:
    delay, suspect = FIRST_DELAY_S, 0
    while True:
        try:
            await work()
        except Exception as exc:  # anything: the agent must never see it
            health.failed(exc)
            if poison_after is not None and may_be_a_records_fault(exc):
                suspect += 1
                if suspect >= poison_after:
                    raise Poisoned(exc) from exc
            await sleep(delay)
            delay = min(delay * 2, MAX_DELAY_S)
        else:
            health.ok()
            return
