"""Every client the projector process talks through, built once and passed in.

``Clients.build(settings)`` is called by ``create_app`` (or a test hands its own): one
Redis client for views, generations and the reset bookkeeping; the end-offset reader
(``projector.runtime.stable``); the reading of the group's committed offsets on an
assignment (``projector.runtime.reset``). Faust owns its own consumer and producer.
Two short-lived Kafka admin clients are made where they are used, on purpose: the topic
check before Faust starts (``projector.runtime.topics``), and the group-offset read on an
assignment (rare; an idle admin client would hold a connection and a thread for hours).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from redis.asyncio import Redis

from ordersource.connections import async_redis_client
from ordersource.settings import Settings
from projector.runtime.reset import GroupOffsets, read_group
from projector.runtime.stable import StableEnds


@dataclass
class Clients:
    settings: Settings
    redis: Redis
    ends: StableEnds

    @classmethod
    def build(cls, settings: Settings) -> Clients:
        return cls(settings, async_redis_client(settings), StableEnds(settings))

    async def group_offsets(self) -> GroupOffsets:
        """The group's committed and earliest offsets (blocking admin calls, in a thread)."""
        return await asyncio.to_thread(read_group, self.settings)
