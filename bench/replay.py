"""Replay throughput: how fast ``orders replay --blue-green`` builds a generation.

Writes N events (N/5 orders x 5 events, transactional, like the decider) into a fresh
events topic on ``ORDERS_KAFKA_BOOTSTRAP``, then builds a view generation from it with
the replay builder (``projector.ops.replay.Builder``: the projector's own batch handler and
Redis store, fed without Faust) into ``ORDERS_REDIS_URL`` and reports events/s. The
generation is never made current and is dropped afterwards, and the topic deleted, so
it is safe next to running services. Settings come from ``ORDERS_*`` like the CLI.

    ORDERS_KAFKA_BOOTSTRAP=127.0.0.1:9092 .venv/bin/python bench/replay.py --events 100000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient
from redis.asyncio import Redis

from ordersource.codec import encode_event, event_headers
from ordersource.settings import Settings
from projector.ops import offsets
from projector.ops.replay import Builder, tune_gc
from projector.store import generations

TEMPLATE_ID, TEMPLATE_CUSTOMER = "ORDERXXXXXXXX", "CUSTXXXXXXXX"


def templates() -> list[tuple[bytes, list[tuple[str, bytes]]]]:
    """The five events of one order, encoded once with placeholder ids (fast to copy)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the repo root: tests/
    from tests.support.replays import five_events

    return [
        (encode_event(e), event_headers(e))
        for e in five_events(TEMPLATE_ID, TEMPLATE_CUSTOMER, timedelta(0))
    ]


def records(orders: int) -> Iterator[tuple[bytes, bytes, list[tuple[str, bytes]]]]:
    shapes = templates()
    for i in range(orders):
        order_id, customer = f"o{i:012d}".encode(), f"c{i % 1000:011d}".encode()
        for value, headers in shapes:
            yield (
                order_id,
                value.replace(TEMPLATE_ID.encode(), order_id).replace(
                    TEMPLATE_CUSTOMER.encode(), customer
                ),
                headers,
            )


def produce(settings: Settings, topic: str, orders: int, chunk: int = 50_000) -> float:
    producer = KafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap,
        transactional_id=f"bench-replay-{uuid.uuid4().hex}",
        acks="all",
        linger_ms=20,
        batch_size=1024 * 1024,
        max_request_size=8 * 1024 * 1024,
    )
    began = time.monotonic()
    producer.init_transactions()
    producer.begin_transaction()
    for n, (key, value, headers) in enumerate(records(orders), start=1):
        producer.send(topic, key=key, value=value, headers=headers)
        if n % chunk == 0:
            producer.commit_transaction()
            producer.begin_transaction()
    producer.commit_transaction()
    producer.close()
    return time.monotonic() - began


async def build(settings: Settings) -> tuple[int, float]:
    redis = Redis.from_url(settings.redis_url)
    admin = offsets.admin_client(settings, "bench-replay")
    generation = await generations.allocate(redis, generations.BUILDING, "bench")
    try:
        began = time.monotonic()
        async with Builder(settings, redis, admin, generation) as builder:
            await builder.catch_up(await builder.ends(), None)
        return builder.events, time.monotonic() - began
    finally:
        await generations.drop(redis, generation)
        admin.close()
        await redis.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--partitions", type=int, default=Settings().partitions)
    args = parser.parse_args()
    topic = f"bench-replay-{uuid.uuid4().hex[:8]}.events"
    settings = Settings(events_topic=topic, partitions=args.partitions)
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    admin.create_topics({topic: {"num_partitions": args.partitions, "replication_factor": 1}})
    try:
        produced = produce(settings, topic, args.events // 5)
        tune_gc()
        events, seconds = asyncio.run(build(settings))
    finally:
        admin.delete_topics([topic])
        admin.close()
    result = {
        "events": events,
        "partitions": args.partitions,
        "produce_s": round(produced, 2),
        "replay_s": round(seconds, 2),
        "replay_events_per_s": round(events / seconds),
        "cpus": os.cpu_count(),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
