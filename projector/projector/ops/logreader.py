"""A fast reader of the events topic for replays: no consumer group, no Faust.

aiokafka with manual assignment, read_committed (like every reader of the log), big
fetches. Its fetcher prefetches in the background, so reading the next records
overlaps with committing the previous batch to Redis. ``stop`` bounds a partition
(records at or after it are never returned and the partition is paused once reached);
partitions without a bound are read to whatever end the caller asks for.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition  # type: ignore[import-untyped]

from ordersource.connections import aiokafka_options
from ordersource.settings import Settings
from projector.core.plan import Incoming

MAX_RECORDS = 20_000


class LogReader:
    def __init__(self, settings: Settings, partitions: list[int]) -> None:
        self.topic = settings.events_topic
        self.tps = [TopicPartition(self.topic, p) for p in partitions]
        self.stop: dict[int, int] = {}
        self._consumer: Any = AIOKafkaConsumer(
            **aiokafka_options(settings),
            client_id="orders-replay",
            group_id=None,
            enable_auto_commit=False,
            isolation_level="read_committed",
            fetch_max_bytes=64 * 1024 * 1024,
            max_partition_fetch_bytes=16 * 1024 * 1024,
        )

    async def start(self, start: Mapping[int, int] | None = None) -> None:
        """Begin at ``start`` (partition -> offset), the earliest offset elsewhere."""
        await self._consumer.start()
        self._consumer.assign(self.tps)
        await self._consumer.seek_to_beginning(*self.tps)
        for tp in self.tps:
            if start and tp.partition in start:
                self._consumer.seek(tp, start[tp.partition])

    async def close(self) -> None:
        await self._consumer.stop()

    async def positions(self) -> dict[int, int]:
        return {tp.partition: await self._consumer.position(tp) for tp in self.tps}

    async def reached(self, targets: Mapping[int, int]) -> bool:
        positions = await self.positions()
        return all(positions[p] >= t for p, t in targets.items())

    async def read(self, timeout_ms: int = 500) -> list[Incoming]:
        found = await self._consumer.getmany(timeout_ms=timeout_ms, max_records=MAX_RECORDS)
        batch: list[Incoming] = []
        for tp, records in found.items():
            stop = self.stop.get(tp.partition)
            for r in records:
                if stop is not None and r.offset >= stop:
                    break
                batch.append(Incoming(tp.partition, r.offset, r.key, r.value))
            if stop is not None and records and records[-1].offset + 1 >= stop:
                self._consumer.pause(tp)  # do not fetch what the bound excludes
        return batch
