"""An in-memory ``ProjectionStore`` for tests, with the same guards as the Redis script.

Deliberately plain dictionaries: the contract tests run the same scenarios against this
and against Redis, so the Lua script is checked against something obviously right.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from ordersource import codec
from ordersource.views import index_score
from projector.core.plan import BatchPlan, Snapshot
from projector.core.writes import parked_entry


class InMemoryProjectionStore:
    def __init__(self, generation: str = "1") -> None:
        self.generation = generation
        self.built = False
        self.views: dict[str, dict[str, Any]] = {}
        self.histories: dict[str, dict[int, bytes]] = {}
        self.indexes: dict[str, dict[str, int]] = {}
        self.stats: Counter[str] = Counter()
        self.parked: dict[str, bytes] = {}
        self.checkpoint: dict[int, int] = {}
        self.progress: dict[int, dict[str, Any]] = {}
        self.meta: Counter[str] = Counter()

    def wipe(self) -> None:
        """What FLUSHALL does to Redis."""
        self.__init__(self.generation)  # type: ignore[misc]

    async def load(self, order_ids: Iterable[str], partitions: Iterable[int]) -> Snapshot | None:
        if not self.built:
            return None
        parts = set(partitions)
        return Snapshot(
            checkpoints={p: o for p, o in self.checkpoint.items() if p in parts},
            views={i: self.views.get(i) for i in order_ids},
        )

    async def commit(self, plan: BatchPlan, now: float) -> bool:
        if not self.built or any(self.checkpoint.get(p) != o for p, o in plan.expected.items()):
            return False
        for order_id, write in plan.orders.items():
            # A JSON round trip, like Redis: callers never share dicts with the store.
            self.views[order_id] = codec.loads(codec.dumps(write.new))
            self.histories.setdefault(order_id, {}).update(write.history)
            score = index_score(write.state.created_at)
            if write.old is not None:
                self.indexes[f"status:{write.old['status']}"].pop(order_id, None)
            for name in (
                "all",
                f"customer:{write.new['customer_id']}",
                f"status:{write.new['status']}",
            ):
                self.indexes.setdefault(name, {})[order_id] = score
        self.stats.update(plan.stats)
        self.parked.update(parked_entry(record, why) for record, why in plan.parked)
        self.checkpoint.update(plan.checkpoints)
        self.meta.update(
            events_applied=plan.applied, events_parked=len(plan.parked), dead_letters=len(plan.dead)
        )
        return True

    async def initialize(self, now: float) -> None:
        self.built = True

    async def checkpoints(self) -> dict[int, int]:
        return dict(self.checkpoint)

    async def report_progress(self, progress: dict[int, dict[str, Any]]) -> None:
        self.progress.update(progress)

    async def ping(self) -> bool:
        return True
