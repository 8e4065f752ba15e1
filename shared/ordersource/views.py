"""The read model: how an order looks to the query API. Built from state by the shared fold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from ordersource.domain.state import OrderState
from ordersource.domain.types import UNKNOWN_CHANNEL, Line, OrderStatus


def to_view(state: OrderState) -> dict[str, Any]:
    """The JSON-ready view of one order."""
    return {
        "order_id": state.order_id,
        "customer_id": state.customer_id,
        "channel": state.channel,
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


def from_view(view: dict[str, Any]) -> OrderState:
    """The state a stored view stands for: the inverse of ``to_view``.

    Lets a reader continue the one fold from a stored view instead of re-reading the log.
    Trusts its input (views are written only by the projector), so no re-validation.
    """
    return OrderState(
        order_id=view["order_id"],
        customer_id=view["customer_id"],
        currency=view["currency"],
        # Views written before OrderPlaced v2 have no channel; a rebuild adds it.
        channel=view.get("channel", UNKNOWN_CHANNEL),
        status=OrderStatus(view["status"]),
        items=tuple(
            Line(
                sku=item["sku"],
                quantity=item["quantity"],
                unit_price_cents=item["unit_price_cents"],
            )
            for item in view["items"]
        ),
        version=view["version"],
        created_at=datetime.fromisoformat(view["created_at"]),
        updated_at=datetime.fromisoformat(view["updated_at"]),
    )


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def index_score(created_at: datetime) -> int:
    """Score of an order in the list indexes: creation time in whole microseconds.

    Exact in a Redis score (a double holds integers up to 2**53, ~285 years of µs), and
    derived from the log alone, so every rebuild gives every order the same score.
    """
    return (created_at - _EPOCH) // timedelta(microseconds=1)


def stats_contribution(view: dict[str, Any]) -> dict[str, int]:
    """What one order adds to the ``stats`` hash; the hash is the sum over all views.

    Counts per status, and per currency the number of orders and the sum of their current
    totals (every status counts: cancelled orders show up under ``by_status``).
    """
    currency = view["currency"]
    return {
        "orders": 1,
        f"status:{view['status']}": 1,
        f"currency:{currency}:orders": 1,
        f"currency:{currency}:total_cents": view["total_cents"],
    }


def stats_document(fields: dict[str, int]) -> dict[str, Any]:
    """The ``GET /stats`` body from the ``stats`` hash fields."""
    by_status = {status.value: 0 for status in OrderStatus}
    by_currency: dict[str, dict[str, int]] = {}
    for name, value in fields.items():
        kind, _, rest = name.partition(":")
        if kind == "status":
            by_status[rest] = value
        elif kind == "currency":
            currency, _, what = rest.partition(":")
            by_currency.setdefault(currency, {"orders": 0, "total_cents": 0})[what] = value
    return {
        "orders": fields.get("orders", 0),
        "by_status": by_status,
        "by_currency": {c: v for c, v in sorted(by_currency.items()) if v["orders"]},
    }
