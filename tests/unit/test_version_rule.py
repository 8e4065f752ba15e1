"""One version rule for every reader of the log: the projector's planner and
``orders verify`` fold any record sequence (duplicates, gaps, unreadable records) alike.

``verify`` is the checker of the projector; if the two read the log by different rules,
a projector bug could pass the check (or a clean projection fail it). Both call
``ordersource.domain.step``; this property test holds them to it.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ordersource.codec import encode_event
from ordersource.domain import Step, evolve, step
from ordersource.views import to_view
from projector.core.batch import decode
from projector.core.plan import Incoming, Snapshot, plan_batch
from projector.ops.verify import fold_values
from tests.support.events import lifecycle, modified, placed

pytestmark = pytest.mark.unit

STREAMS = {oid: lifecycle(oid) for oid in ("a", "b", "c")}
VALUES = [encode_event(e) for events in STREAMS.values() for e in events]
UNREADABLE = [b"not json", b'{"type":"OrderPlaced"}', None]


def test_the_rule_itself() -> None:
    one = lifecycle("o")
    state = None
    assert step(state, one[0]) is Step.NEXT
    assert step(state, one[1]) is Step.GAP
    state = evolve(state, one[0])
    assert step(state, one[0]) is Step.DUPLICATE
    assert step(state, one[1]) is Step.NEXT
    assert step(state, one[2]) is Step.GAP
    assert step(state, placed("o")) is Step.DUPLICATE
    assert step(state, modified("o", 1, 3)) is Step.DUPLICATE


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.sampled_from(VALUES + UNREADABLE), max_size=40),
    st.integers(min_value=0, max_value=40),
)
def test_planner_and_verify_fold_any_sequence_alike(values: list[bytes | None], cut: int) -> None:
    records = [decode(Incoming(0, i, b"k", v)) for i, v in enumerate(values)]
    folded = fold_values(values)

    # The planner in two batches (cut anywhere), the second on what the first wrote.
    first = plan_batch(records[:cut], Snapshot({}, {}))
    views = {oid: w.new for oid, w in first.orders.items()}
    history = {oid: dict(w.history) for oid, w in first.orders.items()}
    rest = [r for r in records if r.offset >= first.checkpoints.get(0, 0)]
    second = plan_batch(rest, Snapshot(dict(first.checkpoints), dict(views)))
    for oid, write in second.orders.items():
        views[oid] = write.new
        history.setdefault(oid, {}).update(write.history)

    assert views == {oid: to_view(state) for oid, state in folded.states.items()}
    assert history == folded.history
    assert first.applied + second.applied == folded.events
