"""Snapshots of a partition's decider state, kept in Kafka itself: a cache of the event
log's fold, never a source of truth.

Format. The snapshots topic (``ORDERS_SNAPSHOTS_TOPIC``, compacted) has a partition per
partition of the commands topic; decider partition N writes to partition N. A snapshot
is a consistent copy of the partition's store file (``StateStore.copy_to``) sent as
chunks of ``CHUNK_BYTES`` keyed ``N/<snapshot id>/<i>``, then one header keyed ``N``
(JSON, ``"kind": "header"``): the position the state is folded up to (``next_offset``
and the last folded event, the *tip*), the store schema, the file's size, SHA-256,
chunk count and where chunk 0 is, and who wrote it (transactional id, producer epoch,
group generation: for the post-mortem). Compaction keeps the newest header per
partition; the previous snapshot's chunks are tombstoned once a new header is written,
and then the header is written once more, so that the newest header is the partition's
last record: finding it reads a few records, never back through the tombstones into
the chunks (that read grew with the state: 1.8 s of a restart at 10M events).

Write order, and why kill -9 mid-write is safe: all chunks are written and acknowledged
before the header that names them, and the old chunks are tombstoned only after the new
header is acknowledged. A writer killed before its header leaves orphan chunks under
keys no header names; the newest header is still the previous one and its chunks are
intact. Killed after the header, the new snapshot is complete (the tombstones are mere
clean-up). The orphans of a killed attempt are tombstoned by the next publish
(``stray_chunks``), or compaction would keep them forever.

Validity (``restore``): the newest header is used only if it is of this store schema
(else ``schema``), newer than the local store (else quietly not used), its tip is, at
exactly its offset, a record of the committed (read_committed) event log with that
event id and its ``next_offset`` is within the log (else ``tip``: a fenced writer's
aborted events, a topic recreated since), and its chunks are all there, of the right
size and checksum, and make a store file whose meta agrees with the header (else
``corrupt``). An ignored snapshot is logged and counted
(``orders_decider_snapshots_ignored_total{reason}``); the partition is then rebuilt
from the log, as without snapshots.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import time
import uuid
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from kafka import KafkaProducer, TopicPartition
from kafka.errors import KafkaError, KafkaTimeoutError

from command_service.decider import metrics
from command_service.decider.store import SCHEMA, Tip, UnusableStore, read_meta
from ordersource import codec
from ordersource.connections import kafka_options
from ordersource.kafka_read import read_partition
from ordersource.settings import Settings
from ordersource.topics import TopicMisconfigured, ensure_topics

log = logging.getLogger(__name__)

CHUNK_BYTES = 512 * 1024
"""A snapshot is sent in records of this many bytes (the last one shorter)."""
IN_FLIGHT_CHUNKS = 8
"""Chunks sent but not yet acknowledged at most: what a publish holds in memory."""
MAX_MESSAGE_BYTES = 1024 * 1024
"""The topic's ``max.message.bytes`` and the producer's ``max_request_size``: a chunk
and its record overhead fit."""
HEADER_VERSION = 1
"""The header's own layout (the state's is ``store.SCHEMA``)."""
TIMEOUT_S = 60.0
"""Bound on every wait for the broker (an acknowledgement, a read to a partition's end)."""
FIRST_WINDOW = 4
"""``latest`` reads the last this many records first, then windows 4 times larger."""
TOPIC_CONFIGS = {
    "cleanup.policy": "compact",
    "segment.bytes": str(16 * 1024 * 1024),
    "min.cleanable.dirty.ratio": "0.1",
    "max.message.bytes": str(MAX_MESSAGE_BYTES),
}
"""The snapshots topic's configs (as ``deploy/local/create-topics`` creates it)."""


class SnapshotUnusable(Exception):
    """A snapshot that cannot be used (incomplete, corrupt, an undecodable header)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class WriterIdentity:
    """Who writes a snapshot: the decider's transactional id, its producer epoch and its
    consumer-group generation (-1: unknown)."""

    transactional_id: str
    producer_epoch: int = -1
    generation: int = -1


@dataclass(frozen=True, slots=True)
class SnapshotHeader:
    """The record that makes a snapshot's chunks a snapshot (JSON on the topic)."""

    partition: int
    snapshot_id: str
    schema: int
    next_offset: int
    """The state is folded from the event log up to, not including, this offset."""
    tip_offset: int | None
    tip_event_id: str | None
    size: int
    sha256: str
    chunks: int
    first_chunk_offset: int
    transactional_id: str
    producer_epoch: int
    generation: int
    written_at: str
    offset: int = field(default=-1, compare=False)
    """Where this header is in the snapshots partition (not encoded: known once written
    or read; -1 if not)."""

    @property
    def tip(self) -> Tip | None:
        if self.tip_offset is None or self.tip_event_id is None:
            return None
        return Tip(self.tip_offset, self.tip_event_id)

    def chunk_keys(self) -> list[bytes]:
        return [_chunk_key(self.partition, self.snapshot_id, i) for i in range(self.chunks)]


_ENCODED = tuple(f.name for f in fields(SnapshotHeader) if f.name != "offset")
_OPTIONAL = {"tip_offset", "tip_event_id"}
_STRINGS = {"snapshot_id", "tip_event_id", "sha256", "transactional_id", "written_at"}


def encode_header(header: SnapshotHeader) -> bytes:
    values = {name: getattr(header, name) for name in _ENCODED}
    return orjson.dumps({"kind": "header", "version": HEADER_VERSION, **values})


def decode_header(value: bytes | None, offset: int = -1) -> SnapshotHeader:
    """A header record's value; ``SnapshotUnusable`` if it is not a header of this version."""
    if value is None:
        raise SnapshotUnusable("a tombstone, not a header")
    try:
        raw = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise SnapshotUnusable(f"header is not JSON: {exc}") from None
    if not isinstance(raw, dict) or raw.get("kind") != "header":
        raise SnapshotUnusable("not a header")
    if raw.get("version") != HEADER_VERSION:
        raise SnapshotUnusable(f"header version {raw.get('version')!r}, not {HEADER_VERSION}")
    values: dict[str, Any] = {}
    for name in _ENCODED:
        v = raw.get(name)
        if v is None and name in _OPTIONAL:
            values[name] = None
        elif isinstance(v, str if name in _STRINGS else int) and not isinstance(v, bool):
            values[name] = v
        else:
            raise SnapshotUnusable(f"header field {name}: {v!r}")
    header = SnapshotHeader(**values, offset=offset)
    if (header.tip_offset is None) != (header.tip_event_id is None):
        raise SnapshotUnusable("header has half a tip")
    if header.size <= 0 or header.chunks <= 0 or header.first_chunk_offset < 0:
        raise SnapshotUnusable(f"header size {header.size}, chunks {header.chunks}")
    return header


# -- the topic -------------------------------------------------------------------------
def ensure_topic(settings: Settings) -> None:
    """Create the snapshots topic if it is missing (``ordersource.topics``). One with fewer
    partitions than ``ORDERS_PARTITIONS`` is an error: partition N's snapshots go to
    partition N."""
    name = settings.snapshots_topic
    spec = {
        "num_partitions": settings.partitions,
        "replication_factor": settings.replication_factor,
        "configs": TOPIC_CONFIGS,
    }
    found = ensure_topics(settings, {name: spec}, "orders-decider-snapshots")[name]
    if found is not None and found < settings.partitions:
        raise TopicMisconfigured(
            f"topic {name} has {found} partitions but ORDERS_PARTITIONS="
            f"{settings.partitions}; delete it (it is only a cache) or fix the setting"
        )


def new_producer(settings: Settings, client_id: str) -> KafkaProducer:
    """The producer ``publish`` wants: plain (not transactional), idempotent, acks=all."""
    return KafkaProducer(
        **kafka_options(settings),
        client_id=client_id,
        acks="all",
        enable_idempotence=True,
        max_request_size=MAX_MESSAGE_BYTES,
        linger_ms=5,
    )


# -- writing ---------------------------------------------------------------------------
def publish(
    producer: Any,
    topic: str,
    partition: int,
    file: Path,
    next_offset: int,
    tip: Tip | None,
    writer: WriterIdentity,
    previous: SnapshotHeader | None,
    strays: Iterable[bytes] = (),
) -> SnapshotHeader:
    """Send ``file`` (a store copy consistent as of ``next_offset``/``tip``) as partition
    ``partition``'s newest snapshot: its chunks, then once they are all acknowledged its
    header, then tombstones for ``previous``'s chunks and ``strays`` (``stray_chunks``)
    and the same header again (the newest record: found at once by ``latest``).
    Returns the header written. A KafkaError before the header leaves ``previous`` the
    newest snapshot. The caller counts it (``orders_decider_snapshot*``, with the copy's
    time: ``recovery.py``)."""
    started = time.perf_counter()
    snapshot_id = uuid.uuid4().hex
    digest, size, first_offset, count = hashlib.sha256(), 0, -1, 0
    pending: deque[Any] = deque()
    with file.open("rb") as source:
        while chunk := source.read(CHUNK_BYTES):
            key = _chunk_key(partition, snapshot_id, count)
            pending.append(producer.send(topic, value=chunk, key=key, partition=partition))
            digest.update(chunk)
            size, count = size + len(chunk), count + 1
            while len(pending) >= IN_FLIGHT_CHUNKS:  # back-pressure: memory stays bounded
                first_offset = _acked(pending.popleft(), first_offset)
    if count == 0:
        raise ValueError(f"{file} is empty")
    producer.flush(timeout=TIMEOUT_S)
    while pending:
        first_offset = _acked(pending.popleft(), first_offset)
    header = SnapshotHeader(
        partition=partition,
        snapshot_id=snapshot_id,
        schema=SCHEMA,
        next_offset=next_offset,
        tip_offset=None if tip is None else tip.offset,
        tip_event_id=None if tip is None else tip.event_id,
        size=size,
        sha256=digest.hexdigest(),
        chunks=count,
        first_chunk_offset=first_offset,
        transactional_id=writer.transactional_id,
        producer_epoch=writer.producer_epoch,
        generation=writer.generation,
        written_at=datetime.now(UTC).isoformat(),
    )
    future = producer.send(
        topic, value=encode_header(header), key=_header_key(partition), partition=partition
    )
    header = replace(header, offset=future.get(timeout=TIMEOUT_S).offset)
    old = [*(previous.chunk_keys() if previous is not None else ()), *strays]
    if old:
        try:
            for key in old:
                producer.send(topic, value=None, key=key, partition=partition)
            # The header once more, last: ``latest`` finds it in the partition's last few
            # records instead of reading back through the tombstones into the chunks.
            again = producer.send(
                topic, value=encode_header(header), key=_header_key(partition), partition=partition
            )
            header = replace(header, offset=again.get(timeout=TIMEOUT_S).offset)
        except KafkaError as exc:  # the snapshot stands; its predecessor's chunks linger
            log.warning("partition %d: old snapshot chunks not tombstoned: %r", partition, exc)
    log.debug(
        "partition %d: snapshot %s sent (%d bytes, %d chunks, next offset %d, %.2fs)",
        partition,
        snapshot_id,
        size,
        count,
        next_offset,
        time.perf_counter() - started,
    )
    return header


def _acked(future: Any, first_offset: int) -> int:
    offset = int(future.get(timeout=TIMEOUT_S).offset)
    return offset if first_offset < 0 else first_offset


def stray_chunks(
    reader: Any, topic: str, partition: int, newest: SnapshotHeader | None
) -> list[bytes]:
    """Keys of chunks after ``newest`` (the whole partition if None) that no header names
    and no tombstone has cleared: what attempts killed before their header left behind.
    Pass them to the next ``publish``."""
    tp = _assigned(reader, topic, partition)
    end = int(reader.end_offsets([tp])[tp])
    start = None if newest is None else max(newest.offset, newest.first_chunk_offset)
    own = set() if newest is None else set(newest.chunk_keys())
    prefix = f"{partition}/".encode()
    found: dict[bytes, None] = {}
    for record in _records(reader, tp, start, end):
        key = record.key or b""
        if not key.startswith(prefix) or key in own:
            continue
        if record.value is None:
            found.pop(key, None)
        else:
            found[key] = None
    return list(found)


# -- reading ---------------------------------------------------------------------------
def latest(reader: Any, topic: str, partition: int) -> SnapshotHeader | None:
    """The partition's newest decodable header, or None. ``reader``: read_committed, no
    group. Undecodable header records are skipped (logged, counted ``corrupt``)."""
    tp = _assigned(reader, topic, partition)
    begin = int(reader.beginning_offsets([tp])[tp])
    end = int(reader.end_offsets([tp])[tp])
    key = _header_key(partition)
    high, window = end, FIRST_WINDOW
    while high > begin:
        low = max(begin, high - window)
        found = None
        for record in _records(reader, tp, low, high):
            if record.key != key or record.value is None:
                continue
            try:
                header = decode_header(record.value, record.offset)
                if header.partition != partition:
                    raise SnapshotUnusable(f"a header of partition {header.partition}")
            except SnapshotUnusable as exc:
                _count_ignored("corrupt", partition, f"offset {record.offset}: {exc.reason}")
                continue
            found = header
        if found is not None:
            return found
        high, window = low, window * 4
    return None


def download(reader: Any, topic: str, header: SnapshotHeader, target: Path) -> None:
    """Write ``header``'s snapshot file to ``target`` (atomically: whole and verified, or
    not at all). ``SnapshotUnusable`` if a chunk is missing (compacted away, tombstoned,
    never written) or the size or checksum is wrong."""
    tp = _assigned(reader, topic, header.partition)
    end = int(reader.end_offsets([tp])[tp])
    prefix = f"{header.partition}/{header.snapshot_id}/".encode()
    part = target.with_name(target.name + ".part")
    digest, size, got = hashlib.sha256(), 0, 0
    try:
        with part.open("wb") as out:
            if header.first_chunk_offset < end:
                for record in _records(reader, tp, header.first_chunk_offset, end):
                    key = record.key or b""
                    if not key.startswith(prefix):
                        continue
                    if key != prefix + str(got).encode() or record.value is None:
                        break  # the next chunk is not the one wanted: it is gone
                    size += len(record.value)
                    if size > header.size:
                        raise SnapshotUnusable(f"more than the header's {header.size} bytes")
                    out.write(record.value)
                    digest.update(record.value)
                    got += 1
                    if got == header.chunks:
                        break
        if got < header.chunks:
            raise SnapshotUnusable(f"chunk {got} of {header.chunks} missing")
        if size != header.size:
            raise SnapshotUnusable(f"{size} bytes, the header says {header.size}")
        if digest.hexdigest() != header.sha256:
            raise SnapshotUnusable("checksum mismatch")
        os.replace(part, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            part.unlink()


def tip_in_log(reader: Any, events_topic: str, partition: int, tip: Tip) -> bool:
    """Whether the committed event log holds, at exactly ``tip.offset``, the event
    ``tip.event_id``. Aborted records are invisible to read_committed: a state that
    folded a fenced writer's events has a tip that is not in the log."""
    tp = _assigned(reader, events_topic, partition)
    begin = int(reader.beginning_offsets([tp])[tp])
    end = int(reader.end_offsets([tp])[tp])
    if not begin <= tip.offset < end:
        return False
    for record in _records(reader, tp, tip.offset, tip.offset + 1):
        return bool(record.offset == tip.offset and _event_id(record.value) == tip.event_id)
    return False


def restore(
    reader: Any, settings: Settings, partition: int, target: Path, local_next_offset: int
) -> SnapshotHeader | None:
    """Load the partition's newest valid snapshot into ``target`` if it is further ahead
    than the local store (``local_next_offset``). Returns its header, or None (no usable
    snapshot: fold from the log). A bad snapshot is logged and counted, never raised;
    KafkaError propagates (retry with back-off)."""
    header = latest(reader, settings.snapshots_topic, partition)
    if header is None:
        return None
    if header.schema != SCHEMA:
        _ignore("schema", header, f"state schema {header.schema}, not {SCHEMA}")
        return None
    if header.next_offset <= local_next_offset:
        log.info(
            "partition %d: snapshot at %d not newer than the local state at %d",
            partition,
            header.next_offset,
            local_next_offset,
        )
        return None
    problem = _tip_problem(reader, settings.events_topic, header)
    if problem:
        _ignore("tip", header, problem)
        return None
    try:
        download(reader, settings.snapshots_topic, header, target)
    except SnapshotUnusable as exc:
        _ignore("corrupt", header, str(exc))
        return None
    try:
        meta = read_meta(target)
    except UnusableStore as exc:
        target.unlink()
        _ignore("corrupt", header, f"not a readable store: {exc}")
        return None
    expected = {
        "partition": header.partition,
        "next_offset": header.next_offset,
        "schema": header.schema,
        "tip_offset": header.tip_offset,
        "tip_event_id": header.tip_event_id,
    }
    differing = sorted(k for k, v in expected.items() if meta.get(k) != v)
    if differing:
        target.unlink()
        _ignore("corrupt", header, f"store meta disagrees on {differing}")
        return None
    metrics.SNAPSHOT_RESTORES.inc()
    log.info(
        "partition %d: restored snapshot %s (next offset %d, %d bytes, written %s by %s)",
        partition,
        header.snapshot_id,
        header.next_offset,
        header.size,
        header.written_at,
        header.transactional_id,
    )
    return header


def _tip_problem(reader: Any, events_topic: str, header: SnapshotHeader) -> str | None:
    tp = _assigned(reader, events_topic, header.partition)
    end = int(reader.end_offsets([tp])[tp])
    if header.next_offset > end:
        return f"it reaches offset {header.next_offset}, the log ends at {end}"
    tip = header.tip
    if tip is None:
        # Nothing folded: no event to check it against the log by (and nothing to gain).
        return "it has no tip to check against the log"
    if not tip_in_log(reader, events_topic, header.partition, tip):
        return f"its tip {tip.event_id} at offset {tip.offset} is not in the committed log"
    return None


def _ignore(reason: str, header: SnapshotHeader, detail: str) -> None:
    _count_ignored(
        reason,
        header.partition,
        f"snapshot {header.snapshot_id} by {header.transactional_id} "
        f"(epoch {header.producer_epoch}, generation {header.generation}): {detail}",
    )


def _count_ignored(reason: str, partition: int, detail: str) -> None:
    log.warning("partition %d: snapshot ignored (%s): %s", partition, reason, detail)
    metrics.SNAPSHOTS_IGNORED.labels(reason).inc()


def _event_id(value: bytes | None) -> str | None:
    if value is None:
        return None
    try:
        raw = codec.loads(value)  # the envelope's id; no need to validate the whole event
    except orjson.JSONDecodeError:
        return None
    event_id = raw.get("event_id") if isinstance(raw, dict) else None
    return event_id if isinstance(event_id, str) else None


def _assigned(reader: Any, topic: str, partition: int) -> TopicPartition:
    tp = TopicPartition(topic, partition)
    reader.assign([tp])
    return tp


def _records(reader: Any, tp: TopicPartition, start: int | None, end: int) -> Iterator[Any]:
    try:
        yield from read_partition(reader, tp, start, end, timeout_s=TIMEOUT_S)
    except TimeoutError as exc:  # a KafkaError: the caller's back-off handles it
        raise KafkaTimeoutError(str(exc)) from exc


def _header_key(partition: int) -> bytes:
    return str(partition).encode()


def _chunk_key(partition: int, snapshot_id: str, index: int) -> bytes:
    return f"{partition}/{snapshot_id}/{index}".encode()
