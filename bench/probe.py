"""Acknowledged → visible: watch Redis until a sampled command's view reaches its version.

Only about ``PER_SECOND`` commands a second are sampled, each polled every ``POLL_S``
(a cheap GET of one key), so the probe adds well under 1 % to Redis's work and little
to the generator's; it reads the same key the query API serves ``GET /orders/{id}`` from.
"""

from __future__ import annotations

import asyncio
import time

import orjson
import redis.asyncio as aioredis

from ordersource import keys
from ordersource.generation import aresolve_generation

PER_SECOND = 20
POLL_S = 0.002
GIVE_UP_S = 5.0
MAX_OPEN = 200


class VisibilityProbe:
    def __init__(self, redis_url: str, rate: float) -> None:
        self.redis = aioredis.Redis.from_url(redis_url, socket_timeout=2)
        self.every = max(1, int(rate // PER_SECOND))
        self.offered = 0
        self.visible_ms: list[float] = []
        self.missed = 0
        self.tasks: set[asyncio.Task[None]] = set()

    def offer(self, body: bytes, acked: float) -> None:
        """Called with each 2xx body; every ``every``-th is watched."""
        self.offered += 1
        if self.offered % self.every or len(self.tasks) >= MAX_OPEN:
            return
        answer = orjson.loads(body)
        task = asyncio.create_task(self.watch(answer["order_id"], answer["version"], acked))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def watch(self, order_id: str, version: int, acked: float) -> None:
        generation = await aresolve_generation(self.redis) or keys.DEFAULT_GENERATION
        key = keys.ViewKeys(generation).order(order_id)
        while time.perf_counter() - acked < GIVE_UP_S:
            raw = await self.redis.get(key)
            if raw is not None and orjson.loads(raw)["version"] >= version:
                self.visible_ms.append((time.perf_counter() - acked) * 1000)
                return
            await asyncio.sleep(POLL_S)
        self.missed += 1

    async def finish(self) -> None:
        if self.tasks:
            await asyncio.gather(*self.tasks)
        await self.redis.aclose()
