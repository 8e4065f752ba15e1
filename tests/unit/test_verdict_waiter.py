"""The command API's verdict waiter with a fake Redis: pub/sub delivers, polling finds what
pub/sub missed, a lost subscription is taken up again, and no Redis call on a request's
path outlasts its bound."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from command_service.api import waiter as waiter_module
from command_service.api.waiter import POLL_AFTER_S, VerdictWaiter
from command_service.verdicts import Verdict
from tests.support.write_side import FakeRedis

pytestmark = pytest.mark.unit


def verdict(command_id: str = "c1") -> Verdict:
    body = {"order_id": "o1", "version": 1, "status": "placed", "event_ids": [], "command_id": "c1"}
    return Verdict(command_id=command_id, accepted=True, http_status=201, body=body)


async def until(check: Callable[[], bool], timeout_s: float = 5.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not check():  # noqa: ASYNC110 - polls a condition of the code under test
            await asyncio.sleep(0.005)


def run(scenario: Callable[[VerdictWaiter, FakeRedis], Awaitable[None]]) -> None:
    async def main() -> None:
        redis = FakeRedis()
        waiter = VerdictWaiter(redis)
        try:
            await scenario(waiter, redis)
        finally:
            await waiter.stop()

    asyncio.run(main())


def test_a_published_verdict_reaches_its_waiting_request() -> None:
    async def scenario(waiter: VerdictWaiter, redis: FakeRedis) -> None:
        await waiter.start()
        assert waiter.subscribed.is_set()
        waiter.expect("c1")  # before the command is sent: a fast verdict cannot slip past
        await redis.store(verdict())
        assert await waiter.wait("c1", 1.0) == verdict()
        assert waiter.waiting == {}

    run(scenario)


def test_polling_finds_a_verdict_pubsub_missed_for_long_waiters_only() -> None:
    async def scenario(waiter: VerdictWaiter, redis: FakeRedis) -> None:
        old, new = waiter.expect("c1"), waiter.expect("c2")
        waiter.since["c1"] -= POLL_AFTER_S
        await redis.store(verdict("c1"), publish=False)
        await redis.store(verdict("c2"), publish=False)
        assert await waiter.poll_once() == 1
        assert old.result() == verdict("c1")
        assert not new.done()
        assert await waiter.poll_once(everyone=True) == 1  # after a (re)subscribe
        assert new.result() == verdict("c2")

    run(scenario)


def test_past_its_budget_a_request_looks_its_verdict_up_once() -> None:
    async def scenario(waiter: VerdictWaiter, redis: FakeRedis) -> None:
        await redis.store(verdict(), publish=False)
        assert await waiter.wait("c1", 0.01) == verdict()
        assert await waiter.wait("nobody", 0.01) is None
        assert waiter.waiting == {}
        assert waiter.since == {}

    run(scenario)


def test_a_redis_that_is_away_answers_none_and_polls_nothing() -> None:
    async def scenario(waiter: VerdictWaiter, redis: FakeRedis) -> None:
        waiter.expect("c1")
        redis.down = True
        assert await waiter.lookup("c1") is None
        assert await waiter.poll_once(everyone=True) == 0
        assert await waiter.wait("c1", 0.01) is None

    run(scenario)


def test_an_unreadable_verdict_is_logged_and_dropped() -> None:
    async def scenario(waiter: VerdictWaiter, redis: FakeRedis) -> None:
        future = waiter.expect("c1")
        assert not waiter._deliver(b"{not json")
        assert not waiter._deliver(b'{"command_id": "c1"}')
        assert not future.done()

    run(scenario)


def test_a_lost_subscription_is_taken_up_again_and_catches_up_by_polling(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(waiter_module, "RESUBSCRIBE_S", 0.05)

    async def scenario(waiter: VerdictWaiter, redis: FakeRedis) -> None:
        await waiter.start()
        future = waiter.expect("c1")  # a fresh request: not polled on the usual round
        redis.down = True
        await redis.drop_subscribers()
        await until(lambda: not waiter.subscribed.is_set())  # /readyz says so
        await redis.store(verdict(), publish=False)  # decided while we were away
        await until(lambda: redis.calls.count("subscribe") >= 2)  # retried while away
        redis.down = False
        await until(waiter.subscribed.is_set)
        # Everyone is polled right after resubscribing: well before the usual round,
        # which polls only requests waiting for over a second.
        await until(future.done, timeout_s=0.5)
        assert future.result() == verdict()

    run(scenario)


def test_stop_ends_both_tasks() -> None:
    async def scenario(waiter: VerdictWaiter, redis: FakeRedis) -> None:
        await waiter.start()
        tasks = list(waiter._tasks)
        await waiter.stop()
        assert all(task.done() for task in tasks)

    run(scenario)
