"""A work-around for a kafka-python 3.0.12 consumer-group bug that strands a member.

When the group *leader* rejoins because the topic metadata changed since its last
assignment (it happens at nearly every start: the first assignment is made before the
subscribed topic's metadata arrived), ``need_rejoin()`` is true only because of that
metadata difference. The join then runs as a task on the consumer's IO thread. If
``poll()`` returns before the task is done (its timeout) and the task completes while
the caller is elsewhere, the leader's own assignment has already equalised the
metadata snapshots: the next ``poll()`` sees ``need_rejoin()`` false, never collects
the finished join, never re-enables heartbeats and never calls the rebalance listener.
The member stays "rebalancing" with nothing assigned, the broker drops it after the
session timeout, and nothing brings it back — a decider that is alive, silent and
decides nothing. ``tests/integration/test_kafka_rejoin.py`` reproduces it on a real
broker.

``unstick`` recognises that state after a ``poll()`` and asks for a fresh rejoin, which
``poll()`` then carries out normally (one extra rebalance).
"""

from __future__ import annotations

import logging

from kafka import KafkaConsumer
from kafka.structs import MemberState

log = logging.getLogger(__name__)


def stranded(consumer: KafkaConsumer) -> bool:
    """A finished join that ``poll()`` will never collect. These are kafka-python
    internals (pinned in constraints.txt): if a release renames them, this answers
    False — the work-around stops, the decider goes on — and test_kafka_rejoin fails."""
    coordinator = getattr(consumer, "_coordinator", None)
    task = getattr(coordinator, "_join_task", None)
    if coordinator is None or not hasattr(coordinator, "need_rejoin"):
        return False
    return bool(
        getattr(coordinator, "state", None) is MemberState.REBALANCING
        and task is not None
        and getattr(task, "is_done", False)
        and not coordinator.need_rejoin()
    )


def unstick(consumer: KafkaConsumer) -> bool:
    """Call after ``poll()``; returns True if it had to ask for a new rejoin."""
    if not stranded(consumer):
        return False
    log.warning("kafka-python left a finished rebalance uncollected; rejoining the group")
    consumer._coordinator.request_rejoin()
    return True
