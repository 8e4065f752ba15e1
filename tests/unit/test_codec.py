"""The codec: round trips, per-type schema versions and headers, the OrderPlaced v1 -> v2
upcaster, and refusal of what it cannot read (unknown types, future versions)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from ordersource import codec
from ordersource.domain import SCHEMA_VERSIONS, Event, OrderPaid, OrderPlaced
from tests.support.commands import given, modify, pay, place
from tests.support.events import V1_PLACED

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
    assert raw["schema_version"] == 2
    assert raw["data"]["channel"] == "api"
    assert codec.event_headers(event) == [("type", b"OrderPlaced"), ("schema_version", b"2")]


def test_schema_versions_are_per_event_type() -> None:
    assert dict(SCHEMA_VERSIONS) == {
        "OrderPlaced": 2,
        "OrderModified": 1,
        "OrderPaid": 1,
        "OrderShipped": 1,
        "OrderCancelled": 1,
    }
    events, _ = given(place(), modify({"sku": "apple", "quantity": 6}), pay(720))
    for event in events:
        raw = orjson.loads(codec.encode_event(event))
        assert raw["schema_version"] == event.schema_version == SCHEMA_VERSIONS[event.type]
        version = str(SCHEMA_VERSIONS[event.type]).encode()
        assert codec.event_headers(event) == [
            ("type", event.type.encode()),
            ("schema_version", version),
        ]


def test_order_placed_v1_bytes_are_upcast_to_v2_with_channel_unknown() -> None:
    event = codec.decode_event(V1_PLACED)
    assert isinstance(event, OrderPlaced)
    assert event.schema_version == 2
    assert event.data.channel == "unknown"
    assert (event.order_id, event.data.customer_id, event.data.items[0].quantity) == (
        "old-1",
        "bob",
        2,
    )
    # Re-encoded it is a v2 event, read by the fast path.
    again = orjson.loads(codec.encode_event(event))
    assert (again["schema_version"], again["data"]["channel"]) == (2, "unknown")
    assert codec.decode_event(codec.encode_event(event)) == event


def test_the_upcaster_is_a_pure_function_of_the_raw_dict() -> None:
    raw = orjson.loads(V1_PLACED)
    before = orjson.dumps(raw)
    lifted = codec.UPCASTERS[("OrderPlaced", 1)](raw)
    assert orjson.dumps(raw) == before  # the input is not changed
    assert lifted["schema_version"] == 2
    assert lifted["data"] == raw["data"] | {"channel": "unknown"}
    assert {k: v for k, v in lifted.items() if k not in ("schema_version", "data")} == {
        k: v for k, v in raw.items() if k not in ("schema_version", "data")
    }
    assert codec.UPCASTERS[("OrderPlaced", 1)](orjson.loads(V1_PLACED)) == lifted


def test_a_v1_event_that_was_invalid_stays_invalid() -> None:
    raw = orjson.loads(V1_PLACED)
    raw["data"]["currency"] = "XXX!"
    with pytest.raises(codec.UndecodableEvent, match="invalid event"):
        codec.decode_event(orjson.dumps(raw))


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


def paid() -> Event:
    events, _ = given(place(), pay(600))
    assert isinstance(events[-1], OrderPaid)
    return events[-1]


@pytest.mark.parametrize(
    ("event", "version"),
    [(placed, 3), (placed, 99), (paid, 2)],
    ids=["OrderPlaced-v3", "OrderPlaced-v99", "OrderPaid-v2"],
)
def test_future_schema_versions_are_refused(event: Any, version: int) -> None:
    raw = orjson.loads(codec.encode_event(event()))
    raw["schema_version"] = version
    with pytest.raises(codec.UnknownSchemaVersion, match="newer than this reader"):
        codec.decode_event(orjson.dumps(raw))


def test_upcasters_chain_one_version_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    raw = orjson.loads(V1_PLACED)
    raw["schema_version"] = 0
    raw["data"]["client"] = raw["data"].pop("customer_id")  # how "version 0" spelled it
    with pytest.raises(
        codec.UndecodableEvent, match="no upcaster for OrderPlaced schema_version 0"
    ):
        codec.decode_event(orjson.dumps(raw))

    def v0_to_v1(old: dict[str, Any]) -> dict[str, Any]:
        data = dict(old["data"])
        data["customer_id"] = data.pop("client")
        return {**old, "data": data, "schema_version": 1}

    monkeypatch.setitem(codec.UPCASTERS, ("OrderPlaced", 0), v0_to_v1)
    assert codec.decode_event(orjson.dumps(raw)) == codec.decode_event(V1_PLACED)


def test_an_upcaster_that_does_not_lift_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(codec.UPCASTERS, ("OrderPlaced", 1), lambda raw: raw)
    with pytest.raises(codec.UndecodableEvent, match="did not lift"):
        codec.decode_event(V1_PLACED)


def test_command_round_trip() -> None:
    command = modify({"sku": "apple", "quantity": 2}, expected_version=3, request_hash="h")
    assert codec.decode_command(codec.encode_command(command)) == command
    with pytest.raises(codec.UndecodableCommand):
        codec.decode_command(b'{"type":"LaunchRocket"}')


def test_an_event_without_schema_version_is_refused_not_taken_for_current() -> None:
    raw = codec.loads(V1_PLACED)
    del raw["schema_version"]
    with pytest.raises(codec.UndecodableEvent, match="schema_version"):
        codec.decode_event(codec.dumps(raw | {"data": raw["data"] | {"channel": "web"}}))
