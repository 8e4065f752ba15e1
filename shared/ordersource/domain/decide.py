"""``decide``: a command against the current state gives new events or a refusal. Pure.

The clock and the id source are arguments, so the same inputs always give the same answer.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import assert_never

from ordersource.domain.commands import (
    CancelOrder,
    Command,
    ModifyOrder,
    PayOrder,
    PlaceOrder,
    ShipOrder,
)
from ordersource.domain.errors import (
    InvalidCommand,
    OrderAlreadyExists,
    OrderNotFound,
    RuleViolated,
    VersionMismatch,
)
from ordersource.domain.events import (
    Event,
    OrderCancelled,
    OrderCancelledData,
    OrderModified,
    OrderModifiedData,
    OrderPaid,
    OrderPaidData,
    OrderPlaced,
    OrderPlacedData,
    OrderShipped,
    OrderShippedData,
)
from ordersource.domain.evolve import apply_changes
from ordersource.domain.state import OrderState
from ordersource.domain.types import (
    MAX_EVENTS_PER_ORDER,
    MAX_LINES,
    MAX_ORDER_TOTAL_CENTS,
    OrderStatus,
    total_cents,
)

NewId = Callable[[], str]


def decide(
    command: Command, state: OrderState | None, *, now: datetime, new_id: NewId
) -> list[Event]:
    """The events ``command`` causes on ``state``; raises a DomainError to refuse it."""
    if isinstance(command, PlaceOrder):
        if state is not None:
            raise OrderAlreadyExists(
                f"order {command.order_id} already exists",
                order_status=state.status.value,
                version=state.version,
            )
        if command.expected_version not in (None, 0):
            raise VersionMismatch("the order does not exist yet", version=0)
        if (total := total_cents(command.items)) > MAX_ORDER_TOTAL_CENTS:
            # The command alone is wrong, whatever the state: invalid, like any bad input.
            raise InvalidCommand(_above_bound(total), total_cents=total)
        data = OrderPlacedData(
            customer_id=command.customer_id,
            currency=command.currency,
            items=command.items,
            channel=command.channel,
        )
        return [OrderPlaced(data=data, **_meta(command, 1, now, new_id))]

    if state is None:
        raise OrderNotFound(f"order {command.order_id} does not exist")
    if command.expected_version is not None and command.expected_version != state.version:
        raise VersionMismatch(
            f"order is at version {state.version}, not {command.expected_version}",
            order_status=state.status.value,
            version=state.version,
        )
    meta = _meta(command, state.version + 1, now, new_id)
    match command:
        case ModifyOrder():
            _require(state, {OrderStatus.PLACED}, "modified")
            if state.version + 1 > MAX_EVENTS_PER_ORDER - 2:
                raise RuleViolated(
                    f"an order takes at most {MAX_EVENTS_PER_ORDER - 3} modifications; "
                    "place a new order",
                    order_status=state.status.value,
                    version=state.version,
                )
            _check_changes(state, command)
            return [OrderModified(data=OrderModifiedData(changes=command.changes), **meta)]
        case PayOrder():
            _require(state, {OrderStatus.PLACED}, "paid")
            if command.amount_cents != state.total_cents:
                raise RuleViolated(
                    f"amount {command.amount_cents} does not equal the order total "
                    f"{state.total_cents}",
                    order_status=state.status.value,
                    version=state.version,
                    total_cents=state.total_cents,
                )
            paid = OrderPaidData(amount_cents=command.amount_cents, payment_ref=command.payment_ref)
            return [OrderPaid(data=paid, **meta)]
        case ShipOrder():
            _require(state, {OrderStatus.PAID}, "shipped")
            shipped = OrderShippedData(
                carrier=command.carrier, tracking_number=command.tracking_number
            )
            return [OrderShipped(data=shipped, **meta)]
        case CancelOrder():
            _require(state, {OrderStatus.PLACED, OrderStatus.PAID}, "cancelled")
            return [OrderCancelled(data=OrderCancelledData(reason=command.reason), **meta)]
        case _:
            assert_never(command)


def _meta(command: Command, version: int, now: datetime, new_id: NewId) -> dict[str, object]:
    return {
        "event_id": new_id(),
        "order_id": command.order_id,
        "version": version,
        "occurred_at": now,
        "command_id": command.command_id,
    }


def _require(state: OrderState, allowed: set[OrderStatus], verb: str) -> None:
    if state.status not in allowed:
        raise RuleViolated(
            f"an order that is {state.status.value} cannot be {verb}",
            order_status=state.status.value,
            version=state.version,
        )


def _check_changes(state: OrderState, command: ModifyOrder) -> None:
    known = {line.sku for line in state.items}
    for change in command.changes:
        if change.sku not in known and change.quantity > 0 and change.unit_price_cents is None:
            raise InvalidCommand(f"new sku {change.sku!r} needs unit_price_cents")
        if change.sku not in known and change.quantity == 0:
            raise InvalidCommand(f"sku {change.sku!r} is not on the order, nothing to remove")
    items = apply_changes(state.items, command.changes)
    if not items:
        raise RuleViolated(
            "an order keeps at least one line",
            order_status=state.status.value,
            version=state.version,
        )
    if len(items) > MAX_LINES:
        raise RuleViolated(
            f"an order has at most {MAX_LINES} lines",
            order_status=state.status.value,
            version=state.version,
        )
    if (total := total_cents(items)) > MAX_ORDER_TOTAL_CENTS:
        # Like the line limit: fine on another order, a rule violation on this one.
        raise RuleViolated(
            _above_bound(total),
            order_status=state.status.value,
            version=state.version,
            total_cents=total,
        )


def _above_bound(total: int) -> str:
    return f"the order total would be {total} cents, above the {MAX_ORDER_TOTAL_CENTS} allowed"
