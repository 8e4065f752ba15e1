"""Replay with Kafka's own tool: with the projector stopped, ``kafka-consumer-groups
--reset-offsets --to-earliest --execute`` and a restart rebuild the views from the log —
a view changed behind the projector's back is repaired, in a new generation."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
import redis

from ordersource import codec
from tests.support.events import orders
from tests.support.read_side import append, get_json, start_read_side, wait_verified
from tests.support.replays import kafka_reset, orders_cli, until_ok
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration


def test_kafka_tool_reset_to_earliest_rebuilds_the_views(
    services: Any, settings_env: Mapping[str, str]
) -> None:
    projector, query = start_read_side(services)
    bootstrap, topic = settings_env["ORDERS_KAFKA_BOOTSTRAP"], settings_env["ORDERS_EVENTS_TOPIC"]
    append(bootstrap, topic, orders(300, "a"))
    wait_verified(settings_env)
    client = redis.Redis.from_url(settings_env["ORDERS_REDIS_URL"])
    tampered = codec.loads(client.get("v:1:order:a7") or b"{}") | {"total_cents": 1}
    client.set("v:1:order:a7", codec.dumps(tampered))  # behind the projector's back
    assert get_json(query.url("/orders/a7"))["total_cents"] == 1

    projector.terminate()
    done = until_ok(lambda: kafka_reset(settings_env, "--to-earliest"))
    assert "NEW-OFFSET" in done.stdout, done.stdout
    assert get_json(query.url("/orders/a7"))["total_cents"] == 1  # nothing until restart

    services("projector")
    wait_until(lambda: client.get("views:current") not in (None, b"1"), 60,
               message="the projector never switched to a rebuilt generation")  # fmt: skip
    wait_verified(settings_env)
    assert get_json(query.url("/orders/a7"))["total_cents"] == 600
    assert get_json(query.url("/stats"))["orders"] == 300
    wait_until(lambda: not list(client.scan_iter("v:1:*", count=1000)), 30,
               message="the old generation was never dropped")  # fmt: skip
    verified = orders_cli(settings_env, "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "views equal the fold of 1200 events" in verified.stdout
    client.close()
