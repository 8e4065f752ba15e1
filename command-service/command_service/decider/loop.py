"""The decider's poll loop: consumes ``orders.commands`` in a consumer group and hands
the commands of every owned partition to the process's one writer (``writer.py``), which
judges them and writes the events and the consumed offsets in ONE Kafka transaction,
then announces the verdicts.

The group gives each partition one owner; the transaction's group generation and the
next owner's stable offsets make a stale owner harmless (``writer.py``,
``partition.py``). Verdicts go out only after the commit, so a 2xx always means "in the
log". This thread is the only user of the consumer (it is not thread-safe). The
process's clients come from ``clients.py``, built once and passed in.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path

from kafka import TopicPartition
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from kafka.errors import FencedInstanceIdError, KafkaError

from command_service.decider import metrics, rejoin, snapshots
from command_service.decider.clients import DeciderClients
from command_service.decider.courier import VerdictCourier
from command_service.decider.partition import CATCH_UPS_AT_ONCE, OwnedPartition
from command_service.decider.recovery import Snapshotter, Stores
from command_service.decider.writer import Delivery, Writer
from ordersource.readiness import Readiness, readiness
from ordersource.settings import Settings

log = logging.getLogger(__name__)

BACKLOG = 50
"""Deliveries queued for the writer before the consumer pauses (back-pressure)."""
REVOKE_WAIT_S = 5.0
"""How long a revocation waits for a transaction in flight (it is fenced after)."""
FENCED_BACKOFF_S = 30.0
"""After another producer fenced ours, how long before the decider takes the id back."""
SEEK_TIMEOUT_MS = 1000
"""One attempt to read a partition's stable committed offset: an unstable one (a stale
owner's transaction still open) or an absent coordinator is tried again next round."""


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
        self.stores = Stores(
            settings,
            Path(settings.state_dir) / f"decider-{self.clients.transactional_id}",
            reader=self.clients.snapshot_reader,
        )
        self.partitions: dict[int, OwnedPartition] = {}
        self.turns = threading.Semaphore(CATCH_UPS_AT_ONCE)  # the catch-ups take turns
        self.retired: list[Writer] = []  # replaced writers still running
        self.refused_by_retired = 0  # transactions refused by replaced writers now ended
        self.generation = -1  # the consumer group generation of the last poll
        # Rebalance news from the consumer's IO thread, acted on by the poll loop.
        self.rebalances: queue.SimpleQueue[tuple[str, list[TopicPartition]]] = queue.SimpleQueue()
        self.stopping = threading.Event()
        self.consumer = self.clients.consumer
        self.courier = VerdictCourier(
            self.clients.redis,
            settings.command_result_ttl_s,
            settings.decider_undelivered_verdicts_max,
        )
        self.writer = self._new_writer()
        self.snapshotter = Snapshotter(
            settings,
            self.stores,
            producer=self.clients.snapshot_producer,
            reader=self.clients.snapshot_reader,
            identity=self._identity,
            owned=lambda: [n for n, p in list(self.partitions.items()) if p.caught_up.is_set()],
        )

    @property
    def fenced_batches(self) -> int:
        """Transactions the broker refused (stale owner, failure) that were rolled back."""
        return self.refused_by_retired + sum(w.refused for w in [*self.retired, self.writer])

    def _identity(self) -> snapshots.WriterIdentity:
        return snapshots.WriterIdentity(
            self.clients.transactional_id, self.writer.producer_epoch(), self.generation
        )

    def is_ready(self) -> bool:
        """Assigned at least once, the producer open, every owned partition caught up."""
        owned = list(self.partitions.values())
        return (
            bool(owned) and self.writer.opened.is_set() and all(p.caught_up.is_set() for p in owned)
        )

    def readiness(self) -> Readiness:
        """/readyz: caught up, and Redis reachable (else verdicts wait undelivered); how
        the snapshots fare is said beside, without making the decider unready."""
        checks = {"caught_up": self.is_ready(), "redis": self.courier.redis_ok}
        return readiness(
            checks,
            ["redis"],
            undelivered_verdicts=len(self.courier),
            snapshots=self.snapshotter.status(),
            transactional_id=self.clients.transactional_id,
            partitions={
                str(n): "caught_up" if p.caught_up.is_set() else "catching_up"
                for n, p in sorted(list(self.partitions.items()))
            },
        )

    def run(self) -> None:
        topic = self.settings.commands_topic
        # Know the topic's partitions before joining: a member that joins without them is
        # assigned nothing until its next metadata refresh (minutes).
        while not self.consumer.partitions_for_topic(topic):
            if self.stopping.wait(0.5):
                return
            log.warning("waiting for topic %s to exist", topic)
        while not self._snapshots_topic_ready():
            if self.stopping.wait(1.0):
                return
        self.courier.start()
        self.writer.start()
        self.snapshotter.start()
        self.consumer.subscribe([topic], listener=_Listener(self))
        while not self.stopping.is_set():
            try:
                batch = self.consumer.poll(timeout_ms=100)
            except FencedInstanceIdError:
                # Another live decider joined with our ORDERS_DECIDER_INSTANCE_ID (its
                # group.instance.id): the broker fenced us. Nothing wrong can commit
                # (our transactions carry the old membership); wait, then take it back.
                log.error(
                    "fenced by another decider with the same ORDERS_DECIDER_INSTANCE_ID; "
                    "rejoining in %.0f s",
                    FENCED_BACKOFF_S,
                )
                self.stopping.wait(FENCED_BACKOFF_S)
                continue
            rejoin.unstick(self.consumer)
            self._rebalance()
            if batch:
                group = self.consumer.group_metadata()
                self.generation = getattr(group, "generation_id", -1)
                for tp, records in batch.items():
                    partition = self.partitions.get(tp.partition)
                    if partition is not None:
                        self.writer.inbox.put(Delivery(partition, partition.epoch, records, group))
            self._tend()

    def _snapshots_topic_ready(self) -> bool:
        try:
            snapshots.ensure_topic(self.settings)
        except (KafkaError, OSError) as exc:
            log.warning("cannot make sure topic %s exists (%s)", self.settings.snapshots_topic, exc)
            return False
        return True

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
        """Replace a dead or stuck writer, re-seek and catch up the partitions that need
        it, pause the consumer while the writer is behind."""
        # Past its timeout a transaction can only be aborted (the coordinator does so), so
        # a writer still in one is waiting for nothing: replace it at once.
        stuck_after = self.settings.decider_transaction_timeout_ms / 1000
        writer = self.writer
        dead = not writer.is_alive() and not writer.stopping.is_set()
        if dead and writer.fenced_at is not None:
            # Another live decider has our transactional.id: fencing it right back would
            # only start a ping-pong. Wait, then take the id back (not ready meanwhile).
            dead = time.monotonic() - writer.fenced_at > FENCED_BACKOFF_S
        if dead or writer.stuck(stuck_after):
            log.warning("the writer %s; starting a new one", "died" if dead else "is stuck")
            self._replace_writer()
        for old in [w for w in self.retired if not w.is_alive()]:
            self.retired.remove(old)  # let go of it (its books, its producer)
            self.refused_by_retired += old.refused
        busy = self.writer.backlog > BACKLOG
        paused = self.consumer.paused()
        for partition in list(self.partitions.values()):
            tp = partition.tp
            # Only once the writer's producer has fenced its predecessor (after a
            # replacement: the old writer's transaction is aborted or finished), so the
            # stable offset and the catch-up see everything it may have committed.
            if partition.needs_seek.is_set() and self.writer.opened.is_set():
                partition.epoch += 1  # deliveries fetched before the seek are dropped
                try:
                    self._seek_committed(tp)
                except KafkaError as exc:  # unstable, or the coordinator away: next round
                    log.info("partition %d: cannot re-seek yet (%s)", tp.partition, exc)
                else:
                    partition.needs_seek.clear()
                    partition.start_catch_up(
                        self.clients, self.settings.events_topic, self.courier, self.turns
                    )
            hold = busy or not partition.caught_up.is_set()
            if hold and tp not in paused:
                self.consumer.pause(tp)
            elif not hold and tp in paused:
                self.consumer.resume(tp)

    def _replace_writer(self) -> None:
        """A new writer with a new producer (whose ``init_transactions`` fences the old
        one); every owned partition starts again from its committed offset, with a fresh
        book: the old writer may still hold the old books."""
        self.writer.stopping.set()
        self.retired.append(self.writer)
        for number, old in list(self.partitions.items()):
            old.revoked.set()
            old.book.retire()  # the old writer may still hold it: it writes no more
            self.partitions[number] = fresh = self._owned(old.tp)
            fresh.needs_seek.set()
        self.writer = self._new_writer()
        self.writer.start()

    def _seek_committed(self, tp: TopicPartition) -> None:
        # read_committed: kafka-python asks for the stable offset (KIP-447), and retries
        # while a stale owner's transaction is open, up to this bounded timeout.
        committed = self.consumer.committed(tp, timeout_ms=SEEK_TIMEOUT_MS)
        self.consumer.seek(tp, committed if committed is not None else 0)
        log.info("partition %d: deciding from command offset %s", tp.partition, committed or 0)

    def _owned(self, tp: TopicPartition) -> OwnedPartition:
        """A partition to own: its first catch-up takes its book from the stores."""
        number = tp.partition
        return OwnedPartition(tp, recover=lambda _book: self.stores.book_for(number))

    def _new_writer(self) -> Writer:
        return Writer(
            self.settings,
            self.clients,
            self.courier,
            self.clock,
            owned=lambda: list(self.partitions.values()),
        )

    def stop(self) -> None:
        self.stopping.set()

    def close(self) -> None:
        self._release(list(self.partitions))
        self.writer.stopping.set()
        self.writer.join(timeout=REVOKE_WAIT_S)
        self.snapshotter.stop()
        self.stores.close()
        # A static member does not leave the group: its partitions wait for it (a
        # restart) or move on after its session timeout (a scale-down).
        self.consumer.close(autocommit=False)
        self.courier.stop()  # after the writer: its last verdicts get a chance
        self.clients.redis.close()

    # -- assignment (queued by the listener, acted on in this thread) ------------------
    def assigned(self, partitions: Iterable[TopicPartition]) -> None:
        partitions = sorted(partitions)
        log.info("partitions %s assigned", [tp.partition for tp in partitions])
        for tp in partitions:
            if tp.partition not in self.partitions:
                owned = self.partitions[tp.partition] = self._owned(tp)
                # Re-consume from the committed offset: kafka-python keeps the fetch
                # position of a partition that is revoked and assigned back in one
                # rebalance, and the records queued but not decided would otherwise be
                # skipped (a 202 that is never decided).
                owned.needs_seek.set()
        metrics.PARTITIONS.set(len(self.partitions))

    def revoked(self, partitions: Iterable[TopicPartition]) -> None:
        numbers = sorted(tp.partition for tp in partitions)
        if numbers:
            log.info("partitions %s revoked", numbers)
        self._release(numbers)
        metrics.PARTITIONS.set(len(self.partitions))

    def _release(self, numbers: list[int]) -> None:
        """Stop deciding ``numbers``: abandon a transaction that holds them (bounded), stop
        their catch-ups, and let go of their books and stores (what another owner writes
        meanwhile is in the log; the store file is a head start if the partition returns)."""
        released = [self.partitions.pop(n) for n in numbers if n in self.partitions]
        for partition in released:
            partition.revoked.set()
        if not released:
            return
        self.writer.wait_until_out_of({p.number for p in released}, REVOKE_WAIT_S)
        for partition in released:
            if partition.catching_up is not None:
                partition.catching_up.join(timeout=REVOKE_WAIT_S)
            partition.book.retire()
            self.stores.release(partition.number)
            self.snapshotter.forget(partition.number)


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    """Runs on the consumer's IO thread, which also sends the group heartbeats: anything
    slow here (waiting for the writer, joining catch-ups) would starve them and get the
    member dropped from the group. So it only flags the revoked partitions (an Event: an
    open transaction holding them is abandoned) and queues the change for the poll loop."""

    def __init__(self, decider: Decider) -> None:
        self.decider = decider

    def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        for tp in revoked:
            partition = self.decider.partitions.get(tp.partition)
            if partition is not None:
                partition.revoked.set()
        self.decider.rebalances.put(("revoked", list(revoked)))

    def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        self.decider.rebalances.put(("assigned", list(assigned)))
