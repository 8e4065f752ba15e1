"""The read-side ``ViewStore`` contract, run against the in-memory fake and real Redis.

Redis is seeded the real way (planner + ``RedisProjectionStore``), the fake by its own
fold; the query side must not be able to tell them apart.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import pytest
from redis.asyncio import Redis

from ordersource.codec import encode_event
from ordersource.domain import Event
from ordersource.views import stats_fields
from projector.core.batch import decode
from projector.core.plan import Incoming, plan_batch
from projector.store.redis_store import RedisProjectionStore
from query_service.memory import InMemoryViewStore
from query_service.store import RedisViewStore, ViewStore
from tests.support.events import T0, cancelled, lifecycle, placed

pytestmark = pytest.mark.component

Scenario = Callable[[ViewStore], Awaitable[None]]
EVENTS: list[Event] = (
    lifecycle("a", "c1", at=T0)
    + [placed(f"tie{i}", "c2", at=T0 + timedelta(hours=1)) for i in range(5)]
    + [placed("x", "c1", at=T0 + timedelta(hours=2)), cancelled("x", 2, at=T0 + timedelta(hours=3))]
)


@asynccontextmanager
async def redis_store(url: str, events: list[Event]) -> AsyncIterator[ViewStore]:
    redis = Redis.from_url(url)
    await redis.flushall()
    writer = RedisProjectionStore(redis, "1")
    await writer.initialize(0)
    batch = [decode(Incoming(0, i, None, encode_event(e))) for i, e in enumerate(events)]
    for start in range(0, len(batch), 3):  # several batches, like the projector
        part = batch[start : start + 3]
        ids = {r.event.order_id for r in part if r.event}
        snapshot = await writer.load(ids, {0})
        assert snapshot is not None
        assert await writer.commit(plan_batch(part, snapshot), 0)
    try:
        yield RedisViewStore(redis)
    finally:
        await redis.aclose()


@asynccontextmanager
async def memory_store(_: str, events: list[Event]) -> AsyncIterator[ViewStore]:
    store = InMemoryViewStore()
    store.apply(events)
    yield store


@pytest.fixture(params=["memory", "redis"])
def run(request: pytest.FixtureRequest) -> Callable[[Scenario], None]:
    url = request.getfixturevalue("redis_server").url if request.param == "redis" else ""
    factory = redis_store if request.param == "redis" else memory_store

    def runner(scenario: Scenario) -> None:
        async def main() -> None:
            async with factory(url, EVENTS) as store:
                await scenario(store)

        asyncio.run(main())

    return runner


def test_orders_and_history(run: Callable[[Scenario], None]) -> None:
    async def scenario(store: ViewStore) -> None:
        view = await store.order("a")
        assert view is not None
        assert view["version"] == 4
        assert view["status"] == "shipped"
        assert await store.order("nope") is None
        assert await store.history("a", 1, 100) == (4, [encode_event(e) for e in EVENTS[:4]])
        assert await store.history("nope", 1, 100) == (0, [])
        assert await store.orders(["x", "nope"]) == [await store.order("x"), None]

    run(scenario)


def test_index_pages_are_newest_first_with_ties_by_id(run: Callable[[Scenario], None]) -> None:
    async def scenario(store: ViewStore) -> None:
        everything = await store.older(("all", None), None, 100)
        assert [i for _, i in everything] == ["x", "tie4", "tie3", "tie2", "tie1", "tie0", "a"]
        for n in (1, 2, 3):
            pages: list[Any] = []
            cursor = None
            while batch := await store.older(("all", None), cursor, n):
                pages += batch
                cursor = batch[-1]
            assert pages == everything
        assert [i for _, i in await store.older(("customer", "c1"), None, 9)] == ["x", "a"]
        assert [i for _, i in await store.older(("status", "cancelled"), None, 9)] == ["x"]
        assert await store.older(("status", "placed"), everything[2], 2) == everything[3:5]

    run(scenario)


def test_stats_and_probes(run: Callable[[Scenario], None]) -> None:
    async def scenario(store: ViewStore) -> None:
        stats = stats_fields(await store.stats())  # Redis holds totals as limbs
        assert stats == {
            "orders": 7,
            "status:placed": 5,
            "status:shipped": 1,
            "status:cancelled": 1,
            "currency:EUR:orders": 7,
            "currency:EUR:total_cents": 600 + 6 * 500,
        }
        assert await store.generation() == "1"
        assert await store.ping()
        assert (await store.projection())["generation"] == "1"

    run(scenario)


def test_history_reads_only_the_requested_versions(run: Callable[[Scenario], None]) -> None:
    async def scenario(store: ViewStore) -> None:
        encoded = [encode_event(e) for e in EVENTS[:4]]
        if isinstance(store, RedisViewStore):
            await store.redis.config_resetstat()
        assert await store.history("a", 2, 2) == (4, encoded[1:3])
        assert await store.history("a", 4, 100) == (4, encoded[3:])
        assert await store.history("a", 5, 100) == (4, [])
        assert await store.history("a", 1, 1) == (4, encoded[:1])
        assert await store.history("x", 1, 1) == (2, [encode_event(EVENTS[-2])])
        if isinstance(store, RedisViewStore):
            used = await store.redis.info("commandstats")
            assert "cmdstat_hgetall" not in used  # only HMGET of the range (and HLEN)
            assert used["cmdstat_hmget"]["calls"] == 5

    run(scenario)


def test_index_sizes(run: Callable[[Scenario], None]) -> None:
    async def scenario(store: ViewStore) -> None:
        indexes = [("all", None), ("customer", "c1"), ("status", "placed"), ("status", "paid")]
        assert await store.sizes(indexes) == [7, 2, 5, 0]

    run(scenario)
