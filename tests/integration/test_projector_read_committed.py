"""The decider writes in transactions; the projector must read committed data only:
events of an aborted transaction never reach the views, committed ones do."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
import pytest

from tests.support.events import modified, placed
from tests.support.read_side import append, get_json, start_read_side, wait_verified

pytestmark = pytest.mark.integration


def test_aborted_transactions_are_invisible(services: Any, settings_env: Mapping[str, str]) -> None:
    _, query = start_read_side(services)
    bootstrap, topic = settings_env["ORDERS_KAFKA_BOOTSTRAP"], settings_env["ORDERS_EVENTS_TOPIC"]
    append(bootstrap, topic, [placed("kept", quantity=5)])
    # A zombie's transaction: a new order and a competing version 2 of "kept", aborted.
    append(bootstrap, topic, [placed("ghost"), modified("kept", 2, 9)], abort=True)
    append(bootstrap, topic, [modified("kept", 2, 7)])
    append(bootstrap, topic, [placed("last")])

    view = get_json(query.url("/orders/kept"), min_version=2, wait_ms=10_000)
    assert view["items"][0]["quantity"] == 7
    assert get_json(query.url("/orders/last"), min_version=1, wait_ms=10_000)["version"] == 1
    assert httpx.get(query.url("/orders/ghost")).status_code == 404
    history = get_json(query.url("/orders/kept/history"))
    assert [e["data"].get("changes") for e in history["events"]][1][0]["quantity"] == 7
    assert get_json(query.url("/stats"))["orders"] == 2
    wait_verified(settings_env)
