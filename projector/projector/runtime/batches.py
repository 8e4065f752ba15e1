"""Faust's batches into the batch handler: stale records dropped, whatever it takes.

Every attempt takes the store *first*, then drops the records fetched before the last
seek (rebalance, rewind), with no await in between (``projector.runtime.rewind``): they
come again from the new position, and applying them first would move the checkpoint
past records not yet re-applied. Each record carries where its run of reads began
(``since``, from ``projector.runtime.consumer``) so the plan can tell a lost batch.

Nothing here raises into Faust: a batch is retried until it goes through
(``projector.core.retry.run_batch``); meanwhile ``health`` says why on /readyz.

With tracing on, each attempt is a ``project batch`` span, and every event whose record
carries a ``traceparent`` gets a ``project event`` span in its own trace (child of the
decider's span), covering the attempt and linked to the batch span. Off, no header is
looked at.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import faust

from ordersource import tracing
from projector.core.batch import BatchHandler, DeadLetters, Key, Rewinder
from projector.core.metrics import ProjectorMetrics
from projector.core.plan import Incoming
from projector.core.retry import Health, run_batch
from projector.runtime.consumer import CheckpointConsumer
from projector.runtime.target import WriteTarget


class BatchRunner:
    def __init__(
        self,
        target: WriteTarget,
        consumer: Callable[[], CheckpointConsumer],
        dead_letters: DeadLetters,
        rewinder: Rewinder,
        metrics: ProjectorMetrics,
        health: Health,
    ) -> None:
        self.target, self.consumer = target, consumer
        self.dead_letters, self.rewinder = dead_letters, rewinder
        self.metrics, self.health = metrics, health

    async def project(self, events: Sequence[faust.types.EventT[Any]]) -> None:
        """The batch, whatever it takes; never raises (``run_batch``)."""
        sent: set[Key] = set()  # dead letters produced, shared by the retried attempts
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
        store = await self.target.store()
        consumer = self.consumer()
        batch = [
            Incoming(m.partition, m.offset, m.key, m.value, since=consumer.since(m))
            for m in (event.message for event in events)
            if not consumer.is_stale(m)
        ]
        if not batch:
            return
        handler = BatchHandler(store, self.dead_letters, self.rewinder, self.metrics, sent=sent)
        if not tracing.enabled():
            with self.metrics.batch_seconds.time():
                await handler.handle(batch, refused)
            return
        with tracing.span("project batch", attributes={"orders.batch_size": len(batch)}):
            traced = tracing.spans_per_record(
                "project event", [_headers(event) for event in events]
            )
            try:
                with self.metrics.batch_seconds.time():
                    await handler.handle(batch, refused)
            except BaseException as exc:
                tracing.end(traced, exc)
                raise
            tracing.end(traced)


def _headers(event: faust.types.EventT[Any]) -> list[tuple[str, bytes]]:
    headers = event.message.headers
    if isinstance(headers, Mapping):
        return list(headers.items())
    return list(headers or ())


def _key(event: faust.types.EventT[Any]) -> Key:
    return event.message.partition, event.message.offset
