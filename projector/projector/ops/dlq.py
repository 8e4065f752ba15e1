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


def dlq_group(settings: Settings) -> str:
    """The consumer group whose committed offsets mark dead letters as handled."""
    return f"{settings.projector_group}-dlq"


@dataclass(frozen=True)
class DeadLetter:
    partition: int
    offset: int
    reason: str
    source_partition: int | None
    source_offset: int | None
    value: bytes | None
    """The record's value, or (read with ``cut``) its first bytes."""
    size: int = 0
    """The value's full size in bytes."""
    verdict: tuple[str | None] | None = None
    """``(why unreadable or None,)`` when decided as it was read (``read(cut=...)``)."""

    def preview(self, width: int = 60) -> str:
        text = (self.value or b"").decode("utf-8", errors="replace").replace("\n", " ")
        return text if len(text) <= width else text[: width - 1] + "…"

    def redecode(self) -> str | None:
        """None if the current code reads it, else why not."""
        if self.verdict is not None:
            return self.verdict[0]
        return _why_unreadable(self.value)


def _why_unreadable(value: bytes | None) -> str | None:
    try:
        decode_event(value)
    except UndecodableEvent as exc:
        return exc.reason
    return None


def read(
    settings: Settings,
    admin: Any,
    *,
    handled_too: bool,
    timeout_s: float = 30.0,
    per_partition: int | None = None,
    most: int | None = None,
    consumer: Any = None,
    cut: int | None = None,
) -> list[DeadLetter]:
    """The dead letters, oldest first: at most ``per_partition`` of each partition and
    ``most`` in all (None: all). ``consumer``: a ``committed_reader`` to use (a process
    that reads often keeps one); without it one is made for this call and closed.
    ``cut``: keep only the first ``cut`` bytes of each value, re-decoding it (with the
    current code) as it is read — memory stays bounded by ``cut`` per letter."""
    topic = settings.dlq_topic
    ends = offsets.ends(admin, topic)
    start = offsets.earliest(admin, topic)
    if not handled_too:
        marks = offsets.committed(admin, dlq_group(settings), topic)
        start = {p: max(o, marks[p].offset if p in marks else 0) for p, o in start.items()}
    if per_partition is not None:
        ends = {p: min(end, start[p] + per_partition) for p, end in ends.items()}
    own = consumer is None
    reader = committed_reader(settings, "orders-dlq") if own else consumer
    found: list[DeadLetter] = []
    try:
        deadline = time.monotonic() + timeout_s
        for p in sorted(ends):
            if most is not None:
                ends[p] = min(ends[p], start[p] + max(0, most - len(found)))
            if start[p] >= ends[p]:
                continue
            left = max(0.0, deadline - time.monotonic())
            records = read_partition(
                reader, TopicPartition(topic, p), start[p], ends[p], timeout_s=left
            )
            found += [_dead_letter(r, cut) for r in records]
    finally:
        if own:
            reader.close()
    return sorted(found, key=lambda d: (d.partition, d.offset))


@dataclass(frozen=True)
class Triage:
    """Unhandled dead letters sorted by whether the current code reads them."""

    readable: list[DeadLetter]
    unreadable: list[tuple[DeadLetter, str]]
    """With why not."""

    @property
    def letters(self) -> int:
        return len(self.readable) + len(self.unreadable)


def triage(letters: list[DeadLetter]) -> Triage:
    readable: list[DeadLetter] = []
    unreadable: list[tuple[DeadLetter, str]] = []
    for letter in letters:
        why = letter.redecode()
        if why is None:
            readable.append(letter)
        else:
            unreadable.append((letter, why))
    return Triage(readable, unreadable)


def mark_through(settings: Settings, admin: Any, partition: int, offset: int) -> dict[int, int]:
    """Mark the dead letters of ``partition`` up to and including ``offset`` handled (the
    mark never moves back, nor past the partition's end; other partitions are left as
    they are). Answers the mark."""
    topic = settings.dlq_topic
    ends = offsets.ends(admin, topic)
    if partition not in ends:
        raise ValueError(f"{topic} has no partition {partition}")
    now = _marks(settings, admin).get(partition, 0)
    target = min(ends[partition], max(now, offset + 1))
    return offsets.reset(admin, dlq_group(settings), topic, {partition: target})


def mark_handled(
    settings: Settings, admin: Any, read: list[DeadLetter], unreadable: list[DeadLetter]
) -> dict[int, int]:
    """After a replay: move each partition's handled mark past the dead letters that were
    ``read`` (and so triaged), or to its first still ``unreadable`` one (so ``dlq list``
    keeps showing that one and what follows). Dead letters that arrived after the read
    stay unhandled, and a mark someone moved further meanwhile stays where it is: a mark
    never moves back. Answers the marks moved."""
    marks: dict[int, int] = {}
    for letter in read:
        marks[letter.partition] = max(marks.get(letter.partition, 0), letter.offset + 1)
    for letter in unreadable:
        marks[letter.partition] = min(marks[letter.partition], letter.offset)
    if not marks:
        return {}
    now = _marks(settings, admin)
    marks = {p: max(mark, now.get(p, 0)) for p, mark in marks.items()}
    return offsets.reset(admin, dlq_group(settings), settings.dlq_topic, marks)


def _marks(settings: Settings, admin: Any) -> dict[int, int]:
    committed = offsets.committed(admin, dlq_group(settings), settings.dlq_topic)
    return {p: c.offset for p, c in committed.items()}


def counts(settings: Settings, admin: Any) -> tuple[int, int]:
    """(dead letters in the topic, of which unhandled)."""
    topic = settings.dlq_topic
    end, start = offsets.ends(admin, topic), offsets.earliest(admin, topic)
    handled = offsets.committed(admin, dlq_group(settings), topic)
    records = sum(end[p] - start[p] for p in end)
    unhandled = sum(end[p] - max(start[p], handled[p].offset if p in handled else 0) for p in end)
    return records, unhandled


def _dead_letter(record: Any, cut: int | None = None) -> DeadLetter:
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
        record.value if cut is None or record.value is None else record.value[:cut],
        len(record.value or b""),
        None if cut is None else (_why_unreadable(record.value),),
    )
