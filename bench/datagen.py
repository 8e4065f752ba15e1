"""Synthetic event log: ``orders`` orders, five events each, built with the shared domain,
encoded with the shared codec and written in Kafka transactions (read_committed readers
see them like the decider's own). Keyed by order id with Kafka's default partitioner, so
each order lands on the partition the decider would own it on.

A quarter of the orders each end shipped, cancelled, paid (open) and placed (open).

    python -m bench.datagen --bootstrap 127.0.0.1:9092 --topic T --first 0 --orders 1000
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from kafka import KafkaProducer

from ordersource import codec
from ordersource.domain import (
    Event,
    Line,
    LineChange,
    OrderCancelled,
    OrderModified,
    OrderPaid,
    OrderPlaced,
    OrderShipped,
)
from ordersource.domain.events import (
    OrderCancelledData,
    OrderModifiedData,
    OrderPaidData,
    OrderPlacedData,
    OrderShippedData,
)
from ordersource.ids import new_id

EVENTS_PER_ORDER = 5
PRICE = 120
CHANNELS = ("web", "app", "store", "phone", "api")
TRANSACTION = 20_000
"""Events per Kafka transaction (few commit markers in the log)."""


def order_id(n: int) -> str:
    return f"bench-o{n:08d}"


def order_events(n: int, now: datetime) -> Iterator[Event]:
    """Five events of order ``n``; ``n % 4`` picks its fate."""
    oid, fate = order_id(n), n % 4
    common: dict[str, Any] = {"order_id": oid, "occurred_at": now}
    placed = OrderPlacedData(
        customer_id=f"c{n % 5000}",
        currency="EUR",
        items=(Line(sku="apple", quantity=1, unit_price_cents=PRICE),),
        channel=CHANNELS[n % len(CHANNELS)],
    )
    yield OrderPlaced(event_id=new_id(), command_id=new_id(), version=1, data=placed, **common)
    modifies = {0: 2, 1: 3, 2: 3, 3: 4}[fate]
    for v in range(2, 2 + modifies):
        change = OrderModifiedData(changes=(LineChange(sku="apple", quantity=v),))
        yield OrderModified(
            event_id=new_id(), command_id=new_id(), version=v, **common, data=change
        )
    quantity, version = 1 + modifies, 2 + modifies
    if fate in (0, 2):
        paid = OrderPaidData(amount_cents=quantity * PRICE, payment_ref=f"psp-{n}")
        yield OrderPaid(
            event_id=new_id(), command_id=new_id(), version=version, **common, data=paid
        )
        version += 1
    if fate == 0:
        shipped = OrderShippedData(carrier="dhl", tracking_number=f"t{n}")
        yield OrderShipped(
            event_id=new_id(), command_id=new_id(), version=version, **common, data=shipped
        )
    elif fate == 1:
        reason = OrderCancelledData(reason="changed mind")
        yield OrderCancelled(
            event_id=new_id(), command_id=new_id(), version=version, **common, data=reason
        )


def produce(bootstrap: str, topic: str, first: int, orders: int, tid: str) -> dict[str, float]:
    producer = KafkaProducer(
        bootstrap_servers=bootstrap,
        transactional_id=tid,
        acks="all",
        linger_ms=20,
        batch_size=256 * 1024,
        max_request_size=4 * 1024 * 1024,
    )
    now, sent, size, started = datetime.now(UTC), 0, 0, time.perf_counter()
    try:
        producer.init_transactions()
        producer.begin_transaction()
        for n in range(first, first + orders):
            for event in order_events(n, now):
                value = codec.encode_event(event)
                size += len(value)
                key = event.order_id.encode()
                producer.send(topic, key=key, value=value, headers=codec.event_headers(event))
                sent += 1
                if sent % TRANSACTION == 0:
                    producer.commit_transaction()
                    producer.begin_transaction()
        producer.commit_transaction()
    finally:
        producer.close(timeout=30)
    seconds = time.perf_counter() - started
    return {"events": sent, "seconds": seconds, "mean_record_bytes": size / max(1, sent)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--first", type=int, default=0)
    parser.add_argument("--orders", type=int, required=True)
    parser.add_argument("--tid", default="bench-datagen")
    args = parser.parse_args()
    result = produce(args.bootstrap, args.topic, args.first, args.orders, args.tid)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
