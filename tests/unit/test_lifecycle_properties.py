"""Property: any sequence of commands keeps the order's invariants."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ordersource.domain import DomainError, OrderState, OrderStatus, decide, evolve
from tests.support.commands import T0, cancel, modify, new_id, pay, place, ship

pytestmark = pytest.mark.unit

LEGAL = {
    (None, OrderStatus.PLACED),
    (OrderStatus.PLACED, OrderStatus.PLACED),
    (OrderStatus.PLACED, OrderStatus.PAID),
    (OrderStatus.PLACED, OrderStatus.CANCELLED),
    (OrderStatus.PAID, OrderStatus.SHIPPED),
    (OrderStatus.PAID, OrderStatus.CANCELLED),
}
skus = st.sampled_from(["a", "b", "c", "d"])
change = st.fixed_dictionaries(
    {"sku": skus, "quantity": st.integers(0, 1000)},
    optional={"unit_price_cents": st.integers(0, 10_000)},
)
command = st.one_of(
    st.builds(lambda q, p: place(qty=q, price=p), st.integers(1, 1000), st.integers(0, 10_000)),
    st.lists(change, min_size=1, max_size=4, unique_by=lambda c: c["sku"]).map(
        lambda cs: ("modify", cs)
    ),
    st.integers(0, 10_000_000).map(lambda a: ("pay", a)),
    st.just(("pay-total", 0)),
    st.just(("ship", 0)),
    st.just(("cancel", 0)),
)


def build(spec: Any, state: OrderState | None) -> Any:
    if not isinstance(spec, tuple):
        return spec
    kind, arg = spec
    if kind == "modify":
        return modify(*arg)
    if kind == "pay":
        return pay(arg)
    if kind == "pay-total":
        return pay(state.total_cents if state else 0)
    return ship() if kind == "ship" else cancel()


@settings(max_examples=300, deadline=None)
@given(st.lists(command, min_size=1, max_size=25))
def test_random_command_sequences_keep_invariants(specs: list[Any]) -> None:
    state: OrderState | None = None
    events = 0
    for spec in specs:
        before = state.status if state else None
        try:
            new = decide(build(spec, state), state, now=T0, new_id=new_id)
        except DomainError:
            continue
        for event in new:
            assert event.version == events + 1
            state = evolve(state, event)
            events += 1
        assert state is not None
        assert (before, state.status) in LEGAL
        assert state.version == events
        assert state.total_cents == sum(i.quantity * i.unit_price_cents for i in state.items)
        assert 1 <= len(state.items) <= 100
        assert all(1 <= i.quantity <= 1000 for i in state.items)
