"""Reading one partition read_committed up to its end, the one way every reader does it.

Readers that must see exactly the committed log up to a point — ``orders verify``'s fold,
``orders dlq``, the decider's catch-up — need the same few steps: a consumer with no
group and no auto-commit reading ``read_committed`` (``committed_reader``), assigned the
partition and seeked to the start, polled until its *position* reaches the end, and
records at or past the end dropped (``read_partition``). Why the position and not the
last record: the end is the last stable offset (what ``end_offsets`` answers a
read_committed consumer), and the offsets just below it are often a commit marker or
aborted data, which are never delivered; the position moves past them.

kafka-python (synchronous; the library is imported where the consumer is built).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

from ordersource.connections import kafka_options
from ordersource.settings import Settings

POLL_MS = 500


def committed_reader(settings: Settings, client_id: str, **options: Any) -> Any:
    """A kafka-python ``KafkaConsumer`` reading read_committed, with no group (manual
    assignment, nothing committed); ``options`` are passed on (fetch sizes, timeouts)."""
    from kafka import KafkaConsumer

    return KafkaConsumer(
        **kafka_options(settings),
        client_id=client_id,
        group_id=None,
        enable_auto_commit=False,
        isolation_level="read_committed",
        **options,
    )


def read_partition(
    consumer: Any,
    tp: Any,
    start: int | None = None,
    end: int | None = None,
    *,
    timeout_s: float | None = None,
    stop: Callable[[], bool] | None = None,
    max_records: int | None = None,
    poll_ms: int = POLL_MS,
) -> Iterator[Any]:
    """Every record of partition ``tp`` from ``start`` (None: the earliest) up to, not
    including, ``end`` (None: the partition's end when called — its last stable offset
    for a read_committed consumer), in offset order.

    ``consumer`` is assigned ``tp`` alone. ``stop`` is asked before every poll and ends
    the reading early; ``timeout_s`` bounds it (``TimeoutError``). The consumer's
    position is then where a later read would go on from."""
    consumer.assign([tp])
    if start is None:
        consumer.seek_to_beginning(tp)
    else:
        consumer.seek(tp, start)
    if end is None:
        end = int(consumer.end_offsets([tp])[tp])
    deadline = None if timeout_s is None else time.monotonic() + timeout_s

    def position() -> int | None:
        if deadline is None:
            return int(consumer.position(tp))
        # Bounded too: kafka-python's position() can wait on an offset reset or a leader
        # epoch check while Kafka is away, and answers None when its time is up.
        left_ms = max(1, int((deadline - time.monotonic()) * 1000))
        found = consumer.position(tp, timeout_ms=left_ms)
        return None if found is None else int(found)

    while (at := position()) is None or at < end:
        if stop is not None and stop():
            return
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError(f"reading {tp.topic} partition {tp.partition} took too long")
        for record in consumer.poll(timeout_ms=poll_ms, max_records=max_records).get(tp, []):
            if record.offset >= end:
                return
            yield record
