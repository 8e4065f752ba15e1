"""The state of one order: what the fold of its events says it is."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ordersource.domain.types import Line, OrderStatus, total_cents


@dataclass(frozen=True, slots=True)
class OrderState:
    order_id: str
    customer_id: str
    currency: str
    channel: str
    """Where the order was placed (``unknown`` for orders from before OrderPlaced v2)."""
    status: OrderStatus
    items: tuple[Line, ...]
    version: int
    created_at: datetime
    updated_at: datetime

    @property
    def total_cents(self) -> int:
        return total_cents(self.items)
