"""The read model: how an order looks to the query API. Built from state by the shared fold."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
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


TOTAL_LIMB = 10**15
"""A per-currency total lives in Redis as two counters, ``<name>:hi`` and ``<name>:lo``:
total = hi * TOTAL_LIMB + lo with 0 <= lo < TOTAL_LIMB. The commit script adds a batch's
``delta mod TOTAL_LIMB`` to ``lo`` and carries whole limbs into ``hi`` (every number it
handles stays below 2 * 10^15 < 2^53, so Lua's doubles are exact), ``hi`` gets
``delta div TOTAL_LIMB``. An order total is at most 10^15 cents, so ``hi`` grows by at
most one per order: it cannot overflow before the order counter does."""

StatsHash = Mapping[str, int] | Mapping[bytes, bytes]
"""The ``stats`` hash as a store returns it (decoded, or raw bytes from Redis)."""
_TOTAL = ":total_cents"
_LIMBS = (":hi", ":lo")


def stats_contribution(view: dict[str, Any]) -> dict[str, int]:
    """What one order adds to the stats; the stats are the sum over all views.

    Counts per status, and per currency the number of orders and the sum of their current
    totals (every status counts: cancelled orders show up under ``by_status``). These are
    the logical fields (exact Python integers); ``total_limbs`` says how Redis holds a
    total, ``stats_fields`` reads them back.
    """
    currency = view["currency"]
    return {
        "orders": 1,
        f"status:{view['status']}": 1,
        f"currency:{currency}:orders": 1,
        f"currency:{currency}{_TOTAL}": view["total_cents"],
    }


def stats_of(views: Iterable[dict[str, Any]]) -> dict[str, int]:
    """The stats of a set of views, in the one representation ``stats_fields`` returns."""
    total: Counter[str] = Counter()
    for view in views:
        total.update(stats_contribution(view))
    return {name: value for name, value in total.items() if value}


def total_limbs(name: str, delta: int) -> tuple[tuple[str, int], tuple[str, int]] | None:
    """For a total field: ``((hi_field, delta div TOTAL_LIMB), (lo_field, delta mod
    TOTAL_LIMB))`` (so 0 <= the lo part < TOTAL_LIMB); None for a plain counter."""
    if not name.endswith(_TOTAL):
        return None
    high, low = divmod(delta, TOTAL_LIMB)
    return (name + _LIMBS[0], high), (name + _LIMBS[1], low)


def stats_fields(stored: StatsHash) -> dict[str, int]:
    """The logical stats (exact integers, zero fields left out) from the ``stats`` hash.

    Combines a total's limbs; a plain ``<currency>:total_cents`` counter (the format
    before limbs, or the in-memory stores) is added in, so a generation written by an
    older projector still reads right. Idempotent: logical fields map to themselves.
    """
    fields: Counter[str] = Counter()
    for raw, value in stored.items():
        name = raw.decode() if isinstance(raw, bytes) else raw
        amount = int(value)
        if name.endswith(_TOTAL + _LIMBS[0]):
            fields[name.removesuffix(_LIMBS[0])] += amount * TOTAL_LIMB
        elif name.endswith(_TOTAL + _LIMBS[1]):
            fields[name.removesuffix(_LIMBS[1])] += amount
        else:
            fields[name] += amount
    return {name: value for name, value in fields.items() if value}


def stats_document(stored: StatsHash) -> dict[str, Any]:
    """The ``GET /stats`` body from the ``stats`` hash fields.

    A currency's ``total_cents`` is a string of decimal digits: the sum has no upper
    bound, and a JSON number above 2^53 would be misread by a JavaScript client.
    """
    fields = stats_fields(stored)
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
        "by_currency": {
            c: {"orders": v["orders"], "total_cents": str(v["total_cents"])}
            for c, v in sorted(by_currency.items())
            if v["orders"]
        },
    }
