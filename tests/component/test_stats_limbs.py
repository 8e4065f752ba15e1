"""The commit script keeps per-currency totals exact past 2^63 (issue 12): real Redis,
real plans (planner + ``RedisProjectionStore``), thousands of orders at the bound."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import pytest
from redis.asyncio import Redis

from ordersource.codec import encode_event
from ordersource.domain import Event, fold
from ordersource.domain.types import MAX_ORDER_TOTAL_CENTS
from ordersource.views import TOTAL_LIMB, stats_document, stats_fields, stats_of, to_view
from projector.core.batch import decode
from projector.core.plan import Incoming, plan_batch
from projector.store.redis_store import RedisProjectionStore
from query_service.store import RedisViewStore
from tests.support.events import T0, cancelled, modified, placed

pytestmark = pytest.mark.component

ORDERS = 9_500  # 9 500 x 10^15 cents > 2^63 (9.22 x 10^18)


def _log() -> list[Event]:
    at = T0 + timedelta(seconds=1)
    events: list[Event] = [
        placed(f"o{i}", quantity=1000, price=10**12, at=at) for i in range(ORDERS)
    ]
    events += [modified("o1", 2, 999, at=at), cancelled("o2", 2, at=at)]  # down, and out
    events += [placed("jpy", quantity=3, price=0, currency="JPY", at=at)]  # a total of 0
    return events


async def _project(redis: Redis, events: Sequence[Event], batch: int) -> None:
    writer = RedisProjectionStore(redis, "1")
    await writer.initialize(0)
    records = [decode(Incoming(0, i, None, encode_event(e))) for i, e in enumerate(events)]
    for start in range(0, len(records), batch):
        part = records[start : start + batch]
        snapshot = await writer.load({r.event.order_id for r in part if r.event}, {0})
        assert snapshot is not None
        assert await writer.commit(plan_batch(part, snapshot), 0)


def test_totals_past_two_to_the_63_are_exact(redis_server: Any) -> None:
    events = _log()
    by_order: dict[str, list[Event]] = {}
    for event in events:
        by_order.setdefault(event.order_id, []).append(event)
    views = [to_view(s) for s in map(fold, by_order.values()) if s is not None]
    want = stats_of(views)
    exact = ORDERS * MAX_ORDER_TOTAL_CENTS - 10**12  # o1 shrank; cancelled o2 still counts
    assert want["currency:EUR:total_cents"] == exact > 2**63

    async def main() -> None:
        redis = Redis.from_url(redis_server.url)
        await redis.flushall()
        try:
            await _project(redis, events, batch=2_000)  # one batch delta: 2 x 10^18
            raw: Any = await redis.hgetall("v:1:stats")  # bytes -> bytes
            assert 0 <= int(raw[b"currency:EUR:total_cents:lo"]) < TOTAL_LIMB
            assert stats_fields(raw) == want  # what verify compares: the fold's stats
            body = stats_document(await RedisViewStore(redis).stats())
            assert body["by_currency"]["EUR"] == {"orders": ORDERS, "total_cents": str(exact)}
            assert body["by_currency"]["JPY"] == {"orders": 1, "total_cents": "0"}
            assert body["by_status"]["cancelled"] == 1
            assert int(await redis.hget("v:1:meta", "events_applied") or 0) == len(events)
        finally:
            await redis.aclose()

    asyncio.run(main())


def test_a_total_carries_one_cent_at_a_time(redis_server: Any) -> None:
    """Small batches: the low limb crosses 10^15 again and again, each time carried."""
    events = [placed(f"c{i}", quantity=999, price=10**12 - 1) for i in range(40)]
    exact = 40 * 999 * (10**12 - 1)

    async def main() -> None:
        redis = Redis.from_url(redis_server.url)
        await redis.flushall()
        try:
            await _project(redis, events, batch=3)
            raw: Any = await redis.hgetall("v:1:stats")
            assert stats_fields(raw)["currency:EUR:total_cents"] == exact
            assert int(raw[b"currency:EUR:total_cents:hi"]) == exact // TOTAL_LIMB
        finally:
            await redis.aclose()

    asyncio.run(main())
