"""G1: a verdict that is stored but whose pub/sub message the API missed (the
subscription was down) still reaches the waiting request, long before its budget ends."""

from __future__ import annotations

import asyncio
import time

import pytest
import redis.asyncio as aioredis

from command_service.api.waiter import POLL_AFTER_S, POLL_S, VerdictWaiter
from command_service.verdicts import Verdict
from ordersource import keys
from ordersource.ids import new_id
from tests.support.redis_infra import RedisBroker

pytestmark = pytest.mark.integration


def test_a_verdict_the_subscription_missed_still_reaches_the_waiting_request(
    redis_server: RedisBroker,
) -> None:
    """Stored (``SET result:{id}``) but never published — as after a subscription that
    was down: the waiter's polling finds it within about a second, not at budget's end."""
    budget = 20.0
    command_id = new_id()
    verdict = Verdict(
        command_id=command_id, accepted=True, http_status=201, body={"order_id": "x", "version": 1}
    )

    async def scenario() -> tuple[Verdict | None, float]:
        client = aioredis.Redis.from_url(redis_server.url, socket_timeout=2)
        waiter = VerdictWaiter(client)
        await waiter.start()
        try:
            start = time.monotonic()
            waiting = asyncio.create_task(waiter.wait(command_id, budget))
            await asyncio.sleep(0)  # registered before the verdict exists, as in the API
            await client.set(keys.result(command_id), verdict.to_bytes(), ex=60)
            return await waiting, time.monotonic() - start
        finally:
            await waiter.stop()
            await client.aclose()

    got, elapsed = asyncio.run(scenario())
    assert got == verdict
    assert elapsed < POLL_AFTER_S + POLL_S + 1.0, f"found only after {elapsed:.1f} s"
