"""The commit script against a real Redis: whatever fails, a batch writes all or nothing.

Redis does not roll a script back, so the script checks every op before its first write;
memory and replica refusals happen at the first write of a script or not at all.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from redis.asyncio import Redis
from redis.exceptions import OutOfMemoryError, ReadOnlyError, ResponseError

from ordersource.codec import encode_event
from ordersource.keys import ViewKeys
from projector.core.batch import decode
from projector.core.plan import Incoming, plan_batch
from projector.store.redis_store import RedisProjectionStore, split_long_ops
from tests.support.events import lifecycle, modified, placed
from tests.support.net import free_port
from tests.support.redis_infra import RedisBroker

pytestmark = pytest.mark.component


def incoming(events: list[Any], first: int = 0) -> list[Incoming]:
    return [decode(Incoming(0, first + i, None, encode_event(e))) for i, e in enumerate(events)]


async def commit(store: RedisProjectionStore, batch: list[Incoming]) -> bool:
    ids = {r.event.order_id for r in batch if r.event is not None}
    snapshot = await store.load(ids, {0})
    assert snapshot is not None
    return await store.commit(plan_batch(batch, snapshot), 1.0)


async def dump(redis: Redis) -> dict[Any, Any]:
    """Every key with its value (the whole database: tiny in these tests)."""
    out: dict[Any, Any] = {}
    for key in await redis.keys("*"):
        kind = await redis.type(key)
        kind = kind.decode() if isinstance(kind, bytes) else kind
        if kind == "string":
            out[key] = await redis.get(key)
        elif kind == "hash":
            out[key] = await redis.hgetall(key)
        elif kind == "zset":
            out[key] = await redis.zrange(key, 0, -1, withscores=True)
    return out


def scenario(own_redis: RedisBroker, body: Any) -> None:
    async def main() -> None:
        redis = Redis.from_url(own_redis.url)
        try:
            store = RedisProjectionStore(redis, "1")
            await store.initialize(0.0)
            await body(redis, store, ViewKeys("1"))
        finally:
            await redis.aclose()

    asyncio.run(main())


def test_an_op_that_would_fail_halfway_refuses_the_whole_batch(own_redis: RedisBroker) -> None:
    events = lifecycle("o1")

    async def body(redis: Redis, store: RedisProjectionStore, keys: ViewKeys) -> None:
        assert await commit(store, incoming(events[:1]))
        # The index the next batch moves o1 into is not a sorted set: its ZADD would fail
        # after the view, history and status-index writes of the same batch.
        await redis.set(keys.by_status("paid"), "not a zset")
        before = await dump(redis)
        with pytest.raises(ResponseError, match="commit refused"):
            await commit(store, incoming(events[1:3], first=1))
        assert await dump(redis) == before
        await redis.delete(keys.by_status("paid"))
        assert await commit(store, incoming(events[1:3], first=1))
        assert await store.checkpoints() == {0: 3}

    scenario(own_redis, body)


def test_an_increment_on_a_non_integer_refuses_the_whole_batch(own_redis: RedisBroker) -> None:
    async def body(redis: Redis, store: RedisProjectionStore, keys: ViewKeys) -> None:
        await redis.hset(keys.meta, "events_applied", "many")
        before = await dump(redis)
        with pytest.raises(ResponseError, match="commit refused"):
            await commit(store, incoming([placed("o1")]))
        assert await dump(redis) == before

    scenario(own_redis, body)


def test_out_of_memory_refuses_the_whole_batch_and_a_retry_applies_it(
    own_redis: RedisBroker,
) -> None:
    async def body(redis: Redis, store: RedisProjectionStore, keys: ViewKeys) -> None:
        batch = incoming([placed(f"o{i}") for i in range(200)])
        used = (await redis.info("memory"))["used_memory"]
        await redis.config_set("maxmemory-policy", "noeviction")
        await redis.config_set("maxmemory", str(used - 1024))
        before = await dump(redis)
        try:
            with pytest.raises(OutOfMemoryError):
                await commit(store, batch)
            assert await dump(redis) == before
        finally:
            await redis.config_set("maxmemory", "0")
        assert await commit(store, batch)
        assert await store.checkpoints() == {0: 200}

    scenario(own_redis, body)


def test_a_replica_refuses_the_whole_batch_and_keeps_its_data(own_redis: RedisBroker) -> None:
    async def body(redis: Redis, store: RedisProjectionStore, keys: ViewKeys) -> None:
        assert await commit(store, incoming([placed("o1")]))
        before = await dump(redis)
        # A primary that never answers: the server is a read-only replica with its data.
        await redis.replicaof("127.0.0.1", str(free_port()))
        try:
            with pytest.raises(ReadOnlyError):
                await commit(store, incoming([modified("o1", 2, 3)], first=1))
            assert await dump(redis) == before
        finally:
            await redis.replicaof("NO", "ONE")
        assert await commit(store, incoming([modified("o1", 2, 3)], first=1))

    scenario(own_redis, body)


def test_a_long_history_is_split_into_ops_lua_can_unpack(own_redis: RedisBroker) -> None:
    many = [placed("o1")] + [modified("o1", v, v % 7 + 1) for v in range(2, 5002)]

    async def body(redis: Redis, store: RedisProjectionStore, keys: ViewKeys) -> None:
        assert await commit(store, incoming(many))
        assert await redis.hlen(keys.history("o1")) == 5001
        assert await store.checkpoints() == {0: 5001}

    scenario(own_redis, body)
    ops = [["HSET", "h", *[str(i) for i in range(6000)]], ["SET", "k", "v"]]
    split = split_long_ops(ops)
    assert [len(op) for op in split] == [2002, 2002, 2002, 3]
    assert [x for op in split[:3] for x in op[2:]] == ops[0][2:]
