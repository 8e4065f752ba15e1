"""The write-side ``ProjectionStore`` contract against the in-memory fake and real Redis:
atomic, checkpoint-guarded batches, and a wiped store is noticed."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from redis.asyncio import Redis

from ordersource.codec import encode_event
from ordersource.domain import fold
from ordersource.views import to_view
from projector.core.batch import ProjectionStore, decode
from projector.core.plan import Incoming, plan_batch
from projector.store.memory import InMemoryProjectionStore
from projector.store.redis_store import RedisProjectionStore
from tests.support.events import lifecycle, paid, placed

pytestmark = pytest.mark.component

Scenario = Callable[[ProjectionStore, Callable[[], Awaitable[None]]], Awaitable[None]]


@pytest.fixture(params=["memory", "redis"])
def run(request: pytest.FixtureRequest) -> Callable[[Scenario], None]:
    def runner(scenario: Scenario) -> None:
        async def main() -> None:
            if request.param == "memory":
                memory = InMemoryProjectionStore()

                async def wipe_memory() -> None:
                    memory.wipe()

                await scenario(memory, wipe_memory)
                return
            redis = Redis.from_url(request.getfixturevalue("redis_server").url)
            await redis.flushall()
            try:

                async def wipe_redis() -> None:
                    await redis.flushall()

                await scenario(RedisProjectionStore(redis, "1"), wipe_redis)
            finally:
                await redis.aclose()

        asyncio.run(main())

    return runner


def incoming(events: list[Any], partition: int = 0, first: int = 0) -> list[Incoming]:
    return [
        decode(Incoming(partition, first + i, None, encode_event(e))) for i, e in enumerate(events)
    ]


def test_a_store_without_its_generation_loads_nothing(run: Callable[[Scenario], None]) -> None:
    async def scenario(store: ProjectionStore, wipe: Callable[[], Awaitable[None]]) -> None:
        assert await store.load(["a"], [0]) is None
        await store.initialize(1.0)
        snapshot = await store.load(["a"], [0])
        assert snapshot is not None
        assert snapshot.views == {"a": None}
        assert snapshot.checkpoints == {}
        assert await store.checkpoints() == {}

    run(scenario)


def test_a_committed_plan_is_what_the_next_load_sees(run: Callable[[Scenario], None]) -> None:
    async def scenario(store: ProjectionStore, wipe: Callable[[], Awaitable[None]]) -> None:
        await store.initialize(1.0)
        events = [*lifecycle("a"), placed("b")]
        batch = incoming(events, partition=1, first=10)
        snapshot = await store.load(["a", "b"], [1])
        assert snapshot is not None
        assert await store.commit(plan_batch(batch, snapshot), 2.0)
        after = await store.load(["a", "b"], [1])
        assert after is not None
        assert after.views["a"] == to_view(fold(events[:4]))  # type: ignore[arg-type]
        assert after.checkpoints == {1: 15} == await store.checkpoints()

    run(scenario)


def test_a_plan_from_a_stale_load_is_refused_whole(run: Callable[[Scenario], None]) -> None:
    async def scenario(store: ProjectionStore, wipe: Callable[[], Awaitable[None]]) -> None:
        await store.initialize(1.0)
        first = incoming([placed("a")])
        stale = await store.load(["a"], [0])
        assert stale is not None
        assert await store.commit(plan_batch(first, stale), 2.0)
        # A second projector that loaded before the first committed: refused, no effect.
        second = incoming([placed("a"), paid("a", 2, 500)])
        assert not await store.commit(plan_batch(second, stale), 3.0)
        now = await store.load(["a"], [0])
        assert now is not None
        assert now.views["a"] is not None
        assert now.views["a"]["version"] == 1
        assert now.checkpoints == {0: 1}

    run(scenario)


def test_a_wipe_between_load_and_commit_is_noticed(run: Callable[[Scenario], None]) -> None:
    async def scenario(store: ProjectionStore, wipe: Callable[[], Awaitable[None]]) -> None:
        await store.initialize(1.0)
        snapshot = await store.load(["a"], [0])
        assert snapshot is not None
        await wipe()
        assert not await store.commit(plan_batch(incoming([placed("a")]), snapshot), 2.0)
        assert await store.load(["a"], [0]) is None

    run(scenario)


def test_parked_events_are_recorded(run: Callable[[Scenario], None]) -> None:
    async def scenario(store: ProjectionStore, wipe: Callable[[], Awaitable[None]]) -> None:
        await store.initialize(1.0)
        snapshot = await store.load(["a"], [0])
        assert snapshot is not None
        plan = plan_batch(incoming([placed("a"), paid("a", 3, 500)]), snapshot)
        assert await store.commit(plan, 2.0)
        assert len(plan.parked) == 1
        after = await store.load(["a"], [0])
        assert after is not None
        view = after.views["a"]
        assert view is not None
        assert view["version"] == 1

    run(scenario)
