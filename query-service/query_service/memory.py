"""An in-memory ``ViewStore`` for tests: obviously dumb, built with the shared fold.

``apply(events)`` folds events the way the projector does (skip versions already seen,
ignore gaps); the query side cannot tell it from Redis (see the contract tests in
``tests/component/test_view_store_contract.py``).
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from typing import Any

from ordersource import codec
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
        self.reads: Counter[str] = Counter()
        """What the query side read: ``index_entries``, ``views``, ``history_events``."""
        self._scores: dict[tuple[str, str], int] = {}
        self._sorted: dict[Index, list[Cursor]] = {}

    def apply(self, events: list[Event]) -> None:
        self._sorted.clear()
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

    async def order_json(self, order_id: str) -> bytes | None:
        view = await self.order(order_id)  # through order(): fakes that override it
        return codec.dumps(view) if view is not None else None

    async def history(self, order_id: str, first: int, count: int) -> tuple[int, list[bytes]]:
        stored = self.histories.get(order_id, {})
        events = []
        for version in range(max(first, 1), max(first, 1) + count):
            if version not in stored:
                break
            events.append(stored[version])
        self.reads["history_events"] += len(events)
        return len(stored), events

    def _index(self, index: Index) -> list[Cursor]:
        """The index's (score, order_id) entries, ascending (cached until the next apply)."""
        if index not in self._sorted:
            kind, value = index
            self._sorted[index] = sorted(
                (self._score(v), v["order_id"])
                for v in self.views.values()
                if kind == "all"
                or (kind == "customer" and v["customer_id"] == value)
                or (kind == "status" and v["status"] == value)
            )
        return self._sorted[index]

    def _score(self, view: dict[str, Any]) -> int:
        key = (view["order_id"], view["created_at"])
        if key not in self._scores:
            self._scores[key] = index_score(from_view(view).created_at)
        return self._scores[key]

    async def older(self, index: Index, cursor: Cursor | None, n: int) -> list[Cursor]:
        entries = self._index(index)
        end = len(entries) if cursor is None else bisect_left(entries, cursor)
        found = entries[max(end - n, 0) : end][::-1]
        self.reads["index_entries"] += len(found)
        return found

    async def sizes(self, indexes: list[Index]) -> list[int]:
        return [len(self._index(index)) for index in indexes]

    async def orders(self, order_ids: list[str]) -> list[dict[str, Any] | None]:
        self.reads["views"] += len(order_ids)
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
