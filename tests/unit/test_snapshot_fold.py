"""Property: deciding from a snapshot of the state plus the log's tail gives exactly what
deciding from the whole log gives — same states, same verdicts, same idempotency.

The snapshot is what the snapshotter ships to Kafka: a ``VACUUM INTO`` copy of the
partition's SQLite store (``StateStore.copy_to``), opened as a new store."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from command_service import answers
from command_service.decider.book import PartitionBook
from command_service.decider.store import StateStore
from ordersource.domain import Command, Event
from tests.support.commands import T0, cancel, modify, new_id, pay, place, ship

pytestmark = pytest.mark.unit

ORDERS = ["o1", "o2", "o3"]
order = st.sampled_from(ORDERS)
change = st.fixed_dictionaries(
    {"sku": st.sampled_from(["a", "b"]), "quantity": st.integers(0, 9)},
    optional={"unit_price_cents": st.integers(0, 500)},
)
command = st.one_of(
    st.builds(
        lambda o, q, p: place(o, qty=q, price=p), order, st.integers(1, 9), st.integers(0, 500)
    ),
    st.builds(lambda o, c: modify(c, order_id=o), order, change),
    st.builds(lambda o, a: pay(a, order_id=o), order, st.integers(0, 5000)),
    st.builds(lambda o: ship(order_id=o), order),
    st.builds(lambda o: cancel(order_id=o), order),
)


def log_of(commands: list[Command]) -> list[Event]:
    """The events a book decides for ``commands``, in order (the partition's log)."""
    book = PartitionBook(0)
    events: list[Event] = []
    for c in commands:
        decided, _ = book.judge(c, now=T0, new_id=new_id)
        events.extend(decided)
    return events


def fold(book: PartitionBook, events: list[Event], first: int = 0) -> PartitionBook:
    for offset, event in enumerate(events, start=first):
        book.apply(event, None, offset)
        book.next_offset = offset + 1
    book.flush()
    return book


def verdicts(book: PartitionBook, probes: list[Command]) -> list[tuple[int, object]]:
    found: list[tuple[int, object]] = []
    for probe in probes:
        _, decision = book.judge(probe, now=T0, new_id=lambda: "fixed-id")
        verdict = answers.verdict(probe.command_id, decision)
        found.append((verdict.http_status, verdict.body))
    return found


@settings(max_examples=60, deadline=None)
@given(
    history=st.lists(command, min_size=1, max_size=40),
    probes=st.lists(command, min_size=1, max_size=8),
    cut=st.floats(0, 1),
    window=st.integers(1000, 1005),
)
def test_snapshot_plus_tail_decides_like_the_whole_log(
    history: list[Command], probes: list[Command], cut: float, window: int
) -> None:
    events = log_of(history)
    k = int(len(events) * cut)
    whole = fold(PartitionBook(0, window), events)
    with tempfile.TemporaryDirectory() as scratch:
        path, copy = Path(scratch) / "p0.sqlite", Path(scratch) / "snapshot"
        head = fold(PartitionBook(0, window, StateStore(path, 0)), events[:k])
        assert head.store.copy_to(copy) == (k, head.tip)
        head.store.close()
        restored = PartitionBook(0, window, StateStore(copy, 0))
        assert (restored.next_offset, restored.tip) == (k, head.tip)
        from_snapshot = fold(restored, events[k:], first=k)
        for order_id in ORDERS:
            assert from_snapshot.state_of(order_id) == whole.state_of(order_id)
        # Retries of the history's commands, and new commands, are judged alike.
        retries = history[-3:]
        assert verdicts(from_snapshot, retries + probes) == verdicts(whole, retries + probes)
        assert from_snapshot.recent_outcomes() == whole.recent_outcomes()
        from_snapshot.store.close()
