"""The decider's rebalance listener runs on kafka-python's IO thread (which also sends the
group heartbeats), so it must only flag and queue — never join threads or connect."""

from __future__ import annotations

import queue
import threading
from types import SimpleNamespace

from kafka import TopicPartition

from command_service.decider.book import PartitionBook
from command_service.decider.loop import Decider, _Listener
from command_service.decider.partition import OwnedPartition
from ordersource.settings import Settings


class Owned(SimpleNamespace):
    """Stands in for an owned partition whose catch-up would take long to stop."""

    def join(self, timeout: float | None = None) -> None:
        raise AssertionError("the listener joined a thread on the IO thread")


def test_listener_flags_revoked_partitions_and_queues_changes_in_order() -> None:
    owned = {p: Owned(revoked=threading.Event()) for p in (0, 1, 2)}
    decider = SimpleNamespace(partitions=owned, rebalances=queue.SimpleQueue())
    listener = _Listener(decider)  # type: ignore[arg-type]
    revoked = [TopicPartition("t", 0), TopicPartition("t", 2)]
    assigned = [TopicPartition("t", 0), TopicPartition("t", 2), TopicPartition("t", 3)]

    listener.on_partitions_revoked(revoked)
    listener.on_partitions_assigned(assigned)

    assert owned[0].revoked.is_set()  # an open transaction holding it is abandoned
    assert owned[2].revoked.is_set()
    assert not owned[1].revoked.is_set()
    assert set(owned) == {0, 1, 2}  # the poll loop, not the listener, releases them
    assert decider.rebalances.get_nowait() == ("revoked", revoked)
    assert decider.rebalances.get_nowait() == ("assigned", assigned)
    assert decider.rebalances.empty()


def test_the_poll_loop_applies_queued_changes_in_their_order() -> None:
    seen: list[tuple[str, list[int]]] = []
    decider = SimpleNamespace(
        rebalances=queue.SimpleQueue(),
        revoked=lambda tps: seen.append(("revoked", [tp.partition for tp in tps])),
        assigned=lambda tps: seen.append(("assigned", [tp.partition for tp in tps])),
    )
    decider.rebalances.put(("revoked", [TopicPartition("t", 1)]))
    decider.rebalances.put(("assigned", [TopicPartition("t", 1), TopicPartition("t", 2)]))
    Decider._rebalance(decider)  # type: ignore[arg-type]
    assert seen == [("revoked", [1]), ("assigned", [1, 2])]
    assert decider.rebalances.empty()


def test_partitions_are_reseeked_only_once_the_writer_has_fenced_its_predecessor() -> None:
    opened = threading.Event()
    writer = SimpleNamespace(
        is_alive=lambda: True,
        stopping=threading.Event(),
        fenced_at=None,
        stuck=lambda limit: False,
        backlog=0,
        opened=opened,
    )
    partition = OwnedPartition(TopicPartition("t", 0), PartitionBook(0))
    partition.needs_seek.set()
    seeks: list[int] = []
    paused: set[TopicPartition] = set()
    decider = SimpleNamespace(
        settings=Settings(),
        writer=writer,
        partitions={0: partition},
        consumer=SimpleNamespace(paused=lambda: paused, pause=paused.add, resume=paused.discard),
        _seek_committed=lambda tp: seeks.append(tp.partition),
        retired=[],
        turns=None,
        clients=None,
        courier=None,
    )
    partition.start_catch_up = lambda *args: None  # type: ignore[method-assign]

    Decider._tend(decider)  # type: ignore[arg-type]
    assert seeks == []  # the new producer has not fenced the old one yet
    assert partition.needs_seek.is_set()
    assert TopicPartition("t", 0) in paused  # not caught up: held
    opened.set()
    Decider._tend(decider)  # type: ignore[arg-type]
    assert seeks == [0]
    assert not partition.needs_seek.is_set()
    assert partition.epoch == 1


def test_a_revoked_partition_lets_go_of_its_book_and_store() -> None:
    partition = OwnedPartition(TopicPartition("t", 0), PartitionBook(0))
    released: list[int] = []
    forgotten: list[int] = []
    decider = SimpleNamespace(
        partitions={0: partition},
        writer=SimpleNamespace(wait_until_out_of=lambda numbers, timeout: True),
        stores=SimpleNamespace(release=released.append),
        snapshotter=SimpleNamespace(forget=forgotten.append),
    )
    Decider._release(decider, [0])  # type: ignore[arg-type]
    assert decider.partitions == {}
    assert partition.revoked.is_set()
    assert partition.book.retired  # a late flush of the old writer is dropped
    assert partition.book.flush() is False
    assert (released, forgotten) == ([0], [0])
