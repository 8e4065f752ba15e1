"""Point-in-time views: fold the stored history with the shared fold (no second fold).

Bounded reads: the history is read in chunks of ``CHUNK`` versions from version 1 and
folded chunk by chunk (``ordersource.domain.fold`` continues from the state so far), so a
request holds one chunk at a time and reads nothing past the point it needs:
``at_version=N`` reads versions 1..N, ``as_of=T`` stops at the first event after T. A
request folds at most ``MAX_FOLD`` events; a point further into a longer history is
refused (``FoldTooLong``) rather than folded: there are no snapshots to start from.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ordersource.codec import decode_event
from ordersource.domain import OrderState, fold
from ordersource.domain.types import MAX_EVENTS_PER_ORDER
from ordersource.views import to_view
from query_service.store import ViewStore

CHUNK = 100
"""Versions read per round trip."""
MAX_FOLD = MAX_EVENTS_PER_ORDER  # every state of every order can be folded
"""Events one time-travel request folds at most."""


class FoldTooLong(Exception):
    pass


async def view_at(
    store: ViewStore,
    order_id: str,
    latest: int,
    at_version: int | None,
    as_of: datetime | None,
) -> dict[str, Any] | None:
    """The view after the last event at or before ``at_version`` / ``as_of``.

    ``latest`` is the view's version (the history has versions 1..latest). None when the
    order did not exist yet at that point, or when ``at_version`` is a version the
    history does not (yet) have. Raises ``FoldTooLong`` when the point lies past
    ``MAX_FOLD`` events.
    """
    if at_version is not None and at_version > latest:
        return None
    stop = at_version if at_version is not None else latest
    if stop > MAX_FOLD and at_version is not None:
        raise FoldTooLong
    state: OrderState | None = None
    version = 0  # folded so far
    while version < stop:
        if version >= MAX_FOLD:
            raise FoldTooLong  # as_of: no event after T within the first MAX_FOLD
        count = min(CHUNK, stop - version, MAX_FOLD - version)
        _, raws = await store.history(order_id, version + 1, count)
        events = []
        done = len(raws) < count  # the history ends here (e.g. a generation behind)
        for raw in raws:
            event = decode_event(raw)
            if as_of is not None and event.occurred_at > as_of:
                done = True
                break
            events.append(event)
        state = fold(events, state)
        version += len(events)
        if done:
            if at_version is not None and version < at_version:
                return None
            break
    return to_view(state) if state is not None else None
