"""An in-memory ``ViewStore`` for tests: obviously dumb, built with the shared fold.

``apply(events)`` folds events the way the projector does (skip versions already seen,
ignore gaps); the query side cannot tell it from Redis (see the contract tests in
``tests/component/test_view_store_contract.py``).
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from ordersource.codec import encode_event
from ordersource.domain import Event, evolve
from ordersource.keys import DEFAULT_GENERATION
from ordersource.views import from_view, index_score, stats_contribution, to_view
from query_service.cursor import Cursor
from query_service.store import Index


class InMemoryViewStore:
    def __init__(self, generation: str = DEFAULT_GENERATION) -> None:
        self.current = generation
        self.views: dict[str, dict[str, Any]] = {}
        self.histories: dict[str, dict[int, bytes]] = {}
        self.meta: dict[str, Any] = {"generation": generation}
        self.up = True
        self.others: dict[str, InMemoryViewStore] = {}
        """Other generations (e.g. a bounded replay), by id."""

    def apply(self, events: list[Event]) -> None:
        for event in events:
            view = self.views.get(event.order_id)
            state = from_view(view) if view is not None else None
            if event.version != (state.version if state else 0) + 1:
                continue
            self.views[event.order_id] = to_view(evolve(state, event))
            self.histories.setdefault(event.order_id, {})[event.version] = encode_event(event)

    async def generation(self) -> str:
        return self.current

    async def at(self, generation: str | None) -> InMemoryViewStore | None:
        if generation is None or generation == self.current:
            return self
        return self.others.get(generation)

    async def again(self) -> InMemoryViewStore:
        return self

    async def order(self, order_id: str) -> dict[str, Any] | None:
        return self.views.get(order_id)

    async def history(self, order_id: str) -> list[bytes]:
        stored = self.histories.get(order_id, {})
        return [stored[v] for v in sorted(stored)]

    async def older(self, index: Index, cursor: Cursor | None, n: int) -> list[Cursor]:
        kind, value = index
        entries = sorted(
            (
                (index_score(from_view(v).created_at), v["order_id"])
                for v in self.views.values()
                if kind == "all"
                or (kind == "customer" and v["customer_id"] == value)
                or (kind == "status" and v["status"] == value)
            ),
            reverse=True,
        )
        return [e for e in entries if cursor is None or e < cursor][:n]

    async def orders(self, order_ids: list[str]) -> list[dict[str, Any] | None]:
        return [self.views.get(i) for i in order_ids]

    async def stats(self) -> dict[str, int]:
        total: Counter[str] = Counter()
        for view in self.views.values():
            total.update(stats_contribution(view))
        return dict(total)

    async def projection(self) -> dict[str, Any]:
        return {
            "generation": self.current,
            "meta": dict(self.meta),
            "checkpoint": {},
            "progress": {},
            "parked_count": 0,
            "parked": [],
        }

    async def ping(self) -> bool:
        return self.up
