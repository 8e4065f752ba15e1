"""Builders for domain unit tests: commands and a fixed clock and id source."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from ordersource.domain import (
    CancelOrder,
    Command,
    Event,
    ModifyOrder,
    OrderState,
    PayOrder,
    PlaceOrder,
    ShipOrder,
    decide,
    fold,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
_ids = itertools.count(1)


def new_id() -> str:
    return f"id-{next(_ids)}"


def place(order_id: str = "o1", qty: int = 5, price: int = 120, **kw: Any) -> PlaceOrder:
    fields: dict[str, Any] = {
        "items": [{"sku": "apple", "quantity": qty, "unit_price_cents": price}],
        "customer_id": "bob",
        "currency": "EUR",
        **kw,
    }
    return PlaceOrder(command_id=new_id(), order_id=order_id, **fields)


def modify(*changes: dict[str, Any], order_id: str = "o1", **kw: Any) -> ModifyOrder:
    return ModifyOrder(command_id=new_id(), order_id=order_id, changes=changes, **kw)


def pay(amount: int, order_id: str = "o1", **kw: Any) -> PayOrder:
    return PayOrder(
        command_id=new_id(), order_id=order_id, amount_cents=amount, payment_ref="p1", **kw
    )


def ship(order_id: str = "o1", **kw: Any) -> ShipOrder:
    return ShipOrder(
        command_id=new_id(), order_id=order_id, carrier="DHL", tracking_number="T1", **kw
    )


def cancel(order_id: str = "o1", **kw: Any) -> CancelOrder:
    return CancelOrder(command_id=new_id(), order_id=order_id, reason="no", **kw)


def given(*commands: Command) -> tuple[list[Event], OrderState | None]:
    """Run commands through decide+fold; returns all events and the final state."""
    events: list[Event] = []
    state: OrderState | None = None
    for n, command in enumerate(commands):
        new = decide(command, state, now=T0 + timedelta(seconds=n), new_id=new_id)
        events += new
        state = fold(new, state)
    return events, state


def when(state: OrderState | None, command: Command) -> list[Event]:
    return decide(command, state, now=T0 + timedelta(hours=1), new_id=new_id)
