"""``ordersource.kafka_read.read_partition``: one partition, read_committed, to its end —
past commit markers and aborted data that are never delivered, nothing at or past the end."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, NamedTuple

import pytest

from ordersource.kafka_read import read_partition

pytestmark = pytest.mark.unit


class FakeReader:
    """A read_committed consumer of one partition: ``delivered`` offsets below ``lso``
    come back (two per poll); the offsets between are markers or aborted records."""

    def __init__(self, lso: int, delivered: list[int]) -> None:
        self.lso, self.delivered = lso, delivered
        self.at, self.polls = -1, 0

    def assign(self, tps: list[Any]) -> None:
        assert len(tps) == 1

    def seek_to_beginning(self, tp: Any) -> None:
        self.at = 0

    def seek(self, tp: Any, offset: int) -> None:
        self.at = offset

    def end_offsets(self, tps: list[Any]) -> dict[Any, int]:
        return {tp: self.lso for tp in tps}

    def position(self, tp: Any, timeout_ms: int | None = None) -> int:
        return self.at

    def poll(self, timeout_ms: int, max_records: int | None = None) -> dict[Any, list[Any]]:
        self.polls += 1
        ahead = [o for o in self.delivered if self.at <= o < self.lso]
        found, later = ahead[:2], ahead[2:]
        # The position moves past what was read, and past markers up to the next record.
        self.at = later[0] if later else self.lso
        return {TP: [SimpleNamespace(offset=o, value=str(o).encode()) for o in found]}


class Partition(NamedTuple):
    topic: str
    partition: int


TP = Partition("orders.events", 0)


def offsets(reader: FakeReader, **kwargs: Any) -> list[int]:
    return [r.offset for r in read_partition(reader, TP, **kwargs)]


def test_reads_every_record_below_the_end_past_markers() -> None:
    # Two transactions (markers at 3 and 6), one aborted (7-8), its marker at 9.
    reader = FakeReader(lso=10, delivered=[0, 1, 2, 4, 5])
    assert offsets(reader) == [0, 1, 2, 4, 5]
    assert reader.position(TP) == 10


def test_from_an_offset_up_to_a_given_end() -> None:
    reader = FakeReader(lso=10, delivered=[0, 1, 2, 4, 5, 8])
    assert offsets(reader, start=2, end=6) == [2, 4, 5]


def test_an_empty_range_polls_nothing() -> None:
    reader = FakeReader(lso=4, delivered=[0, 1, 2])
    assert offsets(reader, start=4) == []
    assert reader.polls == 0


def test_stop_ends_it_early() -> None:
    reader = FakeReader(lso=10, delivered=list(range(10)))
    assert offsets(reader, stop=lambda: reader.polls >= 2) == [0, 1, 2, 3]


def test_a_reader_that_never_reaches_the_end_times_out() -> None:
    class Stuck(FakeReader):
        def poll(self, timeout_ms: int, max_records: int | None = None) -> dict[Any, list[Any]]:
            return {}

    with pytest.raises(TimeoutError):
        offsets(Stuck(lso=3, delivered=[0, 1, 2]), timeout_s=0.01)
