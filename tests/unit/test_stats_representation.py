"""The stats representation (issue 12): per-currency totals exact at any size (two limbs
in Redis, carried by the commit script), one representation shared by the projector,
the query API and ``orders verify``."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from ordersource import codec
from ordersource.codec import encode_event
from ordersource.domain import Event, OrderCancelled, OrderModified, OrderPlaced, evolve, fold
from ordersource.domain.events import OrderCancelledData, OrderModifiedData, OrderPlacedData
from ordersource.domain.types import MAX_LINES, MAX_UNIT_PRICE_CENTS, Line, LineChange
from ordersource.keys import ViewKeys
from ordersource.views import (
    TOTAL_LIMB,
    stats_document,
    stats_fields,
    stats_of,
    to_view,
    total_limbs,
)
from projector.core.batch import decode
from projector.core.plan import BatchPlan, Incoming, Snapshot, plan_batch
from projector.core.writes import plan_ops
from tests.support.events import T0, placed

pytestmark = pytest.mark.unit

JS_SAFE = 2**53 - 1


def _apply_ops(hash_: dict[str, int], ops: list[list[str]]) -> None:
    """What the commit script does with the stats ops (checked against real Redis in
    tests/component/test_stats_limbs.py); asserts every number it handles is exact."""
    for op in ops:
        if op[0] == "HINCRBY":
            hash_[op[2]] = hash_.get(op[2], 0) + int(op[3])
            assert abs(hash_[op[2]]) < 2**63
        elif op[0] == "HADDC":
            low = hash_.get(op[2], 0) + int(op[4])
            assert 0 <= low < 2 * TOTAL_LIMB <= JS_SAFE  # exact in a Lua double
            if low >= int(op[5]):
                low -= int(op[5])
                hash_[op[3]] = hash_.get(op[3], 0) + 1
            hash_[op[2]] = low


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(-(2**80), 2**80), min_size=1, max_size=30))
def test_totals_are_exact_past_two_to_the_63(deltas: list[int]) -> None:
    keys = ViewKeys("1")
    stored: dict[str, int] = {"currency:EUR:orders": 1}
    running = 0
    for delta in deltas:
        if running + delta < 0:
            delta = -running  # a total never goes below 0
        running += delta
        plan = BatchPlan(expected={})
        plan.stats["currency:EUR:total_cents"] = delta
        _apply_ops(stored, [o for o in plan_ops(keys, plan, 0.0) if o[1] == keys.stats])
        assert 0 <= stored.get("currency:EUR:total_cents:lo", 0) < TOTAL_LIMB
        assert stats_fields(stored).get("currency:EUR:total_cents", 0) == running
    body = stats_document(stored)
    assert body["by_currency"]["EUR"]["total_cents"] == str(running)
    assert json.loads(codec.dumps(body))["by_currency"]["EUR"]["total_cents"] == str(running)


def test_limbs_and_legacy_fields_read_as_one_exact_total() -> None:
    assert total_limbs("currency:EUR:total_cents", 2**64 + 5) == (
        ("currency:EUR:total_cents:hi", (2**64 + 5) // TOTAL_LIMB),
        ("currency:EUR:total_cents:lo", (2**64 + 5) % TOTAL_LIMB),
    )
    assert total_limbs("currency:EUR:orders", 3) is None
    raw = {
        b"orders": b"3",
        b"currency:EUR:orders": b"3",
        b"currency:EUR:total_cents": b"7",  # written before limbs, still counted
        b"currency:EUR:total_cents:hi": b"18447",
        b"currency:EUR:total_cents:lo": b"1",
        b"currency:USD:orders": b"1",
        b"currency:USD:total_cents:lo": b"0",
        b"status:placed": b"0",
    }
    assert stats_fields(raw) == {
        "orders": 3,
        "currency:EUR:orders": 3,
        "currency:EUR:total_cents": 18447 * 10**15 + 8,
        "currency:USD:orders": 1,
    }
    assert stats_fields(stats_fields(raw)) == stats_fields(raw)
    doc = stats_document(raw)
    assert doc["by_currency"]["USD"] == {"orders": 1, "total_cents": "0"}
    assert doc["by_currency"]["EUR"]["total_cents"] == "18447000000000000008"


def test_a_currency_whose_orders_total_zero_has_one_representation() -> None:
    views = [to_view(evolve(None, placed("z", price=0, currency="JPY")))]
    # The fold's stats and what the projector leaves in Redis (no field for a zero
    # total) are the same dict; before, the fold said ``total_cents: 0``.
    assert stats_of(views) == stats_fields(
        {"orders": 1, "status:placed": 1, "currency:JPY:orders": 1}
    )
    assert stats_document(stats_of(views))["by_currency"]["JPY"]["total_cents"] == "0"


def _extreme_log(sizes: list[tuple[int, int, int, str]]) -> list[Event]:
    """Per order: lines, quantity, unit price and what happens next (a modification down
    or up, a cancellation, nothing). Events are facts, so an order may be as large as
    events allow (100 x 1000 x 10^12 = 10^17, from before the order total bound)."""
    log: list[Event] = []
    for i, (lines, quantity, price, then) in enumerate(sizes):
        items = tuple(
            Line(sku=f"s{j}", quantity=quantity, unit_price_cents=price) for j in range(lines)
        )
        data = OrderPlacedData(customer_id="c", currency="EUR", items=items, channel="web")
        log.append(OrderPlaced(**_meta(f"o{i}", 1), data=data))
        if then in ("down", "up"):
            change = LineChange(sku="s0", quantity=1 if then == "down" else 1000)
            modified_ = OrderModifiedData(changes=(change,))
            log.append(OrderModified(**_meta(f"o{i}", 2), data=modified_))
        elif then == "cancel":
            log.append(OrderCancelled(**_meta(f"o{i}", 2), data=OrderCancelledData(reason="x")))
    return log


def _meta(order_id: str, version: int) -> dict[str, Any]:
    return {
        "event_id": f"{order_id}-{version}",
        "order_id": order_id,
        "version": version,
        "occurred_at": T0,
        "command_id": f"{order_id}-c{version}",
    }


order_sizes = st.tuples(
    st.sampled_from([1, 50, MAX_LINES]),
    st.sampled_from([1, 999, 1000]),
    st.sampled_from([0, 1, 10**10, MAX_UNIT_PRICE_CENTS - 1, MAX_UNIT_PRICE_CENTS]),
    st.sampled_from(["down", "up", "cancel", "none"]),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(order_sizes, min_size=1, max_size=120), st.integers(1, 50))
@example([(MAX_LINES, 1000, MAX_UNIT_PRICE_CENTS, "none")] * 95, 7)  # 95 x 10^17 > 2^63
@example([(MAX_LINES, 1000, MAX_UNIT_PRICE_CENTS, "down")] * 120, 50)
def test_projected_totals_of_extreme_orders_are_the_exact_fold(
    sizes: list[tuple[int, int, int, str]], batch: int
) -> None:
    """The planner in batches, its ops applied as the script applies them, read back as
    ``orders verify`` and ``GET /stats`` read them: the exact sum, even past 2^63."""
    log = _extreme_log(sizes)
    incoming = [
        decode(Incoming(0, offset, None, encode_event(event))) for offset, event in enumerate(log)
    ]
    keys, stored = ViewKeys("1"), dict[str, int]()
    views: dict[str, dict[str, Any] | None] = {}
    for start in range(0, len(incoming), batch):
        part = incoming[start : start + batch]
        snap = Snapshot(
            checkpoints={},
            views={r.event.order_id: views.get(r.event.order_id) for r in part if r.event},
        )
        plan = plan_batch(part, snap)
        _apply_ops(stored, [o for o in plan_ops(keys, plan, 0.0) if o[1] == keys.stats])
        views.update({oid: w.new for oid, w in plan.orders.items()})
    by_order: dict[str, list[Event]] = {}
    for event in log:
        by_order.setdefault(event.order_id, []).append(event)
    folded = [to_view(s) for s in map(fold, by_order.values()) if s is not None]
    want = stats_of(folded)
    assert stats_fields(stored) == want
    exact = sum(v["total_cents"] for v in folded)
    assert want.get("currency:EUR:total_cents", 0) == exact
    assert stats_document(stored)["by_currency"]["EUR"]["total_cents"] == str(exact)
