"""Reading the real event log back in tests: every committed event, with its position
(through ``ordersource.kafka_read``, the readers' one way to a partition's end)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from kafka import KafkaConsumer, TopicPartition

from ordersource.codec import decode_event
from ordersource.domain import Event
from ordersource.kafka_read import read_partition


@dataclass(frozen=True)
class Logged:
    partition: int
    offset: int
    event: Event


def read_log(
    env: Mapping[str, str],
    topic_var: str = "ORDERS_EVENTS_TOPIC",
    skip: Collection[tuple[int, int]] = (),
) -> list[Logged]:
    """All committed events of the topic, partition by partition, in log order;
    ``skip``: (partition, offset) of records a test wrote itself (poison)."""
    consumer = KafkaConsumer(
        bootstrap_servers=env["ORDERS_KAFKA_BOOTSTRAP"],
        enable_auto_commit=False,
        isolation_level="read_committed",
    )
    try:
        topic = env[topic_var]
        out: list[Logged] = []
        for partition in sorted(consumer.partitions_for_topic(topic)):
            tp = TopicPartition(topic, partition)
            out += [
                Logged(partition, r.offset, decode_event(r.value))
                for r in read_partition(consumer, tp, timeout_s=120)
                if (partition, r.offset) not in skip
            ]
        return out
    finally:
        consumer.close()


def versions_by_order(logged: list[Logged]) -> dict[str, list[int]]:
    versions: dict[str, list[int]] = defaultdict(list)
    for entry in logged:
        versions[entry.event.order_id].append(entry.event.version)
    return dict(versions)


def assert_contiguous(logged: list[Logged]) -> None:
    """G2: per order, versions in log order are exactly 1..n."""
    for order_id, versions in versions_by_order(logged).items():
        assert versions == list(range(1, len(versions) + 1)), f"{order_id}: {versions}"
