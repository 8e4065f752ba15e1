"""The query side's cache of ``views:current`` (``query_service.store.GenerationCache``):
one Redis round trip per order read while the generation holds; a switch is seen by the
next read that misses at once, and by every read within the TTL at most."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ordersource import codec
from ordersource.keys import CURRENT_GENERATION, ViewKeys
from ordersource.settings import Settings
from projector.ops.replay import DROP_GRACE_S
from query_service.app import create_app
from query_service.store import GENERATION_TTL_S, GenerationCache, RedisViewStore

pytestmark = pytest.mark.unit

VIEW = {"order_id": "o1", "customer_id": "c1", "status": "placed", "version": 1}


class CountingRedis:
    """The few redis.asyncio calls the order and stats reads make; counts round trips."""

    def __init__(self) -> None:
        self.stored: dict[str, bytes] = {}
        self.hashes: dict[str, dict[bytes, bytes]] = {}
        self.indexes: dict[str, dict[bytes, float]] = {}
        self.calls: list[str] = []

    async def mget(self, keys: list[str]) -> list[bytes | None]:
        self.calls.append("MGET " + " ".join(keys))
        await asyncio.sleep(0)  # a real round trip lets other requests run meanwhile
        return [self.stored.get(k) for k in keys]

    async def get(self, key: str) -> bytes | None:
        self.calls.append(f"GET {key}")
        return self.stored.get(key)

    async def exists(self, key: str) -> int:
        self.calls.append(f"EXISTS {key}")
        return int(key in self.stored or key in self.hashes)

    async def hgetall(self, key: str) -> dict[bytes, bytes]:
        self.calls.append(f"HGETALL {key}")
        return self.hashes.get(key, {})

    async def zrange(self, key: str, *_: Any, **__: Any) -> list[tuple[bytes, float]]:
        # only what an index page's first read asks: every member, newest first
        self.calls.append(f"ZRANGE {key}")
        found = self.indexes.get(key, {})
        return sorted(((m, s) for m, s in found.items()), key=lambda e: (-e[1], e[0]))

    def put(self, generation: str, view: dict[str, Any]) -> bytes:
        raw = codec.dumps(view)
        self.stored[ViewKeys(generation).order(view["order_id"])] = raw
        return raw

    def drop(self, generation: str) -> None:
        prefix = ViewKeys(generation).prefix
        self.stored = {k: v for k, v in self.stored.items() if not k.startswith(prefix)}
        self.hashes = {k: v for k, v in self.hashes.items() if not k.startswith(prefix)}
        self.indexes = {k: v for k, v in self.indexes.items() if not k.startswith(prefix)}

    def switch(self, generation: str) -> None:
        self.stored[CURRENT_GENERATION] = generation.encode()


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def run(scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(scenario())


@pytest.fixture
def redis() -> CountingRedis:
    redis = CountingRedis()
    redis.switch("1")
    return redis


def store_over(redis: CountingRedis, clock: Clock) -> RedisViewStore:
    return RedisViewStore(redis, cache=GenerationCache(redis, clock=clock))  # type: ignore[arg-type]


async def read(store: RedisViewStore, order_id: str = "o1") -> bytes | None:
    views = await store.at(None)
    assert views is not None
    return await views.order_json(order_id)


def test_one_round_trip_per_read_while_the_generation_holds(redis: CountingRedis) -> None:
    raw = redis.put("1", VIEW)
    clock = Clock()
    store = store_over(redis, clock)

    async def scenario() -> None:
        assert await read(store) == raw  # the first read resolves: two round trips
        assert len(redis.calls) == 2
        redis.calls.clear()
        for _ in range(10):
            clock.now += GENERATION_TTL_S / 20
            assert await read(store) == raw
        assert redis.calls == ["GET v:1:order:o1"] * 10  # one round trip each

    run(scenario)


def test_a_switch_is_seen_by_the_next_read_that_misses(redis: CountingRedis) -> None:
    redis.put("1", VIEW)
    clock = Clock()
    store = store_over(redis, clock)

    async def scenario() -> None:
        assert await read(store) is not None  # generation 1 cached
        new = redis.put("2", VIEW | {"version": 2})
        redis.switch("2")
        redis.drop("1")  # the replay drops the old generation after its grace
        redis.calls.clear()
        assert await read(store) == new  # well within the TTL: no 404, the new view
        assert redis.calls == [
            "GET v:1:order:o1",
            f"MGET {CURRENT_GENERATION}",
            "GET v:2:order:o1",
        ]
        redis.calls.clear()
        assert await read(store) == new  # and the cache holds generation 2 now
        assert redis.calls == ["GET v:2:order:o1"]

    run(scenario)


def test_a_switch_is_seen_by_every_read_within_the_ttl(redis: CountingRedis) -> None:
    old = redis.put("1", VIEW)
    clock = Clock()
    store = store_over(redis, clock)

    async def scenario() -> None:
        assert await read(store) == old
        new = redis.put("2", VIEW | {"version": 2})
        redis.switch("2")  # generation 1 still there (the replay's grace): hits, stale
        clock.now += GENERATION_TTL_S * 0.9
        assert await read(store) == old  # within the TTL the cached generation may answer
        clock.now += GENERATION_TTL_S * 0.2
        assert await read(store) == new  # past it, never

    run(scenario)


def test_a_miss_under_an_unchanged_generation_is_a_404_after_one_check(
    redis: CountingRedis,
) -> None:
    redis.put("1", VIEW)
    clock = Clock()
    store = store_over(redis, clock)

    async def scenario() -> None:
        assert await read(store) is not None
        redis.calls.clear()
        assert await read(store, "nope") is None
        assert redis.calls == ["GET v:1:order:nope", f"MGET {CURRENT_GENERATION}"]
        redis.calls.clear()
        views = await store.at(None)  # refreshed by that check: cached again
        assert views is not None
        assert await views.order_json("o1") is not None
        assert await views.order_json("nope") is None
        assert await views.order_json("nope") is None  # one check per request, not two
        assert redis.calls == [
            "GET v:1:order:o1",
            "GET v:1:order:nope",
            f"MGET {CURRENT_GENERATION}",
            "GET v:1:order:nope",
        ]

    run(scenario)


def test_a_pinned_generation_is_never_re_resolved(redis: CountingRedis) -> None:
    redis.put("1", VIEW)
    redis.hashes[ViewKeys("1").meta] = {b"generation": b"1"}
    redis.put("2", VIEW | {"order_id": "o2"})
    clock = Clock()
    store = store_over(redis, clock)

    async def scenario() -> None:
        pinned = await store.at("1")
        assert pinned is not None
        redis.switch("2")
        redis.calls.clear()
        assert await pinned.order_json("o2") is None  # ?generation=1: not followed
        assert redis.calls == ["GET v:1:order:o2"]
        assert await pinned.again() is pinned

    run(scenario)


def test_waiting_for_a_version_always_resolves_afresh(redis: CountingRedis) -> None:
    redis.put("1", VIEW)
    clock = Clock()
    store = store_over(redis, clock)

    async def scenario() -> None:
        views = await store.at(None)
        assert views is not None
        redis.put("2", VIEW | {"version": 2})
        redis.switch("2")  # within the TTL: the cache still says 1
        again = await views.again()
        assert await again.generation() == "2"
        assert await again.order_json("o1") == codec.dumps(VIEW | {"version": 2})

    run(scenario)


def test_an_empty_stats_hash_under_a_cached_generation_re_resolves(
    redis: CountingRedis,
) -> None:
    redis.hashes[ViewKeys("1").stats] = {b"orders": b"1"}
    clock = Clock()
    store = store_over(redis, clock)

    async def scenario() -> None:
        views = await store.at(None)
        assert views is not None
        assert await views.stats() == {"orders": 1}
        redis.hashes[ViewKeys("2").stats] = {b"orders": b"2"}
        redis.switch("2")
        redis.drop("1")
        views = await store.at(None)
        assert views is not None
        assert await views.stats() == {"orders": 2}
        assert await views.generation() == "2"  # rebound: /stats names generation 2

    run(scenario)


def test_a_list_page_follows_a_switch_whose_drop_is_under_way(redis: CountingRedis) -> None:
    redis.indexes[ViewKeys("1").all_orders] = {b"o1": 1.0}
    redis.put("1", VIEW)
    clock = Clock()
    store = store_over(redis, clock)

    async def scenario() -> None:
        views = await store.at(None)
        assert views is not None
        assert await views.older(("all", None), None, 20) == [(1, "o1")]
        new = VIEW | {"version": 2}
        redis.put("2", new)
        redis.indexes[ViewKeys("2").all_orders] = {b"o1": 1.0}
        redis.switch("2")
        redis.drop("1")
        redis.indexes[ViewKeys("1").all_orders] = {b"o1": 1.0}  # the index not unlinked yet
        views = await store.at(None)  # cached: generation 1
        assert views is not None
        entries = await views.older(("all", None), None, 20)
        assert entries == [(1, "o1")]
        assert await views.orders(["o1"]) == [new]  # the view is gone: read in generation 2
        assert await views.generation() == "2"
        redis.indexes.clear()
        views = await store.at(None)
        assert views is not None
        assert await views.older(("all", None), None, 20) == []  # an empty index: no loop

    run(scenario)


def test_concurrent_expired_reads_ask_redis_once(redis: CountingRedis) -> None:
    redis.put("1", VIEW)
    clock = Clock()
    store = store_over(redis, clock)

    async def scenario() -> None:
        assert await read(store) is not None
        clock.now += GENERATION_TTL_S * 1.5
        redis.calls.clear()
        await asyncio.gather(*(read(store) for _ in range(8)))
        assert redis.calls.count(f"MGET {CURRENT_GENERATION}") == 1

    run(scenario)


def test_the_ttl_stays_well_inside_the_replays_grace() -> None:
    # A read that resolved the old generation from the cache just before a switch must
    # be done before the replay drops that generation (a miss would re-resolve, but an
    # index page half dropped would not be a miss).
    assert 2 * GENERATION_TTL_S <= DROP_GRACE_S / 2


def test_the_api_answers_a_switch_without_a_404(redis: CountingRedis) -> None:
    redis.put("1", VIEW)
    store = store_over(redis, Clock())  # a clock that never moves: only a miss re-resolves
    with TestClient(create_app(Settings(), store=store)) as client:
        assert client.get("/orders/o1").headers["etag"] == '"1"'
        redis.put("2", VIEW | {"version": 2})
        redis.switch("2")
        redis.drop("1")
        got = client.get("/orders/o1")
        assert got.status_code == 200
        assert got.headers["etag"] == '"2"'
        assert got.content == codec.dumps(VIEW | {"version": 2})  # the stored bytes
        assert client.get("/orders/nope").status_code == 404
