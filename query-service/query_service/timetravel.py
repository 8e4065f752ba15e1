"""Point-in-time views: fold the stored history with the shared fold (no second fold)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ordersource.codec import decode_event
from ordersource.domain import fold
from ordersource.views import to_view


def view_at(
    history: list[bytes], at_version: int | None, as_of: datetime | None
) -> dict[str, Any] | None:
    """The view after the last event at or before ``at_version`` / ``as_of``.

    None when the order did not exist yet at that point, or when ``at_version`` is a
    version the history does not (yet) have.
    """
    if at_version is not None and at_version > len(history):
        return None
    events = []
    for raw in history:
        event = decode_event(raw)
        if at_version is not None and event.version > at_version:
            break
        if as_of is not None and event.occurred_at > as_of:
            break
        events.append(event)
    state = fold(events)
    return to_view(state) if state is not None else None
