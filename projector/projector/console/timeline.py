"""An order's event timeline: each event with what it changed in the order's view. Pure.

The states come from the one fold (``evolve``) over the events as recorded (decoded by
the shared codec, so old schema versions are upcast exactly as everywhere else); what an
event changed is the difference of the views before and after it (``to_view``), so the
timeline shows what a reader of the view saw change, whatever the event's shape.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from ordersource import codec
from ordersource.domain import OrderState, evolve
from ordersource.views import to_view

Change = dict[str, Any]
"""``{"field": "items[apple].quantity", "from": 5, "to": 6}`` (``from``/``to`` None
when a line or the order itself comes or goes)."""

_FIELDS = ("status", "customer_id", "channel", "currency", "total_cents")


def view_changes(before: Mapping[str, Any] | None, after: Mapping[str, Any]) -> list[Change]:
    """What differs from ``before`` (None: the order did not exist) to ``after``, field by
    field and line by line (by sku), in a stable order."""
    old: Mapping[str, Any] = before or {}
    changes: list[Change] = [
        {"field": name, "from": old.get(name), "to": after.get(name)}
        for name in _FIELDS
        if old.get(name) != after.get(name)
    ]
    old_lines = {line["sku"]: line for line in old.get("items", [])}
    new_lines = {line["sku"]: line for line in after.get("items", [])}
    for sku in [*new_lines, *(s for s in old_lines if s not in new_lines)]:
        was, now = old_lines.get(sku), new_lines.get(sku)
        for part in ("quantity", "unit_price_cents"):
            a = was.get(part) if was else None
            b = now.get(part) if now else None
            if a != b:
                changes.append({"field": f"items[{sku}].{part}", "from": a, "to": b})
    return changes


def timeline(
    raw_events: Iterable[Mapping[str, Any]], before: OrderState | None
) -> list[dict[str, Any]]:
    """One entry per event, in order: the event as recorded and the changes it made.

    ``before``: the state just before the first event (None when it is version 1).
    Raises the codec's ``UndecodableEvent`` on an event the current code cannot read.
    """
    state = before
    view = to_view(state) if state is not None else None
    entries = []
    for raw in raw_events:
        event = codec.decode_event(codec.dumps(raw))
        state = evolve(state, event)
        new_view = to_view(state)
        entries.append(
            {
                "version": event.version,
                "type": raw.get("type"),
                "occurred_at": raw.get("occurred_at"),
                "command_id": event.command_id,
                "event_id": event.event_id,
                "schema_version": raw.get("schema_version"),
                "data": raw.get("data"),
                "changes": view_changes(view, new_view),
            }
        )
        view = new_view
    return entries
