"""The dead-letter topic as the operator sees it: list, re-decode, mark handled.

The projector sends a record it cannot project to the DLQ with headers ``reason``,
``source_topic``, ``source_partition``, ``source_offset`` (``projector.runtime.deadletters``). The
group ``{projector_group}-dlq`` never consumes; its committed offsets only say "dead
letters before this offset are handled". ``orders dlq replay`` re-decodes each
unhandled one with the current code (a deployed fix or upcaster); if some are now
readable, a blue/green rebuild projects them in log order (they are still in the
events topic at their source offsets), and the handled mark moves up to the first
dead letter that is still unreadable in each partition.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from kafka import TopicPartition

from ordersource.codec import UndecodableEvent, decode_event
from ordersource.kafka_read import committed_reader, read_partition
from ordersource.settings import Settings
from projector import offsets
from projector.ops.status import dlq_group


@dataclass(frozen=True)
class DeadLetter:
    partition: int
    offset: int
    reason: str
    source_partition: int | None
    source_offset: int | None
    value: bytes | None

    def preview(self, width: int = 60) -> str:
        text = (self.value or b"").decode("utf-8", errors="replace").replace("\n", " ")
        return text if len(text) <= width else text[: width - 1] + "…"

    def redecode(self) -> str | None:
        """None if the current code reads it, else why not."""
        try:
            decode_event(self.value)
        except UndecodableEvent as exc:
            return exc.reason
        return None


def read(
    settings: Settings, admin: Any, *, handled_too: bool, timeout_s: float = 30.0
) -> list[DeadLetter]:
    topic = settings.dlq_topic
    ends = offsets.ends(admin, topic)
    start = offsets.earliest(admin, topic)
    if not handled_too:
        marks = offsets.committed(admin, dlq_group(settings), topic)
        start = {p: max(o, marks[p].offset if p in marks else 0) for p, o in start.items()}
    consumer = committed_reader(settings, "orders-dlq")
    found: list[DeadLetter] = []
    try:
        deadline = time.monotonic() + timeout_s
        for p in sorted(ends):
            left = max(0.0, deadline - time.monotonic())
            records = read_partition(
                consumer, TopicPartition(topic, p), start[p], ends[p], timeout_s=left
            )
            found += [_dead_letter(r) for r in records]
    finally:
        consumer.close()
    return sorted(found, key=lambda d: (d.partition, d.offset))


def mark_handled(settings: Settings, admin: Any, unreadable: list[DeadLetter]) -> dict[int, int]:
    """Move the handled mark to the end of each partition, or to its first still
    unreadable dead letter (so ``dlq list`` keeps showing that one and what follows)."""
    topic = settings.dlq_topic
    marks = offsets.ends(admin, topic)
    for letter in unreadable:
        marks[letter.partition] = min(marks[letter.partition], letter.offset)
    return offsets.reset(admin, dlq_group(settings), topic, marks)


def _dead_letter(record: Any) -> DeadLetter:
    headers = {k: v.decode("utf-8", errors="replace") for k, v in record.headers or []}

    def number(name: str) -> int | None:
        text = headers.get(name, "")
        return int(text) if text.lstrip("-").isdigit() else None

    return DeadLetter(
        record.partition,
        record.offset,
        headers.get("reason", "(no reason header)"),
        number("source_partition"),
        number("source_offset"),
        record.value,
    )
