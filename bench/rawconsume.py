"""The consume ceiling: kafka-python reading the whole events topic, read_committed,
no decoding — what any Python reader of the log (decider catch-up, replay) could reach.

    python -m bench.rawconsume --bootstrap 127.0.0.1:9092 --topic orders.events
"""

from __future__ import annotations

import argparse
import json
import resource
import time

from kafka import KafkaConsumer, TopicPartition


def consume(bootstrap: str, topic: str) -> dict[str, float]:
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        isolation_level="read_committed",
        max_partition_fetch_bytes=8 * 1024 * 1024,  # its fastest; the decider's reader: 2 MiB
    )
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        ends = consumer.end_offsets(tps)
        started, count, size = time.perf_counter(), 0, 0
        deadline = started + 600
        while any(consumer.position(tp) < ends[tp] for tp in tps):
            if time.perf_counter() > deadline:
                raise TimeoutError("raw consume did not reach the end in 600 s")
            for records in consumer.poll(timeout_ms=500, max_records=5000).values():
                count += len(records)
                size += sum(len(r.value or b"") for r in records)
        seconds = time.perf_counter() - started
    finally:
        consumer.close()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu = usage.ru_utime + usage.ru_stime  # near ``seconds``: the client is CPU-bound
    return {"events": count, "seconds": seconds, "rate": count / seconds, "bytes": size,
            "cpu_s": round(cpu, 2)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    args = parser.parse_args()
    print(json.dumps(consume(args.bootstrap, args.topic)))


if __name__ == "__main__":
    main()
