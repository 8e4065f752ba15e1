"""Schema evolution on the real log: OrderPlaced v1 envelopes, written raw the way the code
before ``channel`` wrote them, are read as OrderPlaced v2 (channel ``unknown``) by every
reader — the projector's view, time travel, ``orders verify`` and the decider, which
decides a command against the upcast state — while the writers emit v2. A future version
(OrderPlaced v3) goes to the DLQ with its reason and the projection carries on."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
import pytest

from ordersource import codec
from tests.support.http import place_body
from tests.support.read_side import read_topic, transactional_producer
from tests.support.replays import orders_cli
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration


def v1_placed(order_id: str, quantity: int) -> dict[str, Any]:
    """An OrderPlaced envelope at schema version 1: no ``data.channel``."""
    return {
        "event_id": f"{order_id}-e1",
        "type": "OrderPlaced",
        "schema_version": 1,
        "order_id": order_id,
        "version": 1,
        "occurred_at": "2025-06-01T12:00:00.000000Z",
        "command_id": f"{order_id}-c1",
        "data": {
            "customer_id": "legacy-customer",
            "currency": "EUR",
            "items": [{"sku": "apple", "quantity": quantity, "unit_price_cents": 100}],
        },
    }


def append_raw_events(bootstrap: str, topic: str, envelopes: list[dict[str, Any]]) -> None:
    """Hand-built JSON in one Kafka transaction, with the headers the old writer set."""
    producer = transactional_producer(bootstrap)
    try:
        producer.begin_transaction()
        for envelope in envelopes:
            headers = [
                ("type", envelope["type"].encode()),
                ("schema_version", str(envelope["schema_version"]).encode()),
            ]
            producer.send(
                topic,
                key=envelope["order_id"].encode(),
                value=codec.dumps(envelope),
                headers=headers,
            )
        producer.flush()
        producer.commit_transaction()
    finally:
        producer.close()


def view_of(queries: httpx.Client, order_id: str, **params: Any) -> Any:
    def found() -> Any:
        response = queries.get(f"/orders/{order_id}", params=params)
        return response.json() if response.status_code == 200 else None

    return wait_until(found, 30, interval=0.1, message=f"no view of {order_id} {params}")


def test_every_reader_sees_v1_order_placed_as_v2(
    services: Any, settings_env: Mapping[str, str]
) -> None:
    bootstrap, topic = settings_env["ORDERS_KAFKA_BOOTSTRAP"], settings_env["ORDERS_EVENTS_TOPIC"]
    # The log as the code before OrderPlaced v2 left it: v1 events, nothing else.
    append_raw_events(bootstrap, topic, [v1_placed("legacy-1", 2), v1_placed("legacy-2", 3)])

    services("decider")  # catches up from the log: must fold the v1 events
    services("projector")
    commands = httpx.Client(base_url=services("command-api").url(), timeout=30)
    queries = httpx.Client(base_url=services("query-api").url(), timeout=30)

    # The projector's view (through the query API).
    view = view_of(queries, "legacy-1", min_version=1, wait_ms=10_000)
    assert view["channel"] == "unknown"
    assert (view["version"], view["total_cents"], view["status"]) == (1, 200, "placed")
    # Time travel folds the stored history (v1 bytes) through the codec, so it upcasts too.
    assert view_of(queries, "legacy-1", at_version=1)["channel"] == "unknown"
    # History is the log as recorded: the v1 event stays v1 there (the log is never rewritten).
    history = queries.get("/orders/legacy-1/history").json()
    assert [e["schema_version"] for e in history["events"]] == [1]

    # The decider decides against the upcast state: version 2, the v1 total.
    modified = commands.post(
        "/orders/legacy-1/modify",
        json={"changes": [{"sku": "apple", "quantity": 4}]},
        headers={"If-Match": '"1"'},
    )
    assert modified.status_code == 200, modified.text
    assert modified.json()["version"] == 2
    paid = commands.post(
        "/orders/legacy-2/pay", json={"amount_cents": 300, "payment_ref": "psp-legacy"}
    )
    assert paid.status_code == 200, paid.text
    assert (paid.json()["version"], paid.json()["status"]) == (2, "paid")
    wrong = commands.post(
        "/orders/legacy-2/cancel", json={"reason": "x"}, headers={"If-Match": '"1"'}
    )
    assert wrong.status_code == 412, wrong.text  # the decider knows it is at version 2

    # New orders are written as v2 with their channel (default: api).
    from_app = commands.post("/orders", json=place_body("new-app") | {"channel": "app"})
    assert from_app.status_code == 201, from_app.text
    default = commands.post("/orders", json=place_body("new-default"))
    assert default.status_code == 201, default.text
    reserved = commands.post("/orders", json=place_body("new-x") | {"channel": "unknown"})
    assert reserved.status_code == 422, reserved.text

    after = view_of(queries, "legacy-1", min_version=2, wait_ms=10_000)
    assert (after["channel"], after["version"], after["total_cents"]) == ("unknown", 2, 400)
    assert view_of(queries, "legacy-2", min_version=2, wait_ms=10_000)["status"] == "paid"
    assert view_of(queries, "new-app", min_version=1, wait_ms=10_000)["channel"] == "app"
    assert view_of(queries, "new-default", min_version=1, wait_ms=10_000)["channel"] == "api"
    assert view_of(queries, "new-app", at_version=1)["channel"] == "app"

    # On the log: the decider's events carry their own type's schema version, also in
    # the header (6 committed records: 2 raw v1, modify, pay, 2 placed).
    records = read_topic(bootstrap, topic, 6)
    written = {(codec.loads(r.value)["order_id"], codec.loads(r.value)["type"]): r for r in records}
    for (order_id, kind), version in {
        ("legacy-1", "OrderPlaced"): 1,
        ("legacy-1", "OrderModified"): 1,
        ("legacy-2", "OrderPaid"): 1,
        ("new-app", "OrderPlaced"): 2,
        ("new-default", "OrderPlaced"): 2,
    }.items():
        record = written[(order_id, kind)]
        assert codec.loads(record.value)["schema_version"] == version
        assert dict(record.headers)["schema_version"] == str(version).encode()

    # A future version goes to the DLQ with a reason; the projection does not stall.
    future = v1_placed("future-1", 1) | {"schema_version": 3}
    future["data"] = future["data"] | {"channel": "web", "loyalty_tier": "gold"}
    append_raw_events(bootstrap, topic, [future])
    behind = commands.post("/orders", json=place_body("after-future") | {"channel": "store"})
    assert behind.status_code == 201, behind.text
    assert view_of(queries, "after-future", min_version=1, wait_ms=10_000)["channel"] == "store"
    [dead] = read_topic(bootstrap, settings_env["ORDERS_DLQ_TOPIC"], 1)
    reason = dict(dead.headers)["reason"].decode()
    assert "OrderPlaced schema_version 3 is newer than this reader (2)" in reason
    assert codec.loads(dead.value)["order_id"] == "future-1"
    assert queries.get("/orders/future-1").status_code == 404

    # orders verify: the fold of the whole log (v1 upcast) equals the views in Redis.
    def verified() -> Any:
        result = orders_cli(settings_env, "verify")
        return result if result.returncode == 0 else None

    clean = wait_until(verified, 60, interval=0.5, message="orders verify found differences")
    assert "views equal the fold of 7 events" in clean.stdout, clean.stdout
