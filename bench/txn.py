"""One transactional writer committing back to back, as a busy decider partition does:
the time per transaction (begin, send, offsets, commit) for several ``retry_backoff_ms``.

The broker answers a transaction that starts right after the previous commit with
CONCURRENT_TRANSACTIONS while it still writes that commit's markers; kafka-python sleeps
``retry_backoff_ms`` before retrying. The decider uses 10 ms (``TXN_RETRY_BACKOFF_MS``
in ``command_service.decider.clients``).
Needs a running broker (``make start-kafka``):

    python -m bench.txn --bootstrap 127.0.0.1:9092 --backoff 100 20 10 5
"""

from __future__ import annotations

import argparse
import statistics
import time
import uuid

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import KafkaAdminClient, NewTopic
from kafka.structs import OffsetAndMetadata


def measure(bootstrap: str, backoff_ms: int, count: int) -> list[float]:
    name = f"bench-txn-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic(name, 1, 1), NewTopic(f"{name}-in", 1, 1)])
    admin.close()
    source = TopicPartition(f"{name}-in", 0)
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=name, enable_auto_commit=False)
    consumer.subscribe([source.topic])
    deadline = time.monotonic() + 30
    while not consumer.assignment() and time.monotonic() < deadline:
        consumer.poll(timeout_ms=200)
    producer = KafkaProducer(
        bootstrap_servers=bootstrap,
        transactional_id=name,
        acks="all",
        retry_backoff_ms=backoff_ms,
    )
    producer.init_transactions()
    took = []
    for i in range(count):
        started = time.perf_counter()
        producer.begin_transaction()
        producer.send(name, b"x" * 300, partition=0)
        offsets = {source: OffsetAndMetadata(i + 1, "", -1)}
        producer.send_offsets_to_transaction(offsets, consumer.group_metadata())
        producer.commit_transaction()
        took.append((time.perf_counter() - started) * 1000)
    producer.close()
    consumer.close(autocommit=False)
    return sorted(took)


def quantile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--backoff", type=int, nargs="+", default=[100, 20, 10, 5])
    parser.add_argument("--count", type=int, default=200)
    args = parser.parse_args()
    print("| retry_backoff_ms | p50 ms | p90 ms | p99 ms | transactions/s |")
    print("|---|---|---|---|---|")
    for backoff in args.backoff:
        took = measure(args.bootstrap, backoff, args.count)
        rate = len(took) / (sum(took) / 1000)
        print(
            f"| {backoff} | {statistics.median(took):.1f} | {quantile(took, 0.9):.1f} "
            f"| {quantile(took, 0.99):.1f} | {rate:.0f} |"
        )


if __name__ == "__main__":
    main()
