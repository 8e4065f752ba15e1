"""The projector's side of replay: act on an operator's reset, finish its own rebuild.

``honour_reset`` runs on every partition assignment (see ``projector.runtime.reset`` for the
rules). ``finish`` runs after every progress report: once the generation the projector
rebuilds has caught up on *every* partition of the topic (by the progress reports of
all instances: every record below the partition's last stable offset applied, see
``projector.runtime.stable``; empty partitions report too), it becomes current atomically and
the old one is dropped in the background. No new command is needed for that.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from redis.asyncio import Redis

from ordersource import codec, keys
from ordersource.settings import Settings
from projector.runtime.reset import GroupOffsets, detect, unmarked
from projector.runtime.target import WriteTarget
from projector.store import generations
from projector.store.redis_store import RedisProjectionStore

log = logging.getLogger(__name__)

FRESH_REPORT_S = 5.0


class RebuildKeeper:
    def __init__(
        self,
        settings: Settings,
        redis: Redis,
        target: WriteTarget,
        group_offsets: Callable[[], Awaitable[GroupOffsets]],
    ) -> None:
        """``group_offsets``: the group's committed and earliest offsets, read from Kafka."""
        self.settings, self.redis, self.target = settings, redis, target
        self.group_offsets = group_offsets
        self._tasks: set[asyncio.Task[None]] = set()

    async def honour_reset(
        self, store: RedisProjectionStore, partitions: set[int]
    ) -> RedisProjectionStore:
        redis, settings = self.redis, self.settings
        try:
            group = await self.group_offsets()
        except Exception as exc:  # Kafka's admin API failing must not stop projecting
            log.warning("could not read the group's committed offsets (%r); resuming", exc)
            return store
        seen_key = keys.resets_seen(settings.projector_group)
        seen = {int(p): int(o) for p, o in (await redis.hgetall(seen_key)).items()}
        plan = detect(group, await store.checkpoints(), partitions, seen)
        # Remember what was acted on; forget partitions our own commits have replaced.
        pending = unmarked(group, partitions)
        gone = [str(p) for p in partitions if p not in pending]
        if gone:
            await redis.hdel(seen_key, *gone)
        if pending:
            await redis.hset(seen_key, mapping={str(p): str(o) for p, o in pending.items()})
        if plan is None:
            return store
        if plan.ignored:
            log.warning("ignoring reset of %s past the views' checkpoints", plan.ignored)
        if not plan.offsets:
            return store
        if not plan.rebuild:
            log.warning("operator reset %s: rewinding %s", plan.offsets, store.generation)
            await store.rewind_checkpoints(plan.offsets)
            return store
        live = await generations.current(redis)
        abandoned = store.generation if store.generation != live else None
        generation = await generations.allocate(redis, generations.BUILDING, "reset", rebuild=True)
        fresh = RedisProjectionStore(redis, generation)
        await fresh.initialize(time.time())
        await self.target.use(fresh)
        log.warning(
            "operator reset %s to the earliest offsets: rebuilding into generation %s",
            plan.offsets,
            generation,
        )
        if abandoned is not None:  # an earlier rebuild that never finished
            self._spawn(self._drop(abandoned))
        return fresh

    async def finish(self, store: RedisProjectionStore) -> None:
        redis, settings = self.redis, self.settings
        if await redis.get(keys.REBUILD_GENERATION) != store.generation.encode():
            return
        reports = await redis.hgetall(store.keys.progress)
        now = time.time()
        done = {
            int(p)
            for p, raw in reports.items()
            if (r := codec.loads(raw))["caught_up"] and now - r["reported_at"] < FRESH_REPORT_S
        }
        if done != set(range(settings.partitions)):
            return
        old = await generations.current(redis)
        if await generations.switch(redis, store.generation, old) == 1:
            log.warning("generation %s caught up: now current (was %s)", store.generation, old)
            if old is not None and old != store.generation:
                self._spawn(self._drop(old))

    async def _drop(self, generation: str) -> None:
        deleted = await generations.drop(self.redis, generation)
        log.info("dropped generation %s (%d keys)", generation, deleted)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
