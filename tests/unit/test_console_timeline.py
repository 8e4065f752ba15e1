"""The console's timeline (``projector.console.timeline``): the one fold over the events
as recorded, and what each event changed in the order's view."""

from __future__ import annotations

from typing import Any

from ordersource import codec
from ordersource.codec import encode_event
from ordersource.domain import Event, fold
from ordersource.views import to_view
from projector.console.timeline import timeline, view_changes
from tests.support.events import modified, placed


def raw(event: Event) -> dict[str, Any]:
    found: dict[str, Any] = codec.loads(encode_event(event))
    return found


def view_of(events: list[Event]) -> dict[str, Any]:
    state = fold(events, None)
    assert state is not None
    return to_view(state)


def test_each_event_shows_what_it_changed_in_the_view() -> None:
    events = [placed("bob-1", "bob", 5, price=120), modified("bob-1", 2, 6)]
    entries = timeline([raw(e) for e in events], None)
    assert [(e["version"], e["type"]) for e in entries] == [
        (1, "OrderPlaced"),
        (2, "OrderModified"),
    ]
    assert entries[0]["command_id"] == events[0].command_id
    first = {c["field"]: (c["from"], c["to"]) for c in entries[0]["changes"]}
    assert first["status"] == (None, "placed")
    assert first["items[sku-1].quantity"] == (None, 5)
    assert first["total_cents"] == (None, 600)
    second = {c["field"]: (c["from"], c["to"]) for c in entries[1]["changes"]}
    assert second == {"items[sku-1].quantity": (5, 6), "total_cents": (600, 720)}


def test_a_later_page_continues_from_the_state_before_it() -> None:
    events = [placed("bob-1", "bob", 5), modified("bob-1", 2, 6), modified("bob-1", 3, 7)]
    before = fold(events[:2], None)
    entries = timeline([raw(events[2])], before)
    assert [c["field"] for c in entries[0]["changes"]] == ["total_cents", "items[sku-1].quantity"]
    assert entries[0]["changes"][1] == {"field": "items[sku-1].quantity", "from": 6, "to": 7}


def test_lines_that_come_and_go_are_shown_with_a_missing_side() -> None:
    old = view_of([placed("o", "c", 2)])
    new = dict(old, items=[{"sku": "pear", "quantity": 1, "unit_price_cents": 50}])
    changes = view_changes(old, new)
    assert {"field": "items[pear].quantity", "from": None, "to": 1} in changes
    assert {"field": "items[sku-1].quantity", "from": 2, "to": None} in changes
    assert view_changes(old, old) == []


def test_strings_pass_through_unchanged() -> None:
    """(Rendering them as text is the page's job: tests/e2e/test_console.py.)"""
    hostile = "<img src=x onerror=alert(1)>"
    old = view_of([placed("o", "c", 2)])
    changes = view_changes(old, dict(old, customer_id=hostile))
    assert changes == [{"field": "customer_id", "from": "c", "to": hostile}]
