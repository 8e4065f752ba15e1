"""Catch a partition's book up with the event log: read committed events to the end
(``ordersource.kafka_read.read_partition``, the one reader of a partition to its end)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from kafka import TopicPartition

from command_service.decider import records
from command_service.decider.book import FLUSH_EVERY, PartitionBook
from command_service.decider.ports import EventReader
from ordersource.codec import UndecodableEvent, decode_event
from ordersource.domain import FoldError
from ordersource.kafka_read import read_partition

log = logging.getLogger(__name__)


def catch_up(
    reader: EventReader,
    topic: str,
    book: PartitionBook,
    stop: Callable[[], bool] = lambda: False,
) -> int:
    """Fold every committed event of ``book``'s partition from ``book.next_offset`` to the
    end of the log into the book. Returns how many events were read.

    What it folds is written to the book's store every ``FLUSH_EVERY`` events and at the
    end. ``stop`` ends it early; the store is then consistent up to ``book.next_offset``
    and a later catch-up goes on from there."""
    tp = TopicPartition(topic, book.partition)
    reader.assign([tp])
    end = reader.end_offsets([tp])[tp]  # read_committed: the last stable offset
    started, count = time.perf_counter(), 0
    for record in read_partition(reader, tp, book.next_offset, end, stop=stop):
        count += 1
        book.next_offset = record.offset + 1
        try:
            event = decode_event(record.value)
            book.apply(event, records.request_hash(record.headers), record.offset)
        except (UndecodableEvent, FoldError) as exc:
            # The projector dead-letters these; the decider must not stall on them.
            book.skipped += 1
            log.error("partition %d offset %d unreadable: %s", tp.partition, record.offset, exc)
        if book.unflushed >= FLUSH_EVERY:
            book.flush()
    if not stop():
        book.next_offset = max(book.next_offset, end)
    book.flush()  # consistent up to next_offset, also when stopped early
    elapsed = time.perf_counter() - started
    if count or elapsed > 1.0:
        log.info(
            "partition %d caught up: %d events in %.2fs (%.0f events/s)",
            tp.partition,
            count,
            elapsed,
            count / elapsed if elapsed else 0.0,
        )
    return count
