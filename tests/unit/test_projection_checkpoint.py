"""The checkpoint invariant: a partition's checkpoint moves only over records that were
applied, skipped, parked or dead-lettered — never over records read and then lost in
flight (a batch Faust dropped). Offsets are not contiguous on a transactional topic
(every commit marker takes one), so "continues from the checkpoint" is told by each
record's ``since`` (where the consumer's run of records began), not by its offset."""

from __future__ import annotations

import asyncio
from collections import defaultdict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ordersource.codec import encode_event
from ordersource.domain import Event, fold
from ordersource.views import to_view
from projector.core.batch import BatchHandler, decode
from projector.core.metrics import ProjectorMetrics
from projector.core.plan import Incoming, Snapshot, plan_batch
from projector.store.memory import InMemoryProjectionStore
from tests.support.events import lifecycle, placed

pytestmark = pytest.mark.unit


def at(offset: int, event: Event, since: int | None, partition: int = 0) -> Incoming:
    return decode(Incoming(partition, offset, None, encode_event(event), since=since))


def test_a_batch_across_transaction_markers_continues_from_the_checkpoint() -> None:
    events = lifecycle("o1")
    # checkpoint 3 = after the record at 1 and the marker at 2; markers at 4 and 6 too
    batch = [at(3, events[1], 3), at(5, events[2], 4), at(7, events[3], 6)]
    plan = plan_batch(batch, Snapshot({0: 3}, {"o1": to_view(fold(events[:1]))}))  # type: ignore[arg-type]
    assert not plan.gaps
    assert plan.applied == 3
    assert plan.checkpoints == {0: 8}


def test_a_batch_after_records_never_committed_is_a_gap_and_plans_nothing_there() -> None:
    events = lifecycle("o1")
    other = placed("o2")
    # the records at 3 and 4 were read and lost: the one at 5 follows the one at 4
    batch = [at(5, events[3], 5), at(0, other, 0, partition=1)]
    plan = plan_batch(batch, Snapshot({0: 3, 1: 0}, {"o1": None, "o2": None}))
    assert plan.gaps == {0: (3, 5)}
    assert 0 not in plan.checkpoints
    assert not plan.parked
    assert not plan.dead
    assert plan.checkpoints == {1: 1}  # planned, but a plan with gaps is not committed


def test_a_gap_in_the_middle_of_a_batch_stops_the_partition_there() -> None:
    events = lifecycle("o1")
    # 0 and 1 continue from the checkpoint; then records 2..3 were lost, 4 follows them
    batch = [at(0, events[0], 0), at(1, events[1], 1), at(4, events[2], 4), at(5, events[3], 5)]
    plan = plan_batch(batch, Snapshot({}, {"o1": None}))
    assert plan.gaps == {0: (2, 4)}
    assert plan.checkpoints == {0: 2}


def test_records_below_the_checkpoint_are_still_skipped() -> None:
    events = lifecycle("o1")
    # re-read from an older position (a rewind to a committed Kafka offset, say)
    batch = [at(i, e, i) for i, e in enumerate(events)]
    plan = plan_batch(batch, Snapshot({0: 2}, {"o1": to_view(fold(events[:2]))}))  # type: ignore[arg-type]
    assert not plan.gaps
    assert plan.skipped == 2
    assert plan.checkpoints == {0: 4}


def test_without_since_nothing_is_assumed() -> None:
    """Readers without the bookkeeping (the replay's plain reader) get today's rule."""
    events = lifecycle("o1")
    plan = plan_batch([at(9, events[0], None)], Snapshot({0: 3}, {"o1": None}))
    assert not plan.gaps
    assert plan.checkpoints == {0: 10}


class Consumer:
    """A fake consumer over a transactional log: stamps ``since`` like CheckpointConsumer."""

    def __init__(self, log: dict[int, list[Incoming]]) -> None:
        self.log = log
        self.position = {p: 0 for p in log}
        self.next_read: dict[int, int] = {p: 0 for p in log}

    def take(self, size: int) -> list[Incoming]:
        batch: list[Incoming] = []
        for p, records in sorted(self.log.items()):
            for r in records:
                if len(batch) < size and r.offset >= self.position[p]:
                    since = min(self.next_read[p], r.offset)
                    batch.append(Incoming(p, r.offset, r.key, r.value, since=since))
                    self.next_read[p] = self.position[p] = r.offset + 1
        return batch

    def seek(self, checkpoints: dict[int, int]) -> None:
        for p in self.log:
            self.position[p] = self.next_read[p] = checkpoints.get(p, 0)


class SeekingRewinder:
    def __init__(self, consumer: Consumer, store: InMemoryProjectionStore) -> None:
        self.consumer, self.store = consumer, store

    async def rewind(self) -> None:
        self.consumer.seek(await self.store.checkpoints())


class NoDeadLetters:
    async def send(self, record: Incoming, reason: str) -> None:
        raise AssertionError("no dead letters in this log")


@settings(max_examples=60, deadline=None)
@given(
    orders=st.integers(1, 6),
    markers=st.lists(st.integers(0, 2), min_size=30, max_size=30),
    steps=st.lists(st.tuples(st.integers(1, 6), st.booleans()), min_size=1, max_size=25),
)
def test_lost_batches_never_move_a_checkpoint_over_unapplied_records(
    orders: int, markers: list[int], steps: list[tuple[int, bool]]
) -> None:
    """Random batches, some lost in flight; after every step each order's view is the
    fold of its events below its partition's checkpoint, and at the end of the log."""
    log: dict[int, list[Incoming]] = defaultdict(list)
    events_of: dict[str, list[tuple[int, int, Event]]] = {}
    next_offset = [0, 0]
    for i in range(orders):
        p = i % 2
        for e in lifecycle(f"o{i}"):
            offset = next_offset[p]
            log[p].append(Incoming(p, offset, None, encode_event(e)))
            events_of.setdefault(e.order_id, []).append((p, offset, e))
            next_offset[p] += 1 + markers[(offset + p) % len(markers)]  # commit markers
    consumer = Consumer(dict(log))
    store = InMemoryProjectionStore()
    asyncio.run(store.initialize(0))
    handler = BatchHandler(
        store, NoDeadLetters(), SeekingRewinder(consumer, store), ProjectorMetrics()
    )

    def check() -> None:
        for order_id, items in events_of.items():
            below = [e for p, o, e in items if o < store.checkpoint.get(p, 0)]
            view = store.views.get(order_id)
            assert (view is None) == (not below), order_id
            if below:
                assert view == to_view(fold(below))  # type: ignore[arg-type]

    for size, lost in steps:
        batch = consumer.take(size)
        if batch and not lost:
            asyncio.run(handler.handle(batch))
        check()
    for _ in range(100):  # no more loss: the log is read to its end by itself
        batch = consumer.take(6)
        if not batch:
            break
        asyncio.run(handler.handle(batch))
        check()
    # A batch lost at the very end is found by the next record or restart (not here).
    asyncio.run(handler.rewinder.rewind())
    while batch := consumer.take(6):
        asyncio.run(handler.handle(batch))
    check()
    assert all(store.checkpoint.get(p, 0) == records[-1].offset + 1 for p, records in log.items())
