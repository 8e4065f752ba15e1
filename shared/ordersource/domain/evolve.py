"""``evolve``: the one fold. Decider, projector and time travel all build state with it."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import replace
from typing import assert_never

from ordersource.domain.events import (
    Event,
    OrderCancelled,
    OrderModified,
    OrderPaid,
    OrderPlaced,
    OrderShipped,
)
from ordersource.domain.state import OrderState
from ordersource.domain.types import Line, LineChange, OrderStatus


class FoldError(ValueError):
    """An event that cannot follow the given state (wrong order, wrong version)."""


class Step(enum.Enum):
    """Where an event read from the log stands against the state built so far."""

    NEXT = "next"
    """Its version is the state's + 1: fold it with ``evolve``."""
    DUPLICATE = "duplicate"
    """At or below the state's version: applied before (a re-delivery). Skip it."""
    GAP = "gap"
    """Above the state's version + 1: events are missing. Never fold it (it would invent
    state); the projector parks it, ``orders verify`` leaves the order where it is."""


def step(state: OrderState | None, event: Event) -> Step:
    """The version rule: the one reading of a log record's version that the decider's
    book, the projector's planner and ``orders verify`` share."""
    version = 0 if state is None else state.version
    if event.version <= version:
        return Step.DUPLICATE
    return Step.NEXT if event.version == version + 1 else Step.GAP


def evolve(state: OrderState | None, event: Event) -> OrderState:
    """Apply one event. Pure; raises FoldError when the event does not follow ``state``."""
    expected = 1 if state is None else state.version + 1
    if event.version != expected:
        raise FoldError(f"{event.order_id}: expected version {expected}, got {event.version}")
    if isinstance(event, OrderPlaced):
        data = event.data
        return OrderState(
            order_id=event.order_id,
            customer_id=data.customer_id,
            currency=data.currency,
            channel=data.channel,
            status=OrderStatus.PLACED,
            items=data.items,
            version=1,
            created_at=event.occurred_at,
            updated_at=event.occurred_at,
        )
    if state is None:
        raise FoldError(f"{event.order_id}: {event.type} before OrderPlaced")
    match event:
        case OrderModified():
            return _next(state, event, items=apply_changes(state.items, event.data.changes))
        case OrderPaid():
            return _next(state, event, status=OrderStatus.PAID)
        case OrderShipped():
            return _next(state, event, status=OrderStatus.SHIPPED)
        case OrderCancelled():
            return _next(state, event, status=OrderStatus.CANCELLED)
        case _:
            assert_never(event)


def fold(events: Iterable[Event], state: OrderState | None = None) -> OrderState | None:
    for event in events:
        state = evolve(state, event)
    return state


def apply_changes(items: tuple[Line, ...], changes: tuple[LineChange, ...]) -> tuple[Line, ...]:
    """Lines after a modification: quantity 0 removes, a known sku updates, a new one appends.

    Assumes the changes were checked by ``decide`` (a new sku carries a price).
    """
    by_sku = {line.sku: line for line in items}
    for change in changes:
        current = by_sku.get(change.sku)
        if change.quantity == 0:
            by_sku.pop(change.sku, None)
            continue
        price = change.unit_price_cents
        if price is None:
            price = current.unit_price_cents if current is not None else 0
        by_sku[change.sku] = Line(sku=change.sku, quantity=change.quantity, unit_price_cents=price)
    return tuple(by_sku.values())


def _next(state: OrderState, event: Event, **changes: object) -> OrderState:
    return replace(state, version=event.version, updated_at=event.occurred_at, **changes)  # type: ignore[arg-type]
