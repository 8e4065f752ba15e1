"""``orders replay --until T``: the whole system as of T, in a generation of its own that
the query API serves with ``?generation=`` while the current views stay untouched."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import redis

from tests.support.events import modified, placed
from tests.support.read_side import append, get_json, start_read_side, wait_verified
from tests.support.replays import orders_cli
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration


def test_bounded_replay_shows_the_state_as_of_t(
    services: Any, settings_env: Mapping[str, str]
) -> None:
    _, query = start_read_side(services)
    bootstrap, topic = settings_env["ORDERS_KAFKA_BOOTSTRAP"], settings_env["ORDERS_EVENTS_TOPIC"]
    append(bootstrap, topic, [placed(f"a{i}", "c1") for i in range(20)])
    # Kafka stamps records with the producer's clock in ms: leave a measurable gap.
    moment = time.time() + 0.05
    wait_until(lambda: time.time() > moment + 0.05, 5, interval=0.01)
    append(bootstrap, topic, [modified(f"a{i}", 2, 9) for i in range(10)])
    append(bootstrap, topic, [placed(f"b{i}", "c2") for i in range(5)])
    wait_verified(settings_env)

    until = datetime.fromtimestamp(moment, UTC).isoformat()
    done = orders_cli(settings_env, "replay", "--until", until)
    assert done.returncode == 0, done.stdout + done.stderr
    found = re.search(r"generation (\d+) holds the log as of", done.stdout)
    assert found, done.stdout
    generation = found.group(1)
    assert generation == "2"

    then = {"generation": generation}
    assert get_json(query.url("/orders/a3"), **then)["version"] == 1
    assert get_json(query.url("/orders/a3"))["version"] == 2  # current: untouched
    assert httpx.get(query.url("/orders/b0"), params=then).status_code == 404
    assert get_json(query.url("/orders/b0"))["version"] == 1
    assert get_json(query.url("/stats"), **then)["orders"] == 20
    assert get_json(query.url("/stats"))["orders"] == 25
    assert len(get_json(query.url("/orders"), limit=100, **then)["items"]) == 20
    assert get_json(query.url("/orders/a3/history"), **then)["version"] == 1
    unknown = httpx.get(query.url("/orders/a3"), params={"generation": "99"})
    assert unknown.status_code == 422
    assert unknown.headers["content-type"] == "application/problem+json"
    assert get_json(query.url("/stats"))["generation"] == "1"

    with redis.Redis.from_url(settings_env["ORDERS_REDIS_URL"]) as client:
        assert client.get("views:current") == b"1"
        entry = json.loads(client.hget("views:generations", generation) or b"{}")
        assert entry["state"] == "bounded"
        assert "building" not in entry  # finished: never swept
        assert "built_at" in entry
    bounded = orders_cli(settings_env, "verify", "--generation", generation)
    assert bounded.returncode == 0, bounded.stdout + bounded.stderr
    assert "fold of 20 events" in bounded.stdout
    assert orders_cli(settings_env, "verify").returncode == 0
    status = orders_cli(settings_env, "status")
    assert "bounded" in status.stdout
