"""How the projector reads its group's committed offsets on assignment (pure rules)."""

from __future__ import annotations

import pytest

from projector.offsets import Committed, marker
from projector.runtime.reset import GroupOffsets, detect

pytestmark = pytest.mark.unit

OURS = marker("1")
PARTS = {0, 1, 2}


def group(committed: dict[int, tuple[int, str]], earliest: int = 0) -> GroupOffsets:
    return GroupOffsets(
        {p: Committed(o, m) for p, (o, m) in committed.items()}, dict.fromkeys(PARTS, earliest)
    )


def test_own_marked_commits_are_progress_not_resets() -> None:
    offsets = group({0: (10, OURS), 1: (3, OURS), 2: (0, OURS)})
    assert detect(offsets, {0: 50, 1: 60, 2: 70}, PARTS, {}) is None


def test_kafka_tool_to_earliest_is_a_full_rebuild() -> None:
    plan = detect(group({0: (0, ""), 1: (0, ""), 2: (0, "")}), {0: 50, 1: 60}, PARTS, {})
    assert plan is not None
    assert plan.rebuild
    assert plan.offsets == {0: 0, 1: 0}  # partition 2 has nothing applied: nothing to redo


def test_a_reset_to_an_offset_is_a_rewind() -> None:
    plan = detect(group({0: (20, ""), 1: (0, ""), 2: (70, OURS)}), {0: 50, 1: 60, 2: 70}, PARTS, {})
    assert plan is not None
    assert not plan.rebuild
    assert plan.offsets == {0: 20, 1: 0}


def test_earliest_after_retention_counts_as_the_start() -> None:
    plan = detect(group({0: (5, "")}, earliest=5), {0: 50}, PARTS, {})
    assert plan is not None
    assert plan.rebuild


def test_forward_resets_are_refused_and_reported() -> None:
    plan = detect(group({0: (90, "")}), {0: 50}, PARTS, {})
    assert plan is not None
    assert plan.offsets == {}
    assert plan.ignored == {0: 90}


def test_a_reset_already_acted_on_is_not_acted_on_again() -> None:
    assert detect(group({0: (0, "")}), {0: 50}, PARTS, {0: 0}) is None
    plan = detect(group({0: (0, "")}), {0: 50}, PARTS, {0: 7})  # a newer reset: act
    assert plan is not None


def test_partitions_of_other_instances_are_left_alone() -> None:
    assert detect(group({0: (0, "")}), {0: 50}, {1, 2}, {}) is None
