"""Events: the facts in the log, each a complete envelope (docs/architecture.md).

Every event type has its own schema version: the ``schema_version`` literal of its class
is the version this code writes, and the only one the codec's fast path accepts. Older
versions are lifted by the codec's upcasters; how to add one: docs/schema-evolution.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Annotated, Literal

from pydantic import AwareDatetime, Field

from ordersource.domain.types import (
    AmountCents,
    Channel,
    Currency,
    Frozen,
    Identifier,
    Line,
    LineChange,
    ShortText,
)


class OrderPlacedData(Frozen):
    customer_id: Identifier
    currency: Currency
    items: tuple[Line, ...]
    channel: Channel
    """Since schema version 2; v1 events are upcast with ``unknown`` (not recorded)."""


class OrderModifiedData(Frozen):
    changes: tuple[LineChange, ...]


class OrderPaidData(Frozen):
    amount_cents: AmountCents
    payment_ref: ShortText


class OrderShippedData(Frozen):
    carrier: ShortText
    tracking_number: ShortText


class OrderCancelledData(Frozen):
    reason: ShortText


class EventBase(Frozen):
    event_id: str
    schema_version: int  # each event class pins its own: Literal[N] = N
    order_id: Identifier
    version: int = Field(ge=1)
    occurred_at: AwareDatetime
    command_id: str


class OrderPlaced(EventBase):
    type: Literal["OrderPlaced"] = "OrderPlaced"
    schema_version: Literal[2] = 2  # v2: data.channel
    data: OrderPlacedData


class OrderModified(EventBase):
    type: Literal["OrderModified"] = "OrderModified"
    schema_version: Literal[1] = 1
    data: OrderModifiedData


class OrderPaid(EventBase):
    type: Literal["OrderPaid"] = "OrderPaid"
    schema_version: Literal[1] = 1
    data: OrderPaidData


class OrderShipped(EventBase):
    type: Literal["OrderShipped"] = "OrderShipped"
    schema_version: Literal[1] = 1
    data: OrderShippedData


class OrderCancelled(EventBase):
    type: Literal["OrderCancelled"] = "OrderCancelled"
    schema_version: Literal[1] = 1
    data: OrderCancelledData


Event = Annotated[
    OrderPlaced | OrderModified | OrderPaid | OrderShipped | OrderCancelled,
    Field(discriminator="type"),
]
EVENT_CLASSES = (OrderPlaced, OrderModified, OrderPaid, OrderShipped, OrderCancelled)
SCHEMA_VERSIONS: Mapping[str, int] = MappingProxyType(
    {
        cls.model_fields["type"].default: cls.model_fields["schema_version"].default
        for cls in EVENT_CLASSES
    }
)
"""Event type -> the schema version this code writes (and reads without upcasting)."""
EVENT_TYPES = frozenset(SCHEMA_VERSIONS)
