"""The read port (``ViewStore``) and its Redis adapter. Reads only; the projector writes.

Generations: a request resolves its generation once (``at``: ``views:current``, or the
``?generation=`` it asked for) and reads the keys of that one generation through the
bound store it gets back, so a list page does not mix two generations.

``views:current`` is cached in-process for ``GENERATION_TTL_S`` (``GenerationCache``), so
a GET of one order is one Redis round trip, not two. A blue/green switch is therefore
seen within that TTL at the latest, and sooner by any read that finds nothing: a read
under a cached generation that misses (no order, no history, an empty index or stats, a
listed order whose view is gone) resolves ``views:current`` afresh and, if it moved,
rebinds the request's store to the new generation and reads again before it answers
"not found". Only then can one request read two generations: an index page of the old
one (scores are the same in every generation), its views from the new one. A wait for a
version (``again``) always resolves afresh. The TTL must stay well below the replay's
grace before it drops the old generation (``projector.ops.replay.DROP_GRACE_S``, 1 s).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Protocol

from redis.asyncio import Redis

from ordersource import codec
from ordersource.generation import aresolve_generation
from ordersource.keys import DEFAULT_GENERATION, ViewKeys
from query_service.cursor import Cursor

Index = tuple[str, str | None]
"""("all", None) | ("customer", customer_id) | ("status", status)."""
GENERATION_TTL_S = 0.25
"""How long a resolved ``views:current`` is reused (a miss re-resolves at once)."""


class ViewStore(Protocol):
    async def generation(self) -> str: ...

    async def at(self, generation: str | None) -> ViewStore | None:
        """This store bound to one generation (None: the current one, as of now), or
        None if that generation does not exist."""

    async def again(self) -> ViewStore:
        """Bound to the current generation again, unless pinned to an explicit one
        (long polls re-resolve: a switch must not leave them on a retired generation)."""

    async def order(self, order_id: str) -> dict[str, Any] | None: ...

    async def order_json(self, order_id: str) -> bytes | None:
        """The order's view as stored: JSON bytes, exactly what ``GET /orders/{id}`` sends."""

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


class GenerationCache:
    """``views:current`` as last resolved, reused for ``ttl`` seconds (one per process)."""

    def __init__(
        self,
        redis: Any,
        ttl: float = GENERATION_TTL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.redis, self.ttl, self.clock = redis, ttl, clock
        self.value: str | None = None
        self.resolved_at = float("-inf")
        """When the cached value was asked of Redis (the ask's start: conservative)."""
        self.asking = 0
        """Refreshes under way."""
        self.resolutions = 0
        """Round trips spent on resolving (for tests and the curious)."""

    async def current(self) -> tuple[str, bool]:
        """(the current generation, whether it came from the cache)."""
        if self.value is not None:
            age = self.clock() - self.resolved_at
            # expired while another request is already asking: use the value until that
            # answer is in (no herd of identical MGETs), but never past twice the TTL
            if age < self.ttl or (self.asking and age < 2 * self.ttl):
                return self.value, True
        return await self.refresh(), False

    async def refresh(self) -> str:
        """Ask Redis now; remember the answer unless a later ask already answered."""
        asked = self.clock()
        self.resolutions += 1
        self.asking += 1
        try:
            found = await aresolve_generation(self.redis) or DEFAULT_GENERATION
        finally:
            self.asking -= 1
        if asked >= self.resolved_at:  # concurrent refreshes: the latest ask wins
            self.value, self.resolved_at = found, asked
        return found


class RedisViewStore:
    def __init__(
        self,
        redis: Redis,
        generation: str | None = None,
        pinned: bool = False,
        *,
        cache: GenerationCache | None = None,
        cached: bool = False,
    ) -> None:
        # redis-py types every reply as a union (bytes | str | ...); this client never
        # decodes responses, so every reply is bytes: typed as Any rather than cast 20 times.
        self.redis: Any = redis
        self.bound, self.pinned = generation, pinned
        self.cache = cache if cache is not None else GenerationCache(redis)
        self.cached = cached
        """Bound from the cache, not yet confirmed: a miss re-resolves (``_moved``)."""

    async def generation(self) -> str:
        if self.bound is not None:
            return self.bound
        return await self.cache.refresh()  # the unbound store: always as of now

    async def at(self, generation: str | None) -> RedisViewStore | None:
        if generation is None:
            current, cached = await self.cache.current()
            return RedisViewStore(self.redis, current, cache=self.cache, cached=cached)
        if not await self.redis.exists(ViewKeys(generation).meta):
            return None
        return RedisViewStore(self.redis, generation, pinned=True, cache=self.cache)

    async def again(self) -> RedisViewStore:
        if self.pinned:
            return self
        return RedisViewStore(self.redis, await self.cache.refresh(), cache=self.cache)

    async def _keys(self) -> ViewKeys:
        return ViewKeys(await self.generation())

    async def _moved(self) -> bool:
        """After a miss: if this store's generation came from the cache, resolve it
        afresh; True (and rebound to it) if it is another one now, so read again."""
        if not self.cached:
            return False
        self.cached = False
        current = await self.cache.refresh()
        if current == self.bound:
            return False
        self.bound = current
        return True

    async def order(self, order_id: str) -> dict[str, Any] | None:
        raw = await self.order_json(order_id)
        return codec.loads(raw) if raw else None

    async def order_json(self, order_id: str) -> bytes | None:
        raw = await self.redis.get((await self._keys()).order(order_id))
        if raw is None and await self._moved():
            raw = await self.redis.get((await self._keys()).order(order_id))
        return raw or None

    async def history(self, order_id: str, first: int, count: int) -> tuple[int, list[bytes]]:
        found = await self._history(order_id, first, count)
        if not found[0] and await self._moved():
            found = await self._history(order_id, first, count)
        return found

    async def _history(self, order_id: str, first: int, count: int) -> tuple[int, list[bytes]]:
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
        found = await self._older(index, cursor, n)
        if not found and await self._moved():
            found = await self._older(index, cursor, n)
        return found

    async def _older(self, index: Index, cursor: Cursor | None, n: int) -> list[Cursor]:
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
        found = await self._sizes(indexes)
        if not any(found) and await self._moved():
            found = await self._sizes(indexes)
        return found

    async def _sizes(self, indexes: list[Index]) -> list[int]:
        keys = await self._keys()
        pipe = self.redis.pipeline(transaction=False)
        for index in indexes:
            pipe.zcard(_index_key(keys, index))
        return [int(n) for n in await pipe.execute()]

    async def orders(self, order_ids: list[str]) -> list[dict[str, Any] | None]:
        if not order_ids:
            return []
        raws = await self.redis.mget([(await self._keys()).order(i) for i in order_ids])
        if None in raws and await self._moved():  # listed, gone: a drop after a switch
            raws = await self.redis.mget([(await self._keys()).order(i) for i in order_ids])
        return [codec.loads(r) if r else None for r in raws]

    async def stats(self) -> dict[str, int]:
        stored = await self.redis.hgetall((await self._keys()).stats)
        if not stored and await self._moved():
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
