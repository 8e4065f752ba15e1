"""Money bounds (issue 12): every amount a client can create is exact in a JavaScript
number, and every order total can be paid."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import event as tally
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from command_service import answers
from ordersource import codec
from ordersource.domain import (
    DomainError,
    InvalidCommand,
    OrderState,
    OrderStatus,
    PayOrder,
    PlaceOrder,
    RuleViolated,
    decide,
    evolve,
)
from ordersource.domain.evolve import apply_changes
from ordersource.domain.types import (
    MAX_LINES,
    MAX_ORDER_TOTAL_CENTS,
    MAX_UNIT_PRICE_CENTS,
    Line,
    LineChange,
    total_cents,
)
from ordersource.views import to_view
from tests.support.commands import T0, cancel, modify, new_id, pay

pytestmark = pytest.mark.unit

JS_SAFE = 2**53 - 1
MAX_QUANTITY = 1000


def test_the_bounds_fit_a_javascript_number_and_every_total_can_be_paid() -> None:
    assert MAX_QUANTITY * MAX_UNIT_PRICE_CENTS <= MAX_ORDER_TOTAL_CENTS <= JS_SAFE
    assert float(MAX_ORDER_TOTAL_CENTS) == MAX_ORDER_TOTAL_CENTS
    PayOrder(command_id="c", order_id="o", amount_cents=MAX_ORDER_TOTAL_CENTS, payment_ref="p")
    with pytest.raises(ValidationError):
        PayOrder(
            command_id="c", order_id="o", amount_cents=MAX_ORDER_TOTAL_CENTS + 1, payment_ref="p"
        )


# Prices around the ones that matter: 10^10 x 1000 x 100 lines is exactly the bound.
prices = st.one_of(
    st.sampled_from([0, 1, 10**10, 10**10 + 1, MAX_UNIT_PRICE_CENTS]),
    st.integers(0, MAX_UNIT_PRICE_CENTS),
)
quantities = st.one_of(st.sampled_from([1, 999, MAX_QUANTITY]), st.integers(1, MAX_QUANTITY))
line = st.fixed_dictionaries({"quantity": quantities, "unit_price_cents": prices})
place_lines = st.one_of(
    st.lists(line, min_size=1, max_size=MAX_LINES),
    st.builds(  # many lines at the top quantity: the total at or near the bound
        lambda n, price: [{"quantity": MAX_QUANTITY, "unit_price_cents": price}] * n,
        st.integers(1, MAX_LINES),
        st.sampled_from([10**10, 10**10 - 1, 10**12, 10**9]),
    ),
)
# Mostly skus of the order (s0, s1, ...), some new ones (s100...).
skus = st.one_of(
    st.sampled_from([f"s{i}" for i in range(8)]),
    st.sampled_from([f"s{i}" for i in range(MAX_LINES, MAX_LINES + 5)]),
)
change = st.one_of(
    st.fixed_dictionaries({"sku": skus, "quantity": quantities, "unit_price_cents": prices}),
    st.fixed_dictionaries({"sku": skus, "quantity": st.one_of(st.just(0), quantities)}),
)
modification = st.lists(change, min_size=1, max_size=6, unique_by=lambda c: c["sku"]).map(
    lambda cs: ("modify", cs)
)
step = st.sampled_from(["modify"] * 4 + ["pay", "cancel"]).flatmap(
    lambda kind: modification if kind == "modify" else st.just((kind, None))
)


def _items(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"sku": f"s{i}", **spec} for i, spec in enumerate(lines)]


def _place(lines: list[dict[str, Any]]) -> PlaceOrder:
    return PlaceOrder(
        command_id=new_id(), order_id="o1", customer_id="bob", currency="EUR", items=_items(lines)
    )


def _exact_in_javascript(encoded: bytes) -> bool:
    """Every integer in the JSON reads back the same as a double (what JS does)."""
    return bool(json.loads(encoded) == json.loads(encoded, parse_int=float))


def _modify_refusal(state: OrderState, changes: list[dict[str, Any]]) -> str | None:
    """Why ``decide`` must refuse this modification of a placed order, if it must."""
    known = {line.sku for line in state.items}
    for c in changes:
        if c["sku"] not in known and (c["quantity"] == 0 or "unit_price_cents" not in c):
            return "invalid"
    after = apply_changes(state.items, tuple(LineChange(**c) for c in changes))
    if not after or len(after) > MAX_LINES:
        return "lines"
    return "total" if total_cents(after) > MAX_ORDER_TOTAL_CENTS else None


@settings(max_examples=400, deadline=None)
@given(place_lines, st.lists(step, max_size=8))
def test_extreme_orders_stay_within_the_bounds(
    lines: list[dict[str, Any]], steps: list[Any]
) -> None:
    wanted = sum(spec["quantity"] * spec["unit_price_cents"] for spec in lines)
    if wanted > MAX_ORDER_TOTAL_CENTS:
        tally("place: total")
        with pytest.raises(ValidationError, match="order total"):
            _place(lines)  # the API's request model and the command refuse it: 422
        items = tuple(Line(sku=f"s{i}", **spec) for i, spec in enumerate(lines))
        unchecked = PlaceOrder.model_construct(
            command_id="c", order_id="o1", customer_id="bob", currency="EUR", items=items
        )
        with pytest.raises(InvalidCommand, match="above") as refused:  # and decide, too
            decide(unchecked, None, now=T0, new_id=new_id)
        assert answers.refusal(refused.value)[0] == 422
        return
    [placed] = decide(_place(lines), None, now=T0, new_id=new_id)
    state = evolve(None, placed)
    assert state.total_cents == wanted
    events = [placed]
    for kind, arg in steps:
        if kind == "modify":
            command: Any = modify(*arg)
            placed_now = state.status is OrderStatus.PLACED
            must_refuse = _modify_refusal(state, arg) if placed_now else "status"
        elif kind == "pay":
            command = pay(state.total_cents)  # every total can be paid
            must_refuse = None if state.status is OrderStatus.PLACED else "status"
        else:
            command = cancel()
            open_ = state.status in (OrderStatus.PLACED, OrderStatus.PAID)
            must_refuse = None if open_ else "status"
        tally(f"{kind}: {must_refuse or 'accepted'}")
        if must_refuse is not None:
            with pytest.raises(RuleViolated if must_refuse == "total" else DomainError) as no:
                decide(command, state, now=T0, new_id=new_id)
            if must_refuse == "total":
                assert answers.refusal(no.value)[0] == 409
                assert "above" in no.value.detail
            continue
        new = decide(command, state, now=T0, new_id=new_id)
        for event in new:
            state = evolve(state, event)
            events.append(event)
    assert state.total_cents <= MAX_ORDER_TOTAL_CENTS
    assert all(line.line_total_cents <= MAX_ORDER_TOTAL_CENTS for line in state.items)
    for event in events:
        assert _exact_in_javascript(codec.encode_event(event))
    assert _exact_in_javascript(codec.dumps(to_view(state)))


def test_at_the_bound_an_order_is_placed_and_paid_and_cannot_grow() -> None:
    full = [{"quantity": MAX_QUANTITY, "unit_price_cents": MAX_UNIT_PRICE_CENTS}]
    [event] = decide(_place(full), None, now=T0, new_id=new_id)
    state = evolve(None, event)
    assert state.total_cents == MAX_ORDER_TOTAL_CENTS
    grow = modify({"sku": "extra", "quantity": 1, "unit_price_cents": 1})
    with pytest.raises(RuleViolated, match="above the 1000000000000000 allowed") as refused:
        decide(grow, state, now=T0, new_id=new_id)
    assert answers.refusal(refused.value)[0] == 409
    assert refused.value.extra["total_cents"] == MAX_ORDER_TOTAL_CENTS + 1
    shrink = modify({"sku": "s0", "quantity": 999})
    [smaller] = decide(shrink, state, now=T0, new_id=new_id)
    assert evolve(state, smaller).total_cents == MAX_ORDER_TOTAL_CENTS - MAX_UNIT_PRICE_CENTS
    [paid] = decide(pay(MAX_ORDER_TOTAL_CENTS), state, now=T0, new_id=new_id)
    assert evolve(state, paid).status is OrderStatus.PAID
