"""The decider's book: idempotency by command id and first-writer-wins on versions.

The book answers in domain terms; these tests read its decisions as the command API
answers them (``answers.verdict``), the status codes being the contract."""

from __future__ import annotations

import pytest

from command_service import answers
from command_service.decider.book import PartitionBook
from command_service.verdicts import Verdict
from ordersource import codec
from ordersource.domain import Command, Event, OrderStatus
from tests.support.commands import T0, cancel, given, modify, new_id, pay, place
from tests.support.events import V1_PLACED

pytestmark = pytest.mark.unit


def judge(book: PartitionBook, command: Command) -> tuple[list[Event], Verdict]:
    events, decision = book.judge(command, now=T0, new_id=new_id)
    return events, answers.verdict(command.command_id, decision)


def test_a_retried_command_gets_the_original_verdict_and_no_events() -> None:
    book = PartitionBook(0)
    command = place(request_hash="h1")
    events, first = judge(book, command)
    assert len(events) == 1
    assert first.http_status == 201
    again, second = judge(book, command)
    assert again == []
    assert second == first


def test_same_command_id_with_another_request_is_refused() -> None:
    book = PartitionBook(0)
    command = place(request_hash="h1")
    judge(book, command)
    other = command.model_copy(update={"request_hash": "h2"})
    events, verdict = judge(book, other)
    assert events == []
    assert verdict.http_status == 422


def test_rebuilt_book_remembers_commands_from_the_log() -> None:
    command = modify({"sku": "apple", "quantity": 6})
    events, _ = given(place(), command)
    book = PartitionBook(0)
    for event in events:
        book.apply(event, None)
    again, verdict = judge(book, command)
    assert again == []
    assert verdict.body["version"] == 2
    assert verdict.http_status == 200
    assert [cid for cid, _ in book.recent_outcomes()] == [e.command_id for e in events]


def test_a_duplicate_version_in_the_log_loses() -> None:
    events, _ = given(place(), modify({"sku": "apple", "quantity": 6}))
    twin, _ = given(place(), modify({"sku": "apple", "quantity": 9}))
    book = PartitionBook(0)
    for event in [*events, twin[1]]:
        book.apply(event, None)
    assert book.orders["o1"].items[0].quantity == 6
    assert book.skipped == 1


def test_rejections_write_nothing() -> None:
    book = PartitionBook(0)
    events, verdict = judge(book, modify({"sku": "a", "quantity": 1}))
    assert events == []
    assert verdict.http_status == 404
    assert verdict.body["status"] == 404
    assert book.orders == {}


def test_a_refused_rule_names_the_current_status_and_version() -> None:
    book = PartitionBook(0)
    judge(book, place(qty=5, price=120))
    stale = modify({"sku": "apple", "quantity": 6}, expected_version=3)
    _, verdict = judge(book, stale)
    assert verdict.http_status == 412
    assert verdict.body["status"] == 412
    assert verdict.body["order_status"] == "placed"
    assert verdict.body["version"] == 1


def test_the_dedup_window_forgets_the_oldest_commands_only() -> None:
    book = PartitionBook(0, dedup_window=2)
    first, second, third = place("w-1"), place("w-2"), place("w-3")
    for command in (first, second, third):
        judge(book, command)
        book.flush()  # as the writer does after each transaction: the window is the store's
    # The oldest is forgotten: a retry of it is judged again (and refused as a duplicate).
    _, again = judge(book, first)
    assert again.http_status == 409
    _, remembered = judge(book, third)
    assert remembered.http_status == 201


def test_closed_orders_keep_status_and_version_but_not_their_lines() -> None:
    book = PartitionBook(0)
    for command in (place(qty=1, price=10), cancel()):
        judge(book, command)
    book.flush()
    closed = book.store.order("o1")
    assert closed is not None
    assert (closed.status, closed.version, closed.items) == (OrderStatus.CANCELLED, 2, ())
    _, refused = judge(book, pay(10))
    assert (refused.http_status, refused.body["order_status"]) == (409, "cancelled")


def test_an_order_placed_before_channels_is_read_and_decided_on() -> None:
    book = PartitionBook(0)
    book.apply(codec.decode_event(V1_PLACED), None)  # OrderPlaced v1, as catch-up reads it
    assert book.orders["old-1"].channel == "unknown"
    events, verdict = judge(book, pay(240, order_id="old-1"))
    assert [e.version for e in events] == [2]
    assert verdict.http_status == 200
    assert verdict.body["status"] == "paid"


def test_orders_share_one_channel_string() -> None:
    """A channel per order costs the book one pointer: equal channels are one object."""
    book = PartitionBook(0)
    for n in range(3):
        events, _ = given(place(f"o{n}", channel="web"))
        book.apply(codec.decode_event(codec.encode_event(events[0])), None)
    first, *rest = (book.orders[f"o{n}"].channel for n in range(3))
    assert all(channel is first for channel in rest)
