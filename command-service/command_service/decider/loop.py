"""The decider's poll loop: consumes ``orders.commands`` in a consumer group and hands each
partition's commands to that partition's writer (``writer.py``), which judges them and
writes the events and the consumed offsets in ONE Kafka transaction, then announces the
verdicts.

The group gives each partition one owner; the writers' transactions make a stale owner
harmless (see ``writer.py``). Verdicts go out only after the commit, so a 2xx always
means "in the log". This thread is the only user of the consumer (it is not thread-safe).
The process's clients come from ``clients.py``, built once and passed in.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime

from kafka import TopicPartition
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from kafka.errors import KafkaError

from command_service.decider import metrics, rejoin
from command_service.decider.book import PartitionBook
from command_service.decider.clients import DeciderClients
from command_service.decider.courier import VerdictCourier
from command_service.decider.writer import Delivery, PartitionWriter
from ordersource.readiness import Readiness, readiness
from ordersource.settings import Settings

log = logging.getLogger(__name__)

BACKLOG = 20
"""Deliveries queued for one writer before its partition is paused (back-pressure)."""
REVOKE_WAIT_S = 5.0
"""How long a revocation waits for a writer's transaction in flight (it is fenced after)."""


class Decider:
    def __init__(
        self,
        settings: Settings,
        clients: DeciderClients | None = None,
        *,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        """``clients``: the process's clients (``DeciderClients(settings)`` when not given)."""
        self.settings = settings
        self.clock = clock or (lambda: datetime.now(UTC))
        self.clients = clients or DeciderClients(settings)
        self.books: dict[int, PartitionBook] = {}
        self.writers: dict[int, PartitionWriter] = {}
        self.retired: list[PartitionWriter] = []
        # Rebalance news from the consumer's IO thread, acted on by the poll loop.
        self.rebalances: queue.SimpleQueue[tuple[str, list[TopicPartition]]] = queue.SimpleQueue()
        self.stopping = threading.Event()
        self.consumer = self.clients.consumer
        self.courier = VerdictCourier(
            self.clients.redis,
            settings.command_result_ttl_s,
            settings.decider_undelivered_verdicts_max,
        )

    @property
    def fenced_batches(self) -> int:
        """Transactions the broker refused (stale owner, failure) that were rolled back."""
        return sum(w.refused for w in [*self.retired, *self.writers.values()])

    def is_ready(self) -> bool:
        """Assigned at least once, and every owned partition caught up with the log."""
        writers = list(self.writers.values())
        return bool(writers) and all(w.caught_up.is_set() for w in writers)

    def readiness(self) -> Readiness:
        """/readyz: caught up, and Redis reachable (else verdicts wait undelivered)."""
        checks = {"caught_up": self.is_ready(), "redis": self.courier.redis_ok}
        return readiness(checks, ["redis"], undelivered_verdicts=len(self.courier))

    def run(self) -> None:
        topic = self.settings.commands_topic
        # Know the topic's partitions before joining: a member that joins without them is
        # assigned nothing until its next metadata refresh (minutes).
        while not self.consumer.partitions_for_topic(topic):
            if self.stopping.wait(0.5):
                return
            log.warning("waiting for topic %s to exist", topic)
        self.courier.start()
        self.consumer.subscribe([topic], listener=_Listener(self))
        while not self.stopping.is_set():
            batch = self.consumer.poll(timeout_ms=100)
            rejoin.unstick(self.consumer)
            self._rebalance()
            for tp, records in batch.items():
                writer = self.writers.get(tp.partition)
                if writer is not None:
                    writer.inbox.put(
                        Delivery(writer.epoch, records, self.consumer.group_metadata())
                    )
            self._tend()

    def _rebalance(self) -> None:
        """Act on the assignments and revocations the listener queued, in their order."""
        while True:
            try:
                change, partitions = self.rebalances.get_nowait()
            except queue.Empty:
                return
            if change == "revoked":
                self.revoked(partitions)
            else:
                self.assigned(partitions)

    def _tend(self) -> None:
        """Re-seek writers that rolled back, replace dead ones, pause the busy ones."""
        # Past its timeout a transaction can only be aborted (the coordinator does so), so
        # a writer still in one is waiting for nothing: replace it at once.
        stuck_after = self.settings.decider_transaction_timeout_ms / 1000
        for partition, writer in list(self.writers.items()):
            tp = writer.tp
            dead = not writer.is_alive() and not writer.stopping.is_set()
            if dead or writer.stuck(stuck_after):
                log.warning(
                    "writer of partition %d %s; starting a new one",
                    partition,
                    "died" if dead else "is stuck in a transaction",
                )
                writer.stopping.set()
                self.retired.append(writer)
                writer = self._start(tp, self._new_book(partition))
                writer.needs_seek.set()  # re-consume from the last committed offset
            if writer.needs_seek.is_set():
                writer.epoch += 1  # deliveries fetched before the seek are dropped
                try:
                    self._seek_committed(tp)
                except KafkaError as exc:  # coordinator away: try again on the next round
                    log.warning("partition %d: cannot re-seek yet (%s)", partition, exc)
                    continue
                writer.needs_seek.clear()
            if writer.inbox.qsize() > BACKLOG:
                self.consumer.pause(tp)
            elif tp in self.consumer.paused():
                self.consumer.resume(tp)

    def _seek_committed(self, tp: TopicPartition) -> None:
        # Bounded: a coordinator that is away must not stall the poll loop (a KafkaError
        # here is retried on the next round).
        committed = self.consumer.committed(tp, timeout_ms=5000)
        self.consumer.seek(tp, committed if committed is not None else 0)
        log.info("partition %d: deciding from command offset %s", tp.partition, committed or 0)

    def _new_book(self, partition: int) -> PartitionBook:
        return PartitionBook(partition, self.settings.decider_dedup_window)

    def _start(self, tp: TopicPartition, book: PartitionBook) -> PartitionWriter:
        writer = PartitionWriter(tp, book, self.settings, self.clients, self.courier, self.clock)
        self.writers[tp.partition] = writer
        writer.start()
        return writer

    def stop(self) -> None:
        self.stopping.set()

    def close(self) -> None:
        self._stop_writers(list(self.writers))
        self.consumer.close(autocommit=False)  # leave the group: the partitions move on
        self.courier.stop()  # after the writers: their last verdicts get a chance
        self.clients.redis.close()

    # -- assignment (queued by the listener, acted on in this thread) ------------------
    def assigned(self, partitions: Iterable[TopicPartition]) -> None:
        partitions = sorted(partitions)
        log.info("partitions %s assigned", [tp.partition for tp in partitions])
        for tp in partitions:
            if tp.partition not in self.writers:
                # Catching up happens in the writer: all partitions catch up in parallel.
                book = self.books.pop(tp.partition, None) or self._new_book(tp.partition)
                # Re-consume from the committed offset: kafka-python keeps the fetch
                # position of a partition that is revoked and assigned back in one
                # rebalance, and the records the stopped writer had queued but not
                # decided would otherwise be skipped (a 202 that is never decided).
                self._start(tp, book).needs_seek.set()
        metrics.PARTITIONS.set(len(self.writers))

    def revoked(self, partitions: Iterable[TopicPartition]) -> None:
        numbers = sorted(tp.partition for tp in partitions)
        if numbers:
            log.info("partitions %s revoked", numbers)
        self._stop_writers(numbers)
        metrics.PARTITIONS.set(len(self.writers))

    def _stop_writers(self, partitions: list[int]) -> None:
        writers = [self.writers.pop(p) for p in partitions if p in self.writers]
        for writer in writers:
            writer.stopping.set()
        deadline = time.monotonic() + REVOKE_WAIT_S
        for writer in writers:
            writer.join(timeout=max(0.0, deadline - time.monotonic()))
            self.retired.append(writer)
            if not writer.is_alive() and not writer.in_transaction:
                # Keep the book (also a half caught-up one: it is consistent up to its
                # next_offset). If the partition comes back, catching up from there is
                # enough — what another owner wrote meanwhile is in the log.
                self.books[writer.tp.partition] = writer.book


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    """Runs on the consumer's IO thread, which also sends the group heartbeats: anything
    slow here (joining writers, creating producers) would starve them and get the member
    dropped from the group. So it only tells the revoked writers to stop (an Event) and
    queues the change for the poll loop."""

    def __init__(self, decider: Decider) -> None:
        self.decider = decider

    def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        for tp in revoked:
            writer = self.decider.writers.get(tp.partition)
            if writer is not None:
                writer.stopping.set()
        self.decider.rebalances.put(("revoked", list(revoked)))

    def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        self.decider.rebalances.put(("assigned", list(assigned)))
