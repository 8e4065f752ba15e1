"""Lag reporting: how far the applied checkpoint is from the end of each partition.

Why not simply ``end - checkpoint``: the events topic is transactional, and every
transaction ends with a commit marker that takes an offset but is never delivered. The
checkpoint (last applied record + 1) therefore stays one or more offsets short of the
end even when everything is applied. A partition counts as caught up when the consumer's
position (which does move past markers) has reached the end, everything Faust delivered
is applied, and both facts held on two reports in a row (so records between fetch and
delivery are not mistaken for markers). This only affects reporting, never where the
projector resumes.
"""

from __future__ import annotations

import time
from typing import Any, cast

from projector.kafka import CheckpointConsumer
from projector.service import Projection


class ProgressReporter:
    def __init__(self, projection: Projection) -> None:
        self.projection = projection
        self._previous: dict[int, tuple[int | None, int]] = {}

    async def report(self) -> None:
        projection = self.projection
        consumer = cast(CheckpointConsumer, projection.app.consumer)
        store = await projection.store()
        checkpoints = await store.checkpoints()
        now = time.time()
        progress: dict[int, dict[str, Any]] = {}
        for tp in sorted(consumer.assignment()):
            end = consumer.end_offset(tp)
            if end is None:
                continue  # nothing fetched yet: the end is unknown
            position = await consumer.position(tp)
            applied = checkpoints.get(tp.partition, 0)
            delivered = consumer.delivered_offset(tp)
            settled = (position is not None and position >= end) and (
                delivered is None or applied > delivered
            )
            sample = (delivered, applied)
            caught_up = settled and self._previous.get(tp.partition) == sample
            self._previous[tp.partition] = sample if settled else (None, -1)
            lag = 0 if caught_up else max(0, end - applied)
            projection.metrics.lag.labels(partition=str(tp.partition)).set(lag)
            progress[tp.partition] = {
                "end_offset": end,
                "position": position,
                "applied_offset": applied,
                "lag": lag,
                "caught_up": caught_up,
                "reported_at": now,
            }
        await store.report_progress(progress)
