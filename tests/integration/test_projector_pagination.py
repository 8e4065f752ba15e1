"""250 orders of one customer page out newest first, each exactly once, while more
orders keep arriving."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import pytest

from tests.support.events import T0, placed
from tests.support.read_side import append, get_json, start_read_side
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration


def test_every_order_exactly_once_across_pages(
    services: Any, settings_env: Mapping[str, str]
) -> None:
    _, query = start_read_side(services)
    bootstrap, topic = settings_env["ORDERS_KAFKA_BOOTSTRAP"], settings_env["ORDERS_EVENTS_TOPIC"]
    # Pairs of orders share a creation time: ties must not lose or repeat anything.
    append(
        bootstrap,
        topic,
        [placed(f"o{i:03}", "alice", at=T0 + timedelta(seconds=i // 2)) for i in range(250)],
    )
    wait_until(
        lambda: get_json(query.url("/stats"))["orders"] == 250,
        60,
        message="250 orders never projected",
    )

    seen: list[str] = []
    cursor = None
    while True:
        params = {"customer_id": "alice", "limit": 17} | ({"cursor": cursor} if cursor else {})
        page = get_json(query.url("/orders"), **params)
        seen += [item["order_id"] for item in page["items"]]
        if len(seen) == 34:  # new orders while paging: newer than the cursor
            append(
                bootstrap,
                topic,
                [placed(f"late{i}", "alice", at=T0 + timedelta(days=1)) for i in range(10)],
            )
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 250
    assert seen[0] in {"o248", "o249"}
    assert seen[-1] in {"o000", "o001"}
    first = get_json(query.url("/orders"), customer_id="alice")
    assert len(first["items"]) == 20  # the default limit
