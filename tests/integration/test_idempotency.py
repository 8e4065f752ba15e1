"""G4: an Idempotency-Key gives the original answer and writes nothing, across restarts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
import pytest
import redis

from tests.support.eventlog import read_log
from tests.support.http import place_body

pytestmark = pytest.mark.integration


def test_retries_with_a_key_survive_restarts_and_a_wiped_redis(
    services: Any, settings_env: Mapping[str, str]
) -> None:
    decider = services("decider")
    api = services("command-api")
    key = {"Idempotency-Key": "place-bob-1"}
    first = httpx.post(api.url("/orders"), json=place_body(), headers=key, timeout=30)
    assert first.status_code == 201
    again = httpx.post(api.url("/orders"), json=place_body(), headers=key, timeout=30)
    assert (again.status_code, again.json()) == (201, first.json())
    assert again.headers["Idempotent-Replayed"] == "true"

    # Restart both processes and wipe Redis: only the log remembers the command now.
    decider.terminate()
    api.terminate()
    redis.Redis.from_url(settings_env["ORDERS_REDIS_URL"]).flushall()
    services("decider")
    api = services("command-api")

    after = httpx.post(api.url("/orders"), json=place_body(), headers=key, timeout=30)
    assert (after.status_code, after.json()) == (201, first.json())
    other = httpx.post(api.url("/orders"), json=place_body(qty=6), headers=key, timeout=30)
    assert other.status_code == 422
    assert other.headers["content-type"] == "application/problem+json"

    logged = read_log(settings_env)
    assert [e.event.command_id for e in logged] == [first.json()["command_id"]]


def test_a_key_reused_on_another_order_is_refused(services: Any) -> None:
    services("decider")
    api = services("command-api")
    key = {"Idempotency-Key": "k-shared"}
    ok = httpx.post(api.url("/orders"), json=place_body("a-1"), headers=key, timeout=30)
    assert ok.status_code == 201
    clash = httpx.post(api.url("/orders"), json=place_body("a-2"), headers=key, timeout=30)
    assert clash.status_code == 422
    assert (
        httpx.get(api.url(f"/commands/{ok.json()['command_id']}"), timeout=5).json()["status"]
        == "accepted"
    )
