"""The read port (``ViewStore``) and its Redis adapter. Reads only; the projector writes.

Generations: a request resolves its generation once (``at``: ``views:current``, or the
``?generation=`` it asked for) and reads every key of that one generation through the
bound store it gets back, so a blue/green switch is seen by the next request, and a
request that reads several keys (a list page) never mixes two generations.
"""

from __future__ import annotations

from typing import Any, Protocol

from redis.asyncio import Redis

from ordersource import codec
from ordersource.generation import aresolve_generation
from ordersource.keys import DEFAULT_GENERATION, ViewKeys
from query_service.cursor import Cursor

Index = tuple[str, str | None]
"""("all", None) | ("customer", customer_id) | ("status", status)."""


class ViewStore(Protocol):
    async def generation(self) -> str: ...

    async def at(self, generation: str | None) -> ViewStore | None:
        """This store bound to one generation (None: the current one, as of now), or
        None if that generation does not exist."""

    async def again(self) -> ViewStore:
        """Bound to the current generation again, unless pinned to an explicit one
        (long polls re-resolve: a switch must not leave them on a retired generation)."""

    async def order(self, order_id: str) -> dict[str, Any] | None: ...

    async def history(self, order_id: str, first: int, count: int) -> tuple[int, list[bytes]]:
        """(latest version ``n`` of the order, 0 if unknown; event JSON of the versions
        ``first`` .. ``min(first + count - 1, n)``, ascending). Reads only those versions."""

    async def older(self, index: Index, cursor: Cursor | None, n: int) -> list[Cursor]:
        """Up to ``n`` (score, order_id) strictly after ``cursor`` in newest-first order."""

    async def sizes(self, indexes: list[Index]) -> list[int]:
        """Number of entries of each index."""

    async def orders(self, order_ids: list[str]) -> list[dict[str, Any] | None]: ...

    async def stats(self) -> dict[str, int]: ...

    async def projection(self) -> dict[str, Any]:
        """Raw bookkeeping: meta, checkpoint, progress and parked hashes."""

    async def ping(self) -> bool: ...


class RedisViewStore:
    def __init__(self, redis: Redis, generation: str | None = None, pinned: bool = False) -> None:
        # redis-py types every reply as a union (bytes | str | ...); this client never
        # decodes responses, so every reply is bytes: typed as Any rather than cast 20 times.
        self.redis: Any = redis
        self.bound, self.pinned = generation, pinned

    async def generation(self) -> str:
        if self.bound is not None:
            return self.bound
        return await aresolve_generation(self.redis) or DEFAULT_GENERATION

    async def at(self, generation: str | None) -> RedisViewStore | None:
        if generation is None:
            return RedisViewStore(self.redis, await RedisViewStore(self.redis).generation())
        if not await self.redis.exists(ViewKeys(generation).meta):
            return None
        return RedisViewStore(self.redis, generation, pinned=True)

    async def again(self) -> RedisViewStore:
        if self.pinned:
            return self
        return RedisViewStore(self.redis, await RedisViewStore(self.redis).generation())

    async def _keys(self) -> ViewKeys:
        return ViewKeys(await self.generation())

    async def order(self, order_id: str) -> dict[str, Any] | None:
        raw = await self.redis.get((await self._keys()).order(order_id))
        return codec.loads(raw) if raw else None

    async def history(self, order_id: str, first: int, count: int) -> tuple[int, list[bytes]]:
        # Versions are 1..n contiguous (one Lua script per batch writes them), so HLEN is n
        # and HMGET of the range reads only the requested events; MULTI: one snapshot.
        key = (await self._keys()).history(order_id)
        first = max(first, 1)
        if count < 1:
            return int(await self.redis.hlen(key)), []
        pipe = self.redis.pipeline(transaction=True)
        pipe.hlen(key)
        pipe.hmget(key, list(range(first, first + count)))
        latest, raws = await pipe.execute()
        events: list[bytes] = []
        for raw in raws:
            if raw is None:
                break
            events.append(raw)
        return int(latest), events

    async def older(self, index: Index, cursor: Cursor | None, n: int) -> list[Cursor]:
        key = _index_key(await self._keys(), index)
        if cursor is None:
            found = await self.redis.zrange(
                key, "+inf", "-inf", desc=True, byscore=True, offset=0, num=n, withscores=True
            )
            return [(int(s), m.decode()) for m, s in found]
        score, order_id = cursor
        pipe = self.redis.pipeline(transaction=False)
        pipe.zrange(key, score, score, byscore=True)  # ties: ascending by member
        pipe.zrange(
            key, f"({score}", "-inf", desc=True, byscore=True, offset=0, num=n, withscores=True
        )
        ties, below = await pipe.execute()
        older = [(score, m) for m in reversed([t.decode() for t in ties]) if m < order_id]
        older += [(int(s), m.decode()) for m, s in below]
        return older[:n]

    async def sizes(self, indexes: list[Index]) -> list[int]:
        keys = await self._keys()
        pipe = self.redis.pipeline(transaction=False)
        for index in indexes:
            pipe.zcard(_index_key(keys, index))
        return [int(n) for n in await pipe.execute()]

    async def orders(self, order_ids: list[str]) -> list[dict[str, Any] | None]:
        if not order_ids:
            return []
        keys = await self._keys()
        raws = await self.redis.mget([keys.order(i) for i in order_ids])
        return [codec.loads(r) if r else None for r in raws]

    async def stats(self) -> dict[str, int]:
        stored = await self.redis.hgetall((await self._keys()).stats)
        return {k.decode(): int(v) for k, v in stored.items()}

    async def projection(self) -> dict[str, Any]:
        keys = await self._keys()
        pipe = self.redis.pipeline(transaction=False)
        for key in (keys.meta, keys.checkpoint, keys.progress):
            pipe.hgetall(key)
        pipe.hlen(keys.parked)
        pipe.hscan(keys.parked, 0, count=20)
        meta, checkpoint, progress, parked_count, (_, parked) = await pipe.execute()
        return {
            "generation": keys.prefix.split(":")[1],
            "meta": {k.decode(): v.decode() for k, v in meta.items()},
            "checkpoint": {int(p): int(o) for p, o in checkpoint.items()},
            "progress": {int(p): codec.loads(v) for p, v in progress.items()},
            "parked_count": parked_count,
            "parked": [codec.loads(v) for v in parked.values()],
        }

    async def ping(self) -> bool:
        return bool(await self.redis.ping())


def _index_key(keys: ViewKeys, index: Index) -> str:
    kind, value = index
    if kind == "customer" and value is not None:
        return keys.by_customer(value)
    if kind == "status" and value is not None:
        return keys.by_status(value)
    return keys.all_orders
