"""The read model: how an order looks to the query API. Built from state by the shared fold."""

from __future__ import annotations

from typing import Any

from ordersource.domain.state import OrderState


def to_view(state: OrderState) -> dict[str, Any]:
    """The JSON-ready view of one order (ARCHITECTURE §3 "Query API")."""
    return {
        "order_id": state.order_id,
        "customer_id": state.customer_id,
        "status": state.status.value,
        "items": [
            {
                "sku": line.sku,
                "quantity": line.quantity,
                "unit_price_cents": line.unit_price_cents,
                "line_total_cents": line.line_total_cents,
            }
            for line in state.items
        ],
        "total_cents": state.total_cents,
        "currency": state.currency,
        "version": state.version,
        "created_at": rfc3339(state.created_at),
        "updated_at": rfc3339(state.updated_at),
    }


def rfc3339(moment: Any) -> str:
    """UTC timestamp as RFC 3339 with microseconds and a ``Z``."""
    text: str = moment.isoformat(timespec="microseconds")
    return text.replace("+00:00", "Z")
