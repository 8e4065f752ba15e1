"""The decider's book: idempotency by command id and first-writer-wins on versions."""

from __future__ import annotations

import pytest

from command_service.decider.book import PartitionBook
from tests.unit.orders import T0, given, modify, new_id, place

pytestmark = pytest.mark.unit


def test_a_retried_command_gets_the_original_verdict_and_no_events() -> None:
    book = PartitionBook(0)
    command = place(request_hash="h1")
    events, first = book.judge(command, now=T0, new_id=new_id)
    assert len(events) == 1
    assert first.http_status == 201
    again, second = book.judge(command, now=T0, new_id=new_id)
    assert again == []
    assert second == first


def test_same_command_id_with_another_request_is_refused() -> None:
    book = PartitionBook(0)
    command = place(request_hash="h1")
    book.judge(command, now=T0, new_id=new_id)
    other = command.model_copy(update={"request_hash": "h2"})
    events, verdict = book.judge(other, now=T0, new_id=new_id)
    assert events == []
    assert verdict.http_status == 422


def test_rebuilt_book_remembers_commands_from_the_log() -> None:
    command = modify({"sku": "apple", "quantity": 6})
    events, _ = given(place(), command)
    book = PartitionBook(0)
    for event in events:
        book.apply(event, None)
    again, verdict = book.judge(command, now=T0, new_id=new_id)
    assert again == []
    assert verdict.body["version"] == 2
    assert verdict.http_status == 200
    assert [v.command_id for v in book.recent_verdicts()] == [e.command_id for e in events]


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
    events, verdict = book.judge(modify({"sku": "a", "quantity": 1}), now=T0, new_id=new_id)
    assert events == []
    assert verdict.http_status == 404
    assert verdict.body["status"] == 404
    assert book.orders == {}


def test_a_refused_rule_names_the_current_status_and_version() -> None:
    book = PartitionBook(0)
    book.judge(place(qty=5, price=120), now=T0, new_id=new_id)
    stale = modify({"sku": "apple", "quantity": 6}, expected_version=3)
    _, verdict = book.judge(stale, now=T0, new_id=new_id)
    assert verdict.http_status == 412
    assert verdict.body["status"] == 412
    assert verdict.body["order_status"] == "placed"
    assert verdict.body["version"] == 1
