"""Where a partition's state comes from when the decider takes the partition, and where
its snapshots go.

``Stores`` keeps the decider's partition stores (``store.py``, one SQLite file each under
``<state_dir>/decider-<transactional.id>/``). The first catch-up of an assignment asks it
for a book (``book_for``), which first makes sure the local store describes this log:

1. the local store's tip (its last folded event) must be in the committed event log; a
   store whose tip is not (the topic was recreated, or it is another cluster's) is set
   aside and started empty;
2. if the partition's newest valid snapshot in Kafka (``snapshots.restore``: checksum,
   schema, tip in the log) is further ahead than the local store, it replaces it;
3. the catch-up then folds only the events after the state's offset.

A restart on the same disk therefore reads only the events since its last transaction;
a decider on a new disk reads the snapshot and the events since it; neither depends on
the log's length.

``Snapshotter`` (one thread per process) writes each owned partition's snapshot to
Kafka when enough events (``decider_snapshot_every_events``) or time
(``decider_snapshot_every_s``) have passed: a ``VACUUM INTO`` copy taken from a
connection of its own, so the writer never waits for it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from kafka import TopicPartition
from kafka.errors import KafkaError

from command_service.decider import metrics, snapshots
from command_service.decider.book import PartitionBook
from command_service.decider.ports import EventReader
from command_service.decider.store import StateStore, open_store, set_aside
from ordersource.settings import Settings

log = logging.getLogger(__name__)

SNAPSHOT_CHECK_S = 1.0
"""How often the snapshotter looks whether a partition is due."""
SNAPSHOT_BACKOFF_MAX_S = 30.0
"""The longest wait between failed snapshot rounds (doubling from ``SNAPSHOT_CHECK_S``)."""


class Stores:
    """The open partition stores of one decider process."""

    def __init__(
        self, settings: Settings, directory: Path, reader: Callable[[], EventReader]
    ) -> None:
        """``reader``: makes the small-fetch reader of snapshots and tips."""
        self.settings, self.directory = settings, directory
        self._reader = reader
        self._open: dict[int, StateStore] = {}
        self._recovered: set[int] = set()
        self._locks: dict[int, threading.Lock] = {}
        self._guard = threading.Lock()

    def path(self, partition: int) -> Path:
        return self.directory / f"p{partition}.sqlite"

    def _lock(self, partition: int) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(partition, threading.Lock())

    def book_for(self, partition: int) -> PartitionBook:
        """A book over the partition's store, recovered (steps 1 and 2) the first time in
        this assignment."""
        with self._lock(partition):
            store = self._open.get(partition)
            if store is None or store.closed:
                store = self._open[partition] = open_store(self.path(partition), partition)
            if partition not in self._recovered:
                reader = self._reader()
                try:
                    self._recover(partition, reader)
                finally:
                    reader.close()
                self._recovered.add(partition)
            return PartitionBook(
                partition, self.settings.decider_dedup_window, self._open[partition]
            )

    def opened(self) -> dict[int, StateStore]:
        with self._guard:
            return dict(self._open)

    def release(self, partition: int) -> None:
        """The partition is no longer ours: close its store (the file stays, a head start
        if it comes back; it is checked against the log again then)."""
        with self._lock(partition):
            store = self._open.pop(partition, None)
            self._recovered.discard(partition)
            if store is not None:
                store.close()

    def close(self) -> None:
        for partition in list(self._open):
            self.release(partition)

    def _recover(self, partition: int, reader: EventReader) -> None:
        """Steps 1 and 2; ``_open[partition]`` is an open store whatever fails half-way
        (a Kafka error: the catch-up tries again)."""
        events_topic = self.settings.events_topic
        path = self.path(partition)
        store = self._open[partition]
        tp = TopicPartition(events_topic, partition)
        end = int(reader.end_offsets([tp])[tp])
        if store.next_offset > end or (
            store.tip is not None
            and not snapshots.tip_in_log(reader, events_topic, partition, store.tip)
        ):
            log.warning(
                "partition %d: local state (up to offset %d, last event %s) does not match "
                "the log (ends at %d); rebuilding it",
                partition,
                store.next_offset,
                store.tip,
                end,
            )
            metrics.SNAPSHOTS_IGNORED.labels("tip").inc()
            store.close()
            set_aside(path)
            store = self._open[partition] = StateStore(path, partition)
        target = path.with_name(f"{path.name}.restoring")
        try:
            header = snapshots.restore(reader, self.settings, partition, target, store.next_offset)
            if header is None:
                return
            store.close()
            for suffix in ("-wal", "-shm"):  # the old file's log must not replay onto the new
                with contextlib.suppress(FileNotFoundError):
                    Path(f"{path}{suffix}").unlink()
            os.replace(target, path)
            restored = self._open[partition] = StateStore(path, partition)
        finally:
            with contextlib.suppress(FileNotFoundError):
                target.unlink()
        log.info(
            "partition %d: state restored from snapshot %s (events offset %d)",
            partition,
            header.snapshot_id,
            restored.next_offset,
        )


@dataclass
class _Due:
    offset: int
    at: float
    header: snapshots.SnapshotHeader | None = None


class Snapshotter(threading.Thread):
    """Writes the owned partitions' snapshots to Kafka, bounded by events and by time."""

    def __init__(
        self,
        settings: Settings,
        stores: Stores,
        producer: Callable[[], Any],
        reader: Callable[[], Any],
        identity: Callable[[], snapshots.WriterIdentity],
        owned: Callable[[], Iterable[int]],
    ) -> None:
        super().__init__(name="snapshotter", daemon=True)
        self.settings, self.stores = settings, stores
        self._make_producer, self._make_reader = producer, reader
        self.identity, self.owned = identity, owned
        self.stopping = threading.Event()
        self.last: dict[int, _Due] = {}
        self._producer: Any = None
        self.failure: dict[str, str] | None = None
        """Why the last round failed, and since when (None: it did not)."""

    def run(self) -> None:
        delay = SNAPSHOT_CHECK_S
        while not self.stopping.wait(delay):
            delay = SNAPSHOT_CHECK_S if self.attempt() else min(SNAPSHOT_BACKOFF_MAX_S, delay * 2)
        self._close_producer()

    def attempt(self) -> bool:
        """One round over the owned partitions: the due ones are snapshotted. False if it
        failed (``failure`` says why and since when, until a round succeeds)."""
        try:
            for partition in self.owned():
                if self.stopping.is_set():
                    break
                self._maybe_snapshot(partition)
        except (KafkaError, OSError, sqlite3.Error) as exc:
            log.warning("cannot write a snapshot (%r); retrying", exc)
            self._close_producer()
            self._failed(exc)
            return False
        except Exception as exc:  # a bug must not end snapshots for good
            log.exception("snapshotter failed; going on")
            self._failed(exc)
            return False
        if self.failure is not None:
            log.info("snapshots are written again")
        self.failure = None
        metrics.SNAPSHOTS_FAILING.set(0)
        return True

    def _failed(self, exc: BaseException) -> None:
        metrics.SNAPSHOT_FAILURES.inc()
        metrics.SNAPSHOTS_FAILING.set(1)
        since = self.failure["since"] if self.failure else datetime.now(UTC).isoformat()
        self.failure = {"reason": f"{type(exc).__name__}: {exc}"[:300], "since": since}

    def status(self) -> dict[str, object]:
        """For /readyz: snapshots are a cache, so failing ones do not make the decider
        unready (it still decides), but an operator sees it, and restarts get slower."""
        failure = self.failure
        return {"failing": False} if failure is None else {"failing": True, **failure}

    def _maybe_snapshot(self, partition: int) -> None:
        store = self.stores.opened().get(partition)
        if store is None:
            return
        now = time.monotonic()
        due = self.last.get(partition)
        if due is None:
            latest = self._latest(partition)
            offset = 0 if latest is None else latest.next_offset
            due = self.last[partition] = _Due(offset, now, latest)
        behind = store.next_offset - due.offset
        if behind <= 0:
            return
        every_s = self.settings.decider_snapshot_every_s
        if behind < self.settings.decider_snapshot_every_events and now - due.at < every_s:
            return
        self.last[partition] = self.snapshot(partition, store, due.header)

    def snapshot(
        self, partition: int, store: StateStore, previous: snapshots.SnapshotHeader | None
    ) -> _Due:
        started = time.perf_counter()
        with tempfile.TemporaryDirectory(dir=self.stores.directory) as scratch:
            copy = Path(scratch) / f"p{partition}.snapshot"
            next_offset, tip = store.copy_to(copy)
            strays = self._strays(partition, previous)
            if self._producer is None:
                self._producer = self._make_producer()
            header = snapshots.publish(
                self._producer,
                self.settings.snapshots_topic,
                partition,
                copy,
                next_offset,
                tip,
                self.identity(),
                previous,
                strays,
            )
        elapsed = time.perf_counter() - started
        metrics.SNAPSHOTS_WRITTEN.inc()
        metrics.SNAPSHOT_SECONDS.observe(elapsed)
        metrics.SNAPSHOT_BYTES.set(header.size)
        log.info(
            "partition %d: snapshot %s at events offset %d (%d bytes, %.2fs)",
            partition,
            header.snapshot_id,
            next_offset,
            header.size,
            elapsed,
        )
        return _Due(next_offset, time.monotonic(), header)

    def _latest(self, partition: int) -> snapshots.SnapshotHeader | None:
        """The partition's newest snapshot in Kafka (its chunks are tombstoned when the
        next one is written)."""
        reader = self._make_reader()
        try:
            return snapshots.latest(reader, self.settings.snapshots_topic, partition)
        finally:
            reader.close()

    def _strays(self, partition: int, previous: snapshots.SnapshotHeader | None) -> list[bytes]:
        """Chunks of writes that never got their header (a decider killed mid-write):
        tombstoned with the next snapshot, so compaction frees them."""
        reader = self._make_reader()
        try:
            return snapshots.stray_chunks(
                reader, self.settings.snapshots_topic, partition, previous
            )
        finally:
            reader.close()

    def forget(self, partition: int) -> None:
        self.last.pop(partition, None)

    def _close_producer(self) -> None:
        if self._producer is not None:
            with contextlib.suppress(Exception):
                self._producer.close(timeout=5)
            self._producer = None

    def stop(self, timeout_s: float = 10.0) -> None:
        self.stopping.set()
        if self.is_alive():
            self.join(timeout=timeout_s)
