"""G7/G5: Redis emptied under a running projector, or the projector killed -9 halfway
through a backlog: the views come back equal to the fold of the log by themselves."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
import redis

from tests.support.events import orders, placed
from tests.support.read_side import append, get_json, start_read_side, wait_verified
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration


def test_flushall_while_running_rebuilds_the_views(
    services: Any, settings_env: Mapping[str, str]
) -> None:
    _, query = start_read_side(services)
    bootstrap, topic = settings_env["ORDERS_KAFKA_BOOTSTRAP"], settings_env["ORDERS_EVENTS_TOPIC"]
    append(bootstrap, topic, orders(100, "a"))
    wait_verified(settings_env)

    with redis.Redis.from_url(settings_env["ORDERS_REDIS_URL"]) as client:
        client.flushall()
    append(bootstrap, topic, [placed("after-flush")])  # the projector notices on this batch
    wait_verified(settings_env)
    assert get_json(query.url("/stats"))["orders"] == 101
    assert get_json(query.url("/orders/a0"))["version"] == 4
    assert get_json(query.url("/projection"))["events_applied"] == 401


def test_kill_9_in_the_middle_of_10000_events(
    services: Any, settings_env: Mapping[str, str]
) -> None:
    bootstrap, topic = settings_env["ORDERS_KAFKA_BOOTSTRAP"], settings_env["ORDERS_EVENTS_TOPIC"]
    append(bootstrap, topic, orders(2500, "k"), chunk=1000)
    # Small batches so that the kill lands while the backlog is being applied.
    projector = services("projector", env={"ORDERS_PROJECTOR_BATCH_SIZE": "20"})
    client = redis.Redis.from_url(settings_env["ORDERS_REDIS_URL"])

    def applied() -> int:
        return int(client.hget("v:1:meta", "events_applied") or 0)

    wait_until(lambda: applied() >= 1000, 60, interval=0.005, message="projection never started")
    projector.kill()
    at_kill = applied()
    assert at_kill < 10_000, "the backlog was applied before the kill; test proves nothing"

    services("projector")
    wait_verified(settings_env, timeout=120)
    history = client.hgetall("v:1:history:k1234")
    assert sorted(int(v) for v in history) == [1, 2, 3, 4]
    client.close()
