"""Where each partition of the events topic really ends, and whether a checkpoint has
reached it: the projector's measure of "caught up".

The end is the **last stable offset** (LSO), read from Kafka with read_committed (the
``ListOffsets`` answer for that isolation level), for every partition asked for —
an empty one too (its LSO is its start). Faust's own idea of the end is no help: it
knows a partition's end only after fetching from it (never, for an empty partition),
and its position stops short of a trailing commit marker.

A partition is caught up when every record below the LSO is applied. The checkpoint is
the offset after the last applied record, so when it equals the LSO that is plain; when
it is below, the offsets in between may be only commit/abort markers or aborted data,
none of which is ever delivered. The probe tells: a read_committed consumer seeked to
the checkpoint that returns no record below the LSO while its position reaches the LSO
has shown that nothing below it is left to apply. The answer for a (checkpoint, LSO)
pair never changes (records below the LSO are fixed), so it is remembered and a
partition is probed again only once its checkpoint or its LSO moved.

One long-lived kafka-python consumer (no group, manual assignment) does both, built by
``ordersource.kafka_read.committed_reader``, in a worker thread (``asyncio.to_thread``)
and bounded by ``PROBE_TIMEOUT_S``; ``close`` ends it on shutdown.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ordersource.kafka_read import committed_reader, read_partition
from ordersource.settings import Settings

PROBE_TIMEOUT_S = 5.0
"""The longest one measurement (LSOs and probes) may take; what it did not reach stays
"not caught up" until the next report."""
POLL_MS = 100


@dataclass
class Ends:
    lso: dict[int, int]
    caught_up: set[int] = field(default_factory=set)


class StableEnds:
    def __init__(self, settings: Settings, client_id: str = "orders-projector-ends") -> None:
        self.settings, self.client_id = settings, client_id
        self.topic = settings.events_topic
        self._consumer: Any = None
        self._lock = threading.Lock()
        self._known: dict[int, tuple[int, int, bool]] = {}
        """partition -> (checkpoint, LSO, caught up) as last proven."""
        self.probes = 0
        """Probes run so far: one per partition and (checkpoint, LSO) at most."""

    async def measure(self, partitions: Iterable[int], checkpoints: Mapping[int, int]) -> Ends:
        """The LSO of each partition and the ones whose checkpoint has reached it."""
        work = asyncio.to_thread(self._measure, sorted(partitions), dict(checkpoints))
        return await asyncio.wait_for(work, PROBE_TIMEOUT_S + 1.0)

    async def close(self) -> None:
        await asyncio.to_thread(self._close)

    def _measure(self, partitions: list[int], checkpoints: dict[int, int]) -> Ends:
        deadline = time.monotonic() + PROBE_TIMEOUT_S
        if not self._lock.acquire(timeout=PROBE_TIMEOUT_S):
            raise TimeoutError("the previous end-offset measurement is still running")
        try:
            from kafka import TopicPartition

            consumer = self._client()
            tps = [TopicPartition(self.topic, p) for p in partitions]
            found = consumer.end_offsets(tps, timeout_ms=int(PROBE_TIMEOUT_S * 1000))
            ends = Ends({tp.partition: int(offset) for tp, offset in found.items()})
            for p in partitions:
                lso, applied = ends.lso[p], checkpoints.get(p, 0)
                if applied >= lso:
                    ends.caught_up.add(p)
                    continue
                known = self._known.get(p)
                if known is not None and known[:2] == (applied, lso):
                    if known[2]:
                        ends.caught_up.add(p)
                    continue
                settled = self._probe(TopicPartition(self.topic, p), applied, lso, deadline)
                if settled is None:
                    continue  # out of time: not caught up on this report
                self._known[p] = (applied, lso, settled)
                if settled:
                    ends.caught_up.add(p)
            return ends
        finally:
            self._lock.release()

    def _probe(self, tp: Any, start: int, lso: int, deadline: float) -> bool | None:
        """True if no record in [start, lso) is delivered to a read_committed reader."""
        self.probes += 1
        remaining = deadline - time.monotonic()
        try:
            records = read_partition(
                self._consumer, tp, start, lso, timeout_s=remaining, poll_ms=POLL_MS
            )
            delivered = next(records, None)
        except TimeoutError:
            return None
        return delivered is None

    def _client(self) -> Any:
        if self._consumer is None:
            self._consumer = committed_reader(
                self.settings,
                self.client_id,
                auto_offset_reset="earliest",
                max_poll_records=1,
                max_partition_fetch_bytes=64 * 1024,
                request_timeout_ms=15_000,
            )
        return self._consumer

    def _close(self) -> None:
        with self._lock:
            if self._consumer is not None:
                self._consumer.close()
                self._consumer = None
