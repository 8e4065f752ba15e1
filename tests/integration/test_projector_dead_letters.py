"""G6: poison on the events topic goes to the DLQ with its reason and origin, and the
projection carries on with the valid events behind it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from ordersource.codec import dumps
from tests.support.events import placed
from tests.support.read_side import (
    append,
    append_raw,
    get_json,
    read_topic,
    start_read_side,
    wait_verified,
)

pytestmark = pytest.mark.integration


def test_poison_goes_to_the_dlq_and_projection_continues(
    services: Any, settings_env: Mapping[str, str]
) -> None:
    projector, query = start_read_side(services)
    bootstrap, topic = settings_env["ORDERS_KAFKA_BOOTSTRAP"], settings_env["ORDERS_EVENTS_TOPIC"]
    append(bootstrap, topic, [placed("before")])
    append_raw(bootstrap, topic, b"before", b"\xff{not json")
    future = placed("future").model_dump(mode="json") | {"schema_version": 7}
    append_raw(bootstrap, topic, b"future", dumps(future))
    append_raw(bootstrap, topic, None, b'{"type": "OrderTeleported"}')
    append(bootstrap, topic, [placed("after")])

    assert get_json(query.url("/orders/after"), min_version=1, wait_ms=10_000)["version"] == 1
    dead = read_topic(bootstrap, settings_env["ORDERS_DLQ_TOPIC"], 3)
    headers = [dict(r.headers) for r in dead]
    reasons = sorted(h["reason"].decode() for h in headers)
    assert any("not JSON" in r for r in reasons)
    assert any("newer than this reader" in r for r in reasons)
    assert any("unknown event type" in r for r in reasons)
    for record, header in zip(dead, headers, strict=True):
        assert header["source_topic"].decode() == topic
        assert int(header["source_partition"]) >= 0
        assert int(header["source_offset"]) >= 0
        assert record.value  # the original bytes, for a human to look at
    projection = get_json(query.url("/projection"))
    assert projection["dead_letters"] == 3
    metrics = get_json_text(projector.url("/metrics"))
    assert "orders_projector_dead_letters_total 3.0" in metrics
    wait_verified(settings_env)


def get_json_text(url: str) -> str:
    import httpx

    return httpx.get(url, timeout=10).text
