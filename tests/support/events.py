"""Builders for event streams in tests (pure): whole envelopes, valid per the shared codec."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

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

T0 = datetime(2026, 1, 1, tzinfo=UTC)

V1_PLACED = (
    b'{"event_id":"e1","type":"OrderPlaced","schema_version":1,"order_id":"old-1",'
    b'"version":1,"occurred_at":"2025-06-01T12:00:00.000000Z","command_id":"c1",'
    b'"data":{"customer_id":"bob","currency":"EUR",'
    b'"items":[{"sku":"apple","quantity":2,"unit_price_cents":120}]}}'
)
"""An OrderPlaced exactly as the code before channels wrote it."""


def _base(order_id: str, version: int, at: datetime | None) -> dict[str, Any]:
    return {
        "event_id": f"{order_id}-e{version}",
        "order_id": order_id,
        "version": version,
        "occurred_at": at or T0 + timedelta(seconds=version),
        "command_id": f"{order_id}-c{version}",
    }


def placed(
    order_id: str,
    customer_id: str = "c1",
    quantity: int = 5,
    *,
    price: int = 100,
    at: datetime | None = None,
    currency: str = "EUR",
    channel: str = "web",
) -> OrderPlaced:
    lines = (Line(sku="sku-1", quantity=quantity, unit_price_cents=price),)
    data = OrderPlacedData(customer_id=customer_id, currency=currency, items=lines, channel=channel)
    return OrderPlaced(**_base(order_id, 1, at), data=data)


def modified(order_id: str, version: int, quantity: int, at: datetime | None = None) -> Event:
    changes = (LineChange(sku="sku-1", quantity=quantity),)
    return OrderModified(**_base(order_id, version, at), data=OrderModifiedData(changes=changes))


def paid(order_id: str, version: int, amount: int, at: datetime | None = None) -> Event:
    data = OrderPaidData(amount_cents=amount, payment_ref="pay-1")
    return OrderPaid(**_base(order_id, version, at), data=data)


def shipped(order_id: str, version: int, at: datetime | None = None) -> Event:
    data = OrderShippedData(carrier="dhl", tracking_number="t-1")
    return OrderShipped(**_base(order_id, version, at), data=data)


def cancelled(order_id: str, version: int, at: datetime | None = None) -> Event:
    return OrderCancelled(**_base(order_id, version, at), data=OrderCancelledData(reason="x"))


def lifecycle(order_id: str, customer_id: str = "c1", at: datetime | None = None) -> list[Event]:
    """placed (qty 5 x 100) -> modified (qty 6) -> paid 600 -> shipped."""
    start = at or T0
    return [
        placed(order_id, customer_id, at=start),
        modified(order_id, 2, 6, at=start + timedelta(seconds=1)),
        paid(order_id, 3, 600, at=start + timedelta(seconds=2)),
        shipped(order_id, 4, at=start + timedelta(seconds=3)),
    ]


def orders(count: int, prefix: str) -> list[Event]:
    """``count`` whole lifecycles (place, modify, pay, ship), one second apart, 7 customers."""
    return [
        e
        for i in range(count)
        for e in lifecycle(f"{prefix}{i}", f"c{i % 7}", at=T0 + timedelta(seconds=i))
    ]
