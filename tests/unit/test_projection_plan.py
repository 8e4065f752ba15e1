"""The pure batch planner: skip, fold, park, dead-letter — given records, then a plan."""

from __future__ import annotations

from typing import Any

import pytest

from ordersource.codec import decode_event, dumps, encode_event
from ordersource.domain import Event, fold
from ordersource.views import to_view
from projector.core.batch import decode
from projector.core.plan import Incoming, Snapshot, plan_batch
from tests.support.events import lifecycle, modified, paid, placed

pytestmark = pytest.mark.unit


def records(events: list[Event], partition: int = 0, first_offset: int = 0) -> list[Incoming]:
    return [
        decode(Incoming(partition, first_offset + i, e.order_id.encode(), encode_event(e)))
        for i, e in enumerate(events)
    ]


def snapshot(
    views: dict[str, Any] | None = None,
    checkpoints: dict[int, int] | None = None,
) -> Snapshot:
    return Snapshot(checkpoints=checkpoints or {}, views=views or {})


def test_consecutive_versions_fold_into_one_write_per_order() -> None:
    events = lifecycle("o1")
    plan = plan_batch(records(events), snapshot({"o1": None}))
    assert plan.applied == 4
    write = plan.orders["o1"]
    assert write.new == to_view(fold(events))  # type: ignore[arg-type]
    assert [v for v, _ in write.history] == [1, 2, 3, 4]
    assert plan.checkpoints == {0: 4}
    assert plan.expected == {0: None}


def test_versions_already_in_the_view_are_skipped() -> None:
    events = lifecycle("o1")
    stored = to_view(fold(events[:2]))  # type: ignore[arg-type]
    plan = plan_batch(records(events), snapshot({"o1": stored}))
    assert (plan.applied, plan.skipped) == (2, 2)
    assert [v for v, _ in plan.orders["o1"].history] == [3, 4]
    assert plan.orders["o1"].new["status"] == "shipped"


def test_records_below_the_checkpoint_are_skipped_without_decoding_rules() -> None:
    batch = records(lifecycle("o1"))
    plan = plan_batch(batch, snapshot({"o1": None}, {0: 2}))
    assert plan.skipped == 2
    assert plan.applied == 0  # versions 3 and 4 on an absent view: a gap
    assert [r.offset for r, _ in plan.parked] == [2, 3]
    assert plan.checkpoints == {0: 4}


def test_a_version_gap_is_parked_not_applied() -> None:
    batch = records([placed("o1"), paid("o1", 3, 500)])
    plan = plan_batch(batch, snapshot({"o1": None}))
    assert plan.orders["o1"].new["version"] == 1
    [(record, reason)] = plan.parked
    assert record.offset == 1
    assert "gap" in reason


def test_undecodable_records_become_dead_letters_and_move_the_checkpoint() -> None:
    poison = decode(Incoming(0, 0, b"k", b"{not json"))
    unknown = decode(Incoming(0, 1, b"k", b'{"type": "OrderExploded", "schema_version": 1}'))
    future = placed("o1").model_dump(mode="json") | {"schema_version": 99}
    from_future = decode(Incoming(0, 2, b"o1", encode_json(future)))
    tombstone = decode(Incoming(0, 3, b"o1", None))
    plan = plan_batch([poison, unknown, from_future, tombstone], snapshot())
    reasons = [reason for _, reason in plan.dead]
    assert len(reasons) == 4
    assert "not JSON" in reasons[0]
    assert "unknown event type" in reasons[1]
    assert "newer" in reasons[2]
    assert "tombstone" in reasons[3]
    assert plan.checkpoints == {0: 4}
    assert not plan.orders


def test_an_event_that_cannot_follow_its_state_is_a_dead_letter() -> None:
    plan = plan_batch(records([modified("o1", 1, 3)]), snapshot({"o1": None}))
    [(_, reason)] = plan.dead
    assert reason.startswith("cannot apply")


def test_stats_deltas_move_an_order_between_statuses() -> None:
    events = lifecycle("o1")
    stored = to_view(fold(events[:1]))  # type: ignore[arg-type]
    plan = plan_batch(records(events[1:], first_offset=1), snapshot({"o1": stored}))
    deltas = {k: v for k, v in plan.stats.items() if v}
    assert deltas == {"status:placed": -1, "status:shipped": 1, "currency:EUR:total_cents": 100}


def test_partitions_keep_their_own_checkpoints() -> None:
    batch = records([placed("a")], partition=0, first_offset=7)
    batch += records([placed("b")], partition=2, first_offset=3)
    plan = plan_batch(batch, snapshot({"a": None, "b": None}, {0: 7}))
    assert plan.checkpoints == {0: 8, 2: 4}
    assert plan.expected == {0: 7, 2: None}


def test_newest_event_time_is_the_latest_occurred_at() -> None:
    events = lifecycle("o1")
    plan = plan_batch(records(events), snapshot({"o1": None}))
    assert plan.newest_event_at == decode_event(encode_event(events[-1])).occurred_at


def encode_json(raw: dict[str, Any]) -> bytes:
    return dumps(raw)
