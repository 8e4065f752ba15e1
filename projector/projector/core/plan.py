"""The projection of one batch, as a pure function: records + what Redis holds -> a plan.

The plan says everything the batch changes (views, indexes, history, stats deltas,
parked events, dead letters, checkpoints) so a store can write it in one atomic step.
An event at offset < the partition's checkpoint was applied before: skipped. Otherwise
the shared version rule (``ordersource.domain.step``) against the order's stored view,
at version ``v``:

* version <= v: a re-delivery (crash before the offset commit): skipped;
* version == v + 1: folded with the shared ``evolve``;
* version > v + 1: a gap. Parked, never applied: applying it would invent state.

The checkpoint moves only over records this plan applies, skips, parks or dead-letters.
A record says where the run of records it belongs to began (``since``, see ``Incoming``);
when that is past the partition's checkpoint, records between the checkpoint and this one
were delivered but never committed (a batch lost in flight). The plan then stops at the
partition (``gaps``): the handler commits nothing and re-reads from the checkpoint.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ordersource.domain import Event, FoldError, OrderState, Step, evolve, step
from ordersource.views import from_view, stats_contribution, to_view


@dataclass(frozen=True, slots=True)
class Incoming:
    """One record of the events topic, decoded (``event``) or not (``error``).

    ``since``: the lowest offset such that no record of the partition lies in
    ``[since, offset)`` in what the consumer read — the offset after the previous record it
    read from the partition, or where it last seeked to (0 for "from the earliest").
    Offsets between are transaction markers or aborted records. None: not known (a reader
    without that bookkeeping); no gap is then detected.
    """

    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    event: Event | None = None
    error: str | None = None
    since: int | None = None


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What the store holds for a batch: checkpoints and the current view of each order."""

    checkpoints: dict[int, int]
    views: dict[str, dict[str, Any] | None]


@dataclass(slots=True)
class OrderWrite:
    """One order touched by the batch: its stored view, its new state, new history."""

    old: dict[str, Any] | None
    state: OrderState
    history: list[tuple[int, bytes]] = field(default_factory=list)
    new: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class BatchPlan:
    expected: dict[int, int | None]
    """Checkpoint of each partition as loaded: the store writes only if still so."""
    checkpoints: dict[int, int] = field(default_factory=dict)
    orders: dict[str, OrderWrite] = field(default_factory=dict)
    stats: Counter[str] = field(default_factory=Counter)
    parked: list[tuple[Incoming, str]] = field(default_factory=list)
    dead: list[tuple[Incoming, str]] = field(default_factory=list)
    gaps: dict[int, tuple[int, int]] = field(default_factory=dict)
    """Partitions whose records do not continue from the checkpoint: (checkpoint, since).
    A plan with gaps must not be committed."""
    applied: int = 0
    skipped: int = 0
    newest_event_at: datetime | None = None
    newest_by_partition: dict[int, datetime] = field(default_factory=dict)
    """The newest event applied, per partition (how fresh each partition's views are)."""


def plan_batch(batch: Sequence[Incoming], snapshot: Snapshot) -> BatchPlan:
    plan = BatchPlan(expected={r.partition: snapshot.checkpoints.get(r.partition) for r in batch})
    states: dict[str, OrderState | None] = {}
    for record in batch:
        if record.partition in plan.gaps:
            continue
        checkpoint = plan.checkpoints.get(record.partition)
        if checkpoint is None:
            checkpoint = snapshot.checkpoints.get(record.partition, 0)
        if record.offset < checkpoint:
            plan.skipped += 1
            continue
        if record.since is not None and record.since > checkpoint:
            plan.gaps[record.partition] = (checkpoint, record.since)
            continue
        plan.checkpoints[record.partition] = record.offset + 1
        event = record.event
        if event is None:
            plan.dead.append((record, record.error or "undecodable"))
            continue
        order_id = event.order_id
        if order_id not in states:
            stored = snapshot.views.get(order_id)
            states[order_id] = from_view(stored) if stored is not None else None
        state = states[order_id]
        where = step(state, event)
        if where is Step.DUPLICATE:
            plan.skipped += 1
        elif where is Step.GAP:
            version = state.version if state is not None else 0
            plan.parked.append((record, f"version gap: view at {version}, got {event.version}"))
        else:
            try:
                state = evolve(state, event)
            except FoldError as exc:
                plan.dead.append((record, f"cannot apply: {exc}"))
                continue
            states[order_id] = state
            _record_applied(plan, snapshot, state, event, record)
    for write in plan.orders.values():
        write.new = to_view(write.state)  # once per order, not once per event
        _add_stats(plan.stats, write)
    return plan


def _record_applied(
    plan: BatchPlan, snapshot: Snapshot, state: OrderState, event: Event, record: Incoming
) -> None:
    write = plan.orders.get(state.order_id)
    if write is None:
        old = snapshot.views.get(state.order_id)
        write = plan.orders[state.order_id] = OrderWrite(old, state)
    write.state = state
    assert record.value is not None  # decoded events always have a value
    write.history.append((event.version, record.value))
    plan.applied += 1
    if plan.newest_event_at is None or event.occurred_at > plan.newest_event_at:
        plan.newest_event_at = event.occurred_at
    newest = plan.newest_by_partition.get(record.partition)
    if newest is None or event.occurred_at > newest:
        plan.newest_by_partition[record.partition] = event.occurred_at


def _add_stats(stats: Counter[str], write: OrderWrite) -> None:
    stats.update(stats_contribution(write.new))
    if write.old is not None:
        stats.subtract(stats_contribution(write.old))
