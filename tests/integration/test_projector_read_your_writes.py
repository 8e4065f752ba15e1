"""Events written like the decider writes them show up through the query API: current
view (read-your-writes), history, and the state at a version or a time."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import httpx
import pytest

from tests.support.events import T0, modified, placed
from tests.support.read_side import append, get_json, start_read_side, wait_verified

pytestmark = pytest.mark.integration


def test_modify_is_read_back_with_history_and_time_travel(
    services: Any, settings_env: Mapping[str, str]
) -> None:
    _, query = start_read_side(services)
    bootstrap, topic = settings_env["ORDERS_KAFKA_BOOTSTRAP"], settings_env["ORDERS_EVENTS_TOPIC"]
    append(bootstrap, topic, [placed("o1", "bob", 5, at=T0)])
    append(bootstrap, topic, [modified("o1", 2, 6, at=T0 + timedelta(minutes=10))])

    view = get_json(query.url("/orders/o1"), min_version=2, wait_ms=10_000)
    assert view["version"] == 2
    assert view["items"][0]["quantity"] == 6

    history = get_json(query.url("/orders/o1/history"))
    assert [e["version"] for e in history["events"]] == [1, 2]

    at_one = get_json(query.url("/orders/o1"), at_version=1)
    between = get_json(query.url("/orders/o1"), as_of=(T0 + timedelta(minutes=5)).isoformat())
    for past in (at_one, between):
        assert past["version"] == 1
        assert past["items"][0]["quantity"] == 5

    behind = httpx.get(query.url("/orders/o1"), params={"min_version": 3, "wait_ms": 50})
    assert behind.status_code == 409
    assert behind.json()["current_version"] == 2
    wait_verified(settings_env)
