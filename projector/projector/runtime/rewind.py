"""Re-reading every assigned partition from its checkpoint: after a lost batch, an
emptied Redis, or a move of the generation the projector writes (a blue/green switch).

Faust's own revocation sequence: stop the flow, drop queued records, seek, resume. The
consumer's seek epoch moves *before* the store is forgotten, so every record fetched so
far is stale before the generation can change; with the batch runner taking its store
before dropping stale records (``projector.runtime.batches``), a batch planned against
one generation is never applied to another (the plan's keys carry the generation's
prefix, and the commit script checks that generation's checkpoints).

``follow`` runs on the progress timer, twice a second: when Redis names another
generation than the one in hand, it rewinds — the same sequence as after a FLUSHALL —
onto the new generation's checkpoints.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import faust

from projector.runtime.consumer import CheckpointConsumer
from projector.runtime.target import WriteTarget

log = logging.getLogger(__name__)

FLOW_SETTLE_S = 0.2
"""After stopping Faust's flow, time for its fetch loop to finish the record in hand."""


class FaustRewinder:
    """The ``Rewinder`` port of ``projector.core.batch`` on Faust's consumer."""

    def __init__(
        self, app: faust.App, consumer: Callable[[], CheckpointConsumer], target: WriteTarget
    ) -> None:
        self.app, self.consumer, self.target = app, consumer, target

    async def follow(self) -> None:
        """Move to the generation the projector should write, if it changed."""
        if await self.target.moved():
            await self.rewind()

    async def rewind(self) -> None:
        """Re-read every assigned partition from the store's checkpoint, after resolving
        the generation to write again."""
        app, consumer = self.app, self.consumer()
        consumer.stop_flow()
        app.flow_control.suspend()
        app.flow_control.clear()
        await asyncio.sleep(FLOW_SETTLE_S)
        consumer.seek_epoch += 1  # everything fetched so far is stale, before the store changes
        await self.target.forget()
        await consumer.perform_seek()  # to the store's checkpoints; older records go stale
        app.flow_control.resume()
        consumer.resume_flow()
        log.info("rewound every assigned partition to its checkpoint")
