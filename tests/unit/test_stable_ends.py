"""``projector.runtime.stable``: caught up against the last stable offset, probing only a
checkpoint below it, once per (checkpoint, LSO)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

from ordersource.settings import Settings
from projector.runtime.stable import StableEnds


class FakeConsumer:
    """A read_committed reader of a log given as {partition: (LSO, delivered offsets)}."""

    def __init__(self, log: Mapping[int, tuple[int, list[int]]]) -> None:
        self.log = log
        self.tp: Any = None
        self.at = 0

    def end_offsets(self, tps: list[Any], timeout_ms: int | None = None) -> dict[Any, int]:
        return {tp: self.log[tp.partition][0] for tp in tps}

    def assign(self, tps: list[Any]) -> None:
        self.tp = tps[0]

    def seek(self, tp: Any, offset: int) -> None:
        self.at = offset

    def poll(self, timeout_ms: int = 0, max_records: int | None = None) -> dict[Any, list[Any]]:
        lso, delivered = self.log[self.tp.partition]
        found = [o for o in delivered if self.at <= o < lso][:1]
        self.at = found[0] + 1 if found else lso  # past markers and aborted data
        return {self.tp: [SimpleNamespace(offset=o) for o in found]} if found else {}

    def position(self, tp: Any, timeout_ms: int | None = None) -> int:
        return self.at


def measure(ends: StableEnds, checkpoints: Mapping[int, int]) -> set[int]:
    return asyncio.run(ends.measure(ends_of(ends), checkpoints)).caught_up


def ends_of(ends: StableEnds) -> list[int]:
    return sorted(ends._consumer.log)


def test_caught_up_means_every_record_below_the_lso_is_applied() -> None:
    ends = StableEnds(Settings())
    ends._consumer = FakeConsumer(
        {
            0: (0, []),  # empty partition
            1: (5, [0, 1, 2, 3]),  # one transaction, its commit marker at 4
            2: (9, [0, 1, 2, 3, 5, 6, 7]),  # two transactions
            3: (7, [0, 1, 2]),  # a commit marker at 3, then an aborted transaction
        }
    )
    assert measure(ends, {1: 4, 2: 4, 3: 3}) == {0, 1, 3}
    assert ends.probes == 3
    assert measure(ends, {1: 4, 2: 4, 3: 3}) == {0, 1, 3}
    assert ends.probes == 3  # nothing moved: nothing probed again
    assert measure(ends, {1: 4, 2: 8, 3: 3}) == {0, 1, 2, 3}
    assert ends.probes == 4
    assert measure(ends, {1: 5, 2: 9, 3: 7}) == {0, 1, 2, 3}  # at the LSO: no probe
    assert ends.probes == 4


def test_a_partition_without_a_checkpoint_is_behind_until_probed_empty() -> None:
    ends = StableEnds(Settings())
    ends._consumer = FakeConsumer({0: (3, [0, 1]), 1: (2, [])})
    assert measure(ends, {}) == {1}  # partition 1 holds only an aborted transaction
