"""Given events, when a command, then events or a refusal — every rule of the lifecycle."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from ordersource import codec
from ordersource.domain import (
    InvalidCommand,
    OrderAlreadyExists,
    OrderCancelled,
    OrderModified,
    OrderNotFound,
    OrderPaid,
    OrderPlaced,
    OrderShipped,
    OrderStatus,
    RuleViolated,
    VersionMismatch,
    evolve,
)
from tests.support.commands import cancel, given, modify, pay, place, ship, when
from tests.support.events import V1_PLACED

pytestmark = pytest.mark.unit


def test_place_gives_order_placed_at_version_1() -> None:
    [event] = when(None, place(qty=5, price=120))
    assert isinstance(event, OrderPlaced)
    assert event.version == 1
    state = evolve(None, event)
    assert state.status is OrderStatus.PLACED
    assert state.total_cents == 600


def test_place_records_the_channel_in_order_placed_v2() -> None:
    [event] = when(None, place(channel="store"))
    assert isinstance(event, OrderPlaced)
    assert (event.schema_version, event.data.channel) == (2, "store")
    assert evolve(None, event).channel == "store"


def test_place_without_a_channel_was_placed_over_the_api() -> None:
    command = place()
    assert command.channel == "api"
    [event] = when(None, command)
    assert isinstance(event, OrderPlaced)
    assert event.data.channel == "api"
    assert evolve(None, event).channel == "api"


@pytest.mark.parametrize("channel", ["", "Web", "web shop", "a" * 33, "ü", "unknown", 7])
def test_channel_is_short_lowercase_and_not_the_reserved_unknown(channel: object) -> None:
    with pytest.raises(ValidationError):
        place(channel=channel)


def test_commands_on_an_order_placed_before_channels_decide_against_the_upcast_state() -> None:
    old = codec.decode_event(V1_PLACED)  # OrderPlaced v1 as logged, upcast by the codec
    state = evolve(None, old)
    assert (state.channel, state.version, state.total_cents) == ("unknown", 1, 240)
    [modified] = when(state, modify({"sku": "apple", "quantity": 3}, order_id="old-1"))
    assert isinstance(modified, OrderModified)
    assert modified.version == 2
    state = evolve(state, modified)
    [event] = when(state, pay(360, order_id="old-1"))
    assert isinstance(event, OrderPaid)
    assert (event.version, evolve(state, event).channel) == (3, "unknown")


def test_place_twice_is_refused() -> None:
    _, state = given(place())
    with pytest.raises(OrderAlreadyExists):
        when(state, place())


def test_commands_on_unknown_order_are_not_found() -> None:
    for command in (modify({"sku": "apple", "quantity": 1}), pay(1), ship(), cancel()):
        with pytest.raises(OrderNotFound):
            when(None, command)


def test_modify_changes_quantity_and_total() -> None:
    _, state = given(place(qty=5, price=120))
    [event] = when(state, modify({"sku": "apple", "quantity": 6}))
    assert isinstance(event, OrderModified)
    after = evolve(state, event)
    assert after.version == 2
    assert after.items[0].quantity == 6
    assert after.total_cents == 720


def test_modify_adds_and_removes_lines() -> None:
    _, after = given(
        place(),
        modify({"sku": "pear", "quantity": 2, "unit_price_cents": 50}),
        modify({"sku": "apple", "quantity": 0}),
    )
    assert after is not None
    assert [line.sku for line in after.items] == ["pear"]
    assert after.total_cents == 100


def test_modify_cannot_empty_the_order() -> None:
    _, state = given(place())
    with pytest.raises(RuleViolated, match="at least one line"):
        when(state, modify({"sku": "apple", "quantity": 0}))


def test_new_sku_needs_a_price() -> None:
    _, state = given(place())
    with pytest.raises(InvalidCommand, match="unit_price_cents"):
        when(state, modify({"sku": "pear", "quantity": 1}))


def test_removing_an_absent_sku_is_invalid() -> None:
    _, state = given(place())
    with pytest.raises(InvalidCommand, match="not on the order"):
        when(state, modify({"sku": "pear", "quantity": 0}))


def test_at_most_100_lines_after_a_modification() -> None:
    items = [{"sku": f"s{i}", "quantity": 1, "unit_price_cents": 1} for i in range(100)]
    _, state = given(place(items=items))
    with pytest.raises(RuleViolated, match="at most 100"):
        when(state, modify({"sku": "extra", "quantity": 1, "unit_price_cents": 1}))


def test_pay_needs_the_exact_total() -> None:
    _, state = given(place(qty=5, price=120))
    with pytest.raises(RuleViolated, match="does not equal"):
        when(state, pay(599))
    [event] = when(state, pay(600))
    assert isinstance(event, OrderPaid)


def test_ship_only_when_paid() -> None:
    _, placed = given(place())
    with pytest.raises(RuleViolated, match="placed cannot be shipped"):
        when(placed, ship())
    _, paid = given(place(qty=1, price=10), pay(10))
    [event] = when(paid, ship())
    assert isinstance(event, OrderShipped)


def test_modify_and_pay_only_while_placed() -> None:
    _, paid = given(place(qty=1, price=10), pay(10))
    with pytest.raises(RuleViolated):
        when(paid, modify({"sku": "apple", "quantity": 2}))
    with pytest.raises(RuleViolated):
        when(paid, pay(10))


@pytest.mark.parametrize("paid_first", [False, True])
def test_cancel_from_placed_or_paid(paid_first: bool) -> None:
    commands = [place(qty=1, price=10)] + ([pay(10)] if paid_first else [])
    _, state = given(*commands)
    [event] = when(state, cancel())
    assert isinstance(event, OrderCancelled)
    assert evolve(state, event).status is OrderStatus.CANCELLED


def test_no_transition_out_of_shipped_or_cancelled() -> None:
    _, shipped = given(place(qty=1, price=10), pay(10), ship())
    _, cancelled = given(place(), cancel())
    for state in (shipped, cancelled):
        for command in (modify({"sku": "apple", "quantity": 2}), pay(10), ship(), cancel()):
            with pytest.raises(RuleViolated):
                when(state, command)


def test_expected_version_must_match() -> None:
    _, state = given(place())
    with pytest.raises(VersionMismatch) as refused:
        when(state, modify({"sku": "apple", "quantity": 2}, expected_version=7))
    assert refused.value.extra["version"] == 1
    [event] = when(state, modify({"sku": "apple", "quantity": 2}, expected_version=1))
    assert event.version == 2


def test_refusals_carry_status_and_version() -> None:
    _, state = given(place(), cancel())
    with pytest.raises(RuleViolated) as refused:
        when(state, pay(1))
    assert refused.value.extra == {"order_status": "cancelled", "version": 2}
    assert type(refused.value) is RuleViolated  # 409 at the API (answers.REFUSALS)


@pytest.mark.parametrize(
    "items",
    [
        [],
        [{"sku": "a", "quantity": 0, "unit_price_cents": 1}],
        [{"sku": "a", "quantity": 1001, "unit_price_cents": 1}],
        [{"sku": "a", "quantity": -1, "unit_price_cents": 1}],
        [{"sku": "a", "quantity": 1, "unit_price_cents": -5}],
        [{"sku": "a", "quantity": 1, "unit_price_cents": 1.5}],
        [{"sku": "a", "quantity": "1", "unit_price_cents": 1}],
        [{"sku": "", "quantity": 1, "unit_price_cents": 1}],
        [{"sku": "a/b", "quantity": 1, "unit_price_cents": 1}],
        [{"sku": "a", "quantity": 1, "unit_price_cents": 1}] * 2,
        [{"sku": f"s{i}", "quantity": 1, "unit_price_cents": 1} for i in range(101)],
    ],
)
def test_invalid_lines_are_refused_by_the_schema(items: list[dict[str, object]]) -> None:
    with pytest.raises(ValidationError):
        place(items=items)


@pytest.mark.parametrize("currency", ["eur", "EURO", "XYZ", "", "12"])
def test_currency_must_be_iso_4217(currency: str) -> None:
    with pytest.raises(ValidationError):
        place(currency=currency)


def test_modifications_stop_where_pay_and_ship_still_fit() -> None:
    from dataclasses import replace

    from ordersource.domain.types import MAX_EVENTS_PER_ORDER

    _, placed = given(place(qty=1, price=100))
    assert placed is not None
    last_modifiable = replace(placed, version=MAX_EVENTS_PER_ORDER - 3)
    [event] = when(last_modifiable, modify({"sku": "apple", "quantity": 2}))
    assert event.version == MAX_EVENTS_PER_ORDER - 2
    full = evolve(last_modifiable, event)
    with pytest.raises(RuleViolated) as refused:
        when(full, modify({"sku": "apple", "quantity": 3}))
    assert refused.value.extra["version"] == MAX_EVENTS_PER_ORDER - 2
    [paid] = when(full, pay(full.total_cents))
    [shipped] = when(evolve(full, paid), ship())
    assert shipped.version == MAX_EVENTS_PER_ORDER
