"""The decider's rebalance listener runs on kafka-python's IO thread (which also sends the
group heartbeats), so it must only flag and queue — never join threads or connect."""

from __future__ import annotations

import queue
import threading
from types import SimpleNamespace

from kafka import TopicPartition

from command_service.decider.loop import Decider, _Listener


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
