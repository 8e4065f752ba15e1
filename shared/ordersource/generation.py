"""Which view generation a reader or a writer means: one rule, asked of Redis sync or async.

A reader means the generation ``views:current`` names. A writer (the projector) means
the one ``views:rebuild`` names while it rebuilds after an operator reset, else the
current one. Both are one ``MGET`` of the names in that order, the first one set wins;
None when Redis names none (nothing was ever projected, or Redis was emptied): callers
then use ``keys.DEFAULT_GENERATION`` or say so. ``resolve_generation`` takes a
redis-py client, ``aresolve_generation`` a ``redis.asyncio`` one.
"""

from __future__ import annotations

from collections.abc import Awaitable, Sequence
from typing import Any, Protocol

from ordersource.keys import CURRENT_GENERATION, REBUILD_GENERATION


class _SyncRedis(Protocol):
    def mget(self, keys: list[str]) -> Any: ...


class _AsyncRedis(Protocol):
    def mget(self, keys: list[str]) -> Awaitable[Any]: ...


def generation_names(*, writer: bool = False) -> list[str]:
    """The Redis keys naming the generation, the one that wins first."""
    return [REBUILD_GENERATION, CURRENT_GENERATION] if writer else [CURRENT_GENERATION]


def first_named(replies: Sequence[bytes | str | None]) -> str | None:
    """The first generation named in an ``MGET`` reply of ``generation_names``."""
    for found in replies:
        if found:
            return found.decode() if isinstance(found, bytes) else str(found)
    return None


def resolve_generation(redis: _SyncRedis, *, writer: bool = False) -> str | None:
    return first_named(redis.mget(generation_names(writer=writer)))


async def aresolve_generation(redis: _AsyncRedis, *, writer: bool = False) -> str | None:
    return first_named(await redis.mget(generation_names(writer=writer)))
