"""What the projector does when Faust assigns it partitions: where each one resumes.

Called from the consumer's seek (``projector.runtime.consumer``) on every assignment. It
creates the generation if Redis has none (idempotent), honours an operator's offset
reset (``projector.runtime.rebuild``), and answers the checkpoints of the store. Its
Redis work is retried until Redis lets it finish (``projector.core.retry.until_done``):
an exception here would crash Faust's consumer.
"""

from __future__ import annotations

import time
from typing import Any

from projector.core.retry import Health, until_done
from projector.runtime.rebuild import RebuildKeeper
from projector.runtime.target import WriteTarget


class Assignment:
    def __init__(self, target: WriteTarget, rebuilds: RebuildKeeper, health: Health) -> None:
        self.target, self.rebuilds, self.health = target, rebuilds, health
        self.assigned_once = False
        """Whether an assignment has gone through (before it, the process is starting)."""

    async def resume_offsets(self, assigned: set[Any]) -> dict[Any, int | None]:
        """Where each assigned partition resumes (None: from the earliest offset)."""
        found: dict[Any, int | None] = {}

        async def attempt() -> None:
            found.update(await self._resume_offsets(assigned))

        await until_done(attempt, self.health)
        return found

    async def _resume_offsets(self, assigned: set[Any]) -> dict[Any, int | None]:
        store = await self.target.store()
        # Creating the generation here (idempotent) makes a first start on an empty Redis
        # begin at the earliest offsets without a rewind; if Redis has lost the
        # generation, its checkpoints are gone too, so "earliest" is right either way.
        await store.initialize(time.time())
        if self.target.fixed is None:
            store = await self.rebuilds.honour_reset(store, {tp.partition for tp in assigned})
        stored = await store.checkpoints()
        self.assigned_once = True
        return {tp: stored.get(tp.partition) for tp in assigned}
