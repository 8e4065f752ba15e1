"""Value types shared by commands, events and state: identifiers, money, order lines."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints, WithJsonSchema
from pydantic.dataclasses import dataclass

from ordersource.domain.currencies import ISO_4217

Identifier = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9._:-]+$")
]
"""customer_id, sku and client-chosen order_id: 1 to 64 characters of ``[A-Za-z0-9._:-]``."""


def _known_currency(code: str) -> str:
    if code not in ISO_4217:
        raise ValueError(f"{code!r} is not an ISO 4217 currency code")
    return code


Currency = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Z]{3}$"),
    AfterValidator(_known_currency),
    WithJsonSchema({"type": "string", "enum": sorted(ISO_4217), "description": "ISO 4217 code"}),
]
"""ISO 4217 alphabetic code, e.g. ``EUR``."""

MAX_UNIT_PRICE_CENTS = 10**12
"""The highest unit price: 10^10 currency units. A line is at most 1000 of them (10^15)."""
MAX_ORDER_TOTAL_CENTS = 10**15
"""The highest order total, and so the highest payment: 10^13 currency units. Below
2^53 - 1, so every amount a client can create is exact as a JSON number in JavaScript
(and in a double anywhere); ``decide`` refuses a place or modify that goes above it."""

Cents = Annotated[int, Field(ge=0, le=MAX_UNIT_PRICE_CENTS, strict=True)]
"""A unit price in integer minor units; floats are refused, not rounded."""

AmountCents = Annotated[int, Field(ge=0, le=MAX_ORDER_TOTAL_CENTS, strict=True)]
"""An amount up to an order total (a payment), in integer minor units."""

Quantity = Annotated[int, Field(ge=1, le=1000, strict=True)]
ChangeQuantity = Annotated[int, Field(ge=0, le=1000, strict=True)]
"""A modification's quantity: 0 removes the line."""

ShortText = Annotated[str, StringConstraints(min_length=1, max_length=200)]

UNKNOWN_CHANNEL = "unknown"
"""The channel of an order placed before channels were recorded (OrderPlaced v1)."""
DEFAULT_CHANNEL = "api"
"""The channel of a new order whose client did not name one: it came in over the API."""
Channel = Annotated[
    str,
    StringConstraints(min_length=1, max_length=32, pattern=r"^[a-z0-9_-]+$"),
]
"""Where an order was placed: 1 to 32 characters of ``[a-z0-9_-]``, e.g. ``web``, ``app``,
``store``, ``phone``, ``api``. An open set on purpose: a new channel is a new value, not a
new schema version (see docs/schema-evolution.md). Decoded from JSON, equal short strings
are one object (pydantic-core's string cache), so a channel per order costs a pointer."""


def _not_reserved(channel: str) -> str:
    if channel == UNKNOWN_CHANNEL:
        raise ValueError(f"{UNKNOWN_CHANNEL!r} is reserved for orders placed before channels")
    return channel


NewChannel = Annotated[Channel, AfterValidator(_not_reserved)]
"""A channel a client may name for a new order: any ``Channel`` but ``unknown``."""

MAX_LINES = 100
MAX_EVENTS_PER_ORDER = 10_000
"""An order's history is bounded, so every past state can be folded in one request.
Modifications stop two events short of it: pay and ship (or cancel) always fit."""


def total_cents(items: Iterable[Line]) -> int:
    """The sum of the lines' totals (exact: Python integers)."""
    return sum(line.line_total_cents for line in items)


class Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class OrderStatus(StrEnum):
    PLACED = "placed"
    PAID = "paid"
    SHIPPED = "shipped"
    CANCELLED = "cancelled"


@dataclass(frozen=True, slots=True, config=ConfigDict(extra="forbid"))
class Line:
    """One order line: a product, how many, and the price of one."""

    # A slotted dataclass, not a model: the decider holds one per line of every open
    # order, so its size matters (about a quarter of a model instance).

    sku: Identifier
    quantity: Quantity
    unit_price_cents: Cents

    @property
    def line_total_cents(self) -> int:
        return self.quantity * self.unit_price_cents


class LineChange(Frozen):
    sku: Identifier
    quantity: ChangeQuantity
    unit_price_cents: Cents | None = None
