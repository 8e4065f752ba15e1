"""Commands: what a client asks for. They travel on ``orders.commands`` keyed by order_id."""

from __future__ import annotations

from typing import Annotated, Literal, TypeVar

from pydantic import AfterValidator, Field

from ordersource.domain.types import (
    DEFAULT_CHANNEL,
    MAX_LINES,
    MAX_ORDER_TOTAL_CENTS,
    AmountCents,
    Currency,
    Frozen,
    Identifier,
    Line,
    LineChange,
    NewChannel,
    ShortText,
    total_cents,
)

T = TypeVar("T", Line, LineChange)


def _unique_skus(lines: tuple[T, ...]) -> tuple[T, ...]:
    seen: set[str] = set()
    for line in lines:
        if line.sku in seen:
            raise ValueError(f"sku {line.sku!r} appears more than once")
        seen.add(line.sku)
    return lines


def _bounded_total(lines: tuple[Line, ...]) -> tuple[Line, ...]:
    if (total := total_cents(lines)) > MAX_ORDER_TOTAL_CENTS:
        raise ValueError(f"the order total {total} is above {MAX_ORDER_TOTAL_CENTS} cents")
    return lines


Lines = Annotated[
    tuple[Line, ...],
    Field(
        min_length=1,
        max_length=MAX_LINES,
        description=f"1-{MAX_LINES} lines with distinct skus; the order total (the sum of "
        f"quantity x unit_price_cents) is at most {MAX_ORDER_TOTAL_CENTS} cents",
    ),
    AfterValidator(_unique_skus),
    AfterValidator(_bounded_total),
]
Changes = Annotated[
    tuple[LineChange, ...],
    Field(min_length=1, max_length=MAX_LINES),
    AfterValidator(_unique_skus),
]


class CommandBase(Frozen):
    command_id: str = Field(min_length=1, max_length=64)
    order_id: Identifier
    expected_version: int | None = Field(default=None, ge=0)
    """From ``If-Match``: the command applies only if the order is at exactly this version."""
    request_hash: str | None = None
    """Fingerprint of the request behind an Idempotency-Key; None when the client sent none."""


class PlaceOrder(CommandBase):
    type: Literal["PlaceOrder"] = "PlaceOrder"
    customer_id: Identifier
    currency: Currency
    items: Lines
    channel: NewChannel = DEFAULT_CHANNEL
    """Where the order was placed; recorded in OrderPlaced (schema version 2)."""


class ModifyOrder(CommandBase):
    type: Literal["ModifyOrder"] = "ModifyOrder"
    changes: Changes


class PayOrder(CommandBase):
    type: Literal["PayOrder"] = "PayOrder"
    amount_cents: AmountCents
    payment_ref: ShortText


class ShipOrder(CommandBase):
    type: Literal["ShipOrder"] = "ShipOrder"
    carrier: ShortText
    tracking_number: ShortText


class CancelOrder(CommandBase):
    type: Literal["CancelOrder"] = "CancelOrder"
    reason: ShortText


Command = Annotated[
    PlaceOrder | ModifyOrder | PayOrder | ShipOrder | CancelOrder,
    Field(discriminator="type"),
]
