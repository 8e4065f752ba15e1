"""Which generation the projector writes, and the one store it writes it through.

The generation is the one ``views:rebuild`` names while the projector rebuilds after an
operator reset, else the one ``views:current`` names (the writer's rule of
``ordersource.generation``), or a fixed one the process was created for. The store is
resolved once and kept until ``forget`` (a rewind: the generation may have moved) or
``use`` (the projector's own rebuild starts); a lock makes the three exclusive, so a
batch always holds one whole store, never a half-switched one.
"""

from __future__ import annotations

import asyncio
import logging

from redis.asyncio import Redis

from ordersource import keys
from ordersource.generation import aresolve_generation
from projector.offsets import marker
from projector.store.redis_store import RedisProjectionStore

log = logging.getLogger(__name__)


class WriteTarget:
    def __init__(self, redis: Redis, fixed: str | None = None) -> None:
        self.redis, self.fixed = redis, fixed
        self._store: RedisProjectionStore | None = None
        self._lock = asyncio.Lock()

    async def store(self) -> RedisProjectionStore:
        async with self._lock:
            if self._store is None:
                generation = self.fixed or await self.wanted()
                self._store = RedisProjectionStore(
                    self.redis, generation or keys.DEFAULT_GENERATION
                )
                log.info("projecting into generation %s", self._store.generation)
            return self._store

    async def use(self, store: RedisProjectionStore) -> None:
        async with self._lock:
            self._store = store
        log.info("projecting into generation %s", store.generation)

    async def forget(self) -> None:
        """Resolve the generation again on the next ``store`` (unless it is fixed)."""
        if self.fixed is None:
            async with self._lock:
                self._store = None

    async def wanted(self) -> str | None:
        """The generation the projector should write now, as Redis names it."""
        return self.fixed or await aresolve_generation(self.redis, writer=True)

    async def moved(self) -> bool:
        """Whether Redis now names another generation than the store in hand."""
        if self.fixed is not None or self._store is None:
            return False
        wanted = await self.wanted()
        if wanted is None or wanted == self._store.generation:
            return False
        log.info("generation %s -> %s: following", self._store.generation, wanted)
        return True

    def commit_marker(self) -> str:
        """The metadata of the projector's own offset commits (``projector.offsets``)."""
        return marker(self._store.generation if self._store else "-")
