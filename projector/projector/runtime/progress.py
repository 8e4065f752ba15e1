"""Lag reporting: how far the applied checkpoint is from the end of each partition.

The end is the partition's last stable offset, read from Kafka for every assigned
partition — an empty one too (``projector.runtime.stable``). Why not simply ``end -
checkpoint``: the events topic is transactional, and every transaction ends with a
commit marker that takes an offset but is never delivered, so the checkpoint (last
applied record + 1) stays one or more offsets short of the end even when everything is
applied. A partition is caught up when every record below the end is applied: the
checkpoint is the end, or a read_committed probe from the checkpoint finds only markers
and aborted data up to it. Its lag is then 0, else ``end - checkpoint``. This only
affects reporting (and when a rebuild switches, ``projector.runtime.rebuild``), never where the
projector resumes.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from projector.core.metrics import ProjectorMetrics
from projector.runtime.consumer import CheckpointConsumer
from projector.runtime.stable import StableEnds
from projector.runtime.target import WriteTarget


class ProgressReporter:
    def __init__(
        self,
        consumer: Callable[[], CheckpointConsumer],
        target: WriteTarget,
        ends: StableEnds,
        metrics: ProjectorMetrics,
    ) -> None:
        self.consumer, self.target, self.ends, self.metrics = consumer, target, ends, metrics

    async def report(self) -> None:
        consumer = self.consumer()
        store = await self.target.store()
        assigned = sorted(consumer.assignment())
        if not assigned:
            return
        # Checkpoints before ends: a checkpoint only grows, so a batch applied in
        # between can only make the report look further behind, never ahead.
        checkpoints = await store.checkpoints()
        ends = await self.ends.measure({tp.partition for tp in assigned}, checkpoints)
        now = time.time()
        progress: dict[int, dict[str, Any]] = {}
        for tp in assigned:
            end = ends.lso[tp.partition]
            applied = checkpoints.get(tp.partition, 0)
            caught_up = tp.partition in ends.caught_up
            lag = 0 if caught_up else max(0, end - applied)
            self.metrics.lag.labels(partition=str(tp.partition)).set(lag)
            progress[tp.partition] = {
                "end_offset": end,
                "position": await consumer.position(tp),
                "applied_offset": applied,
                "lag": lag,
                "caught_up": caught_up,
                "reported_at": now,
            }
        await store.report_progress(progress)
