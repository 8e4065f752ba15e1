"""kafka-python 3.0.12 strands a group leader whose metadata-triggered rejoin finishes
while the caller is away from ``poll()`` (see ``command_service/decider/rejoin.py``).
On a real broker: the state is reached deterministically, ``stranded`` recognises it,
and ``unstick`` brings the member back to a stable assignment."""

from __future__ import annotations

import uuid

import pytest
from kafka import KafkaConsumer
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from kafka.structs import MemberState, TopicPartition

from command_service.decider.rejoin import stranded, unstick
from tests.support.kafka_infra import KafkaBroker
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration


class Recorder(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self) -> None:
        self.calls: list[str] = []

    def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        self.calls.append("revoked")

    def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        self.calls.append("assigned")


def test_a_stranded_leader_is_brought_back(kafka: KafkaBroker) -> None:
    topic = f"rejoin-{uuid.uuid4().hex[:8]}"
    kafka.create_topics([topic], partitions=3)
    listener = Recorder()
    consumer = KafkaConsumer(
        bootstrap_servers=kafka.bootstrap,
        group_id=topic,
        enable_auto_commit=False,
        session_timeout_ms=6000,
        heartbeat_interval_ms=1000,
    )
    try:
        wait_until(lambda: consumer.partitions_for_topic(topic), 30)
        consumer.subscribe([topic], listener=listener)

        def stable() -> bool:
            consumer.poll(timeout_ms=100)
            return consumer._coordinator.state is MemberState.STABLE and not (
                consumer._coordinator.need_rejoin()
            )

        wait_until(stable, 30, message="never joined")
        coordinator = consumer._coordinator

        # The leader learns that the metadata changed since its assignment (as after a
        # partition increase, or the first metadata arriving after the first join) ...
        coordinator._assignment_snapshot = {topic: {0}}
        consumer.poll(timeout_ms=0)  # ... starts the rejoin and returns at once ...
        assert coordinator.state is MemberState.REBALANCING
        # ... and the join finishes on the IO thread while the caller is elsewhere.
        wait_until(lambda: coordinator._join_task.is_done, 30, message="join never finished")
        calls_before = len(listener.calls)
        consumer.poll(timeout_ms=100)
        assert stranded(consumer), "kafka-python collected the join: the work-around is moot"
        assert len(listener.calls) == calls_before  # no assignment was ever delivered

        def recovered() -> bool:
            consumer.poll(timeout_ms=100)
            unstick(consumer)
            return coordinator.state is MemberState.STABLE and listener.calls[-1] == "assigned"

        wait_until(recovered, 30, message="the member stayed stranded")
        assert {tp.partition for tp in consumer.assignment()} == {0, 1, 2}
    finally:
        consumer.close(autocommit=False, timeout_ms=5000)
