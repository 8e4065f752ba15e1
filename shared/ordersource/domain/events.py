"""Events: the facts in the log. Each is a complete envelope (ARCHITECTURE §3 "Topics")."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AwareDatetime, Field

from ordersource.domain.types import (
    Cents,
    Currency,
    Frozen,
    Identifier,
    Line,
    LineChange,
    ShortText,
)

SCHEMA_VERSION = 1
"""The schema version this code writes; older ones are upcast by the codec on read."""


class OrderPlacedData(Frozen):
    customer_id: Identifier
    currency: Currency
    items: tuple[Line, ...]


class OrderModifiedData(Frozen):
    changes: tuple[LineChange, ...]


class OrderPaidData(Frozen):
    amount_cents: Cents
    payment_ref: ShortText


class OrderShippedData(Frozen):
    carrier: ShortText
    tracking_number: ShortText


class OrderCancelledData(Frozen):
    reason: ShortText


class EventBase(Frozen):
    event_id: str
    schema_version: Literal[1] = 1
    order_id: Identifier
    version: int = Field(ge=1)
    occurred_at: AwareDatetime
    command_id: str


class OrderPlaced(EventBase):
    type: Literal["OrderPlaced"] = "OrderPlaced"
    data: OrderPlacedData


class OrderModified(EventBase):
    type: Literal["OrderModified"] = "OrderModified"
    data: OrderModifiedData


class OrderPaid(EventBase):
    type: Literal["OrderPaid"] = "OrderPaid"
    data: OrderPaidData


class OrderShipped(EventBase):
    type: Literal["OrderShipped"] = "OrderShipped"
    data: OrderShippedData


class OrderCancelled(EventBase):
    type: Literal["OrderCancelled"] = "OrderCancelled"
    data: OrderCancelledData


Event = Annotated[
    OrderPlaced | OrderModified | OrderPaid | OrderShipped | OrderCancelled,
    Field(discriminator="type"),
]
EVENT_TYPES = frozenset(
    {"OrderPlaced", "OrderModified", "OrderPaid", "OrderShipped", "OrderCancelled"}
)
