"""The codec: round trips, headers, upcasting, and refusal of what it cannot read."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from ordersource import codec
from ordersource.domain import OrderPlaced
from tests.unit.orders import given, modify, place

pytestmark = pytest.mark.unit


def placed() -> OrderPlaced:
    [event], _ = given(place())
    assert isinstance(event, OrderPlaced)
    return event


def test_event_round_trip_and_envelope_fields() -> None:
    event = placed()
    raw = orjson.loads(codec.encode_event(event))
    assert set(raw) == {
        "event_id",
        "type",
        "schema_version",
        "order_id",
        "version",
        "occurred_at",
        "command_id",
        "data",
    }
    assert raw["occurred_at"].endswith("Z")
    assert codec.decode_event(codec.encode_event(event)) == event
    assert codec.event_headers(event) == [("type", b"OrderPlaced"), ("schema_version", b"1")]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "tombstone"),
        (b"not json", "not JSON"),
        (b"[1,2]", "not a JSON object"),
        (b'{"type":"OrderExploded","schema_version":1}', "unknown event type"),
        (b'{"type":"OrderPlaced","schema_version":"x"}', "invalid schema_version"),
        (b'{"type":"OrderPlaced","schema_version":1,"data":{}}', "invalid event"),
    ],
)
def test_unreadable_events_are_refused_with_a_reason(value: bytes | None, reason: str) -> None:
    with pytest.raises(codec.UndecodableEvent, match=reason):
        codec.decode_event(value)


def test_future_schema_version_is_refused() -> None:
    raw = orjson.loads(codec.encode_event(placed()))
    raw["schema_version"] = 2
    with pytest.raises(codec.UnknownSchemaVersion):
        codec.decode_event(orjson.dumps(raw))


def test_older_schema_versions_are_upcast(monkeypatch: pytest.MonkeyPatch) -> None:
    event = placed()
    raw = orjson.loads(codec.encode_event(event))
    raw["schema_version"] = 0
    raw["data"]["client"] = raw["data"].pop("customer_id")  # how "version 0" spelled it

    def v0_to_v1(old: dict[str, Any]) -> dict[str, Any]:
        data = dict(old["data"])
        data["customer_id"] = data.pop("client")
        return {**old, "data": data, "schema_version": 1}

    monkeypatch.setitem(codec.UPCASTERS, ("OrderPlaced", 0), v0_to_v1)
    assert codec.decode_event(orjson.dumps(raw)) == event


def test_command_round_trip() -> None:
    command = modify({"sku": "apple", "quantity": 2}, expected_version=3, request_hash="h")
    assert codec.decode_command(codec.encode_command(command)) == command
    with pytest.raises(codec.UndecodableCommand):
        codec.decode_command(b'{"type":"LaunchRocket"}')
