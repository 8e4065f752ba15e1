"""The decider's rebalance listener runs on kafka-python's IO thread (which also sends the
group heartbeats), so it must only flag and queue — never join threads or connect."""

from __future__ import annotations

import queue
import threading
from types import SimpleNamespace

from kafka import TopicPartition

from command_service.decider.loop import Decider, _Listener


class Writer(SimpleNamespace):
    """Stands in for a PartitionWriter that would take long to stop."""

    def join(self, timeout: float | None = None) -> None:
        raise AssertionError("the listener joined a writer on the IO thread")


def test_listener_flags_revoked_writers_and_queues_changes_in_order() -> None:
    writers = {p: Writer(stopping=threading.Event()) for p in (0, 1, 2)}
    decider = SimpleNamespace(writers=writers, rebalances=queue.SimpleQueue())
    listener = _Listener(decider)  # type: ignore[arg-type]
    revoked = [TopicPartition("t", 0), TopicPartition("t", 2)]
    assigned = [TopicPartition("t", 0), TopicPartition("t", 2), TopicPartition("t", 3)]

    listener.on_partitions_revoked(revoked)
    listener.on_partitions_assigned(assigned)

    assert writers[0].stopping.is_set()
    assert writers[2].stopping.is_set()
    assert not writers[1].stopping.is_set()
    assert set(writers) == {0, 1, 2}  # the poll loop, not the listener, retires them
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
