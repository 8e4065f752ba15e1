"""The decider's writer: one thread, one transactional producer for every partition the
process owns, one Kafka transaction for everything queued (group commit).

Each round takes every delivery waiting in the inbox (up to ``MAX_BATCH_RECORDS``), from
any of the owned partitions, judges each command against its partition's book, sends the
events and the consumed offsets of all those partitions, and commits once; then it
announces the verdicts. Batches adapt to the load by themselves: while one transaction
commits, the next one's commands queue up.

Fencing, the way Kafka Streams' exactly-once v2 does it (KIP-447), instead of one
producer per partition: every transaction carries the consumer-group generation its
commands were fetched under (``send_offsets_to_transaction`` with the group metadata),
so a member that has left the group cannot commit; and the next owner of a partition
reads its committed offset as *stable* (``partition.py``), which waits until a stale
owner's transaction holding that partition's offsets is finished. The producer's
``transactional.id`` names this decider instance (``clients.py``): a restarted instance
fences its predecessor at once, and its open transaction is aborted.

The writer is handed its clients (``ports.WriterClients``) and its outbox (the courier):
the tests drive it with fakes.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kafka import TopicPartition
from kafka.errors import KafkaError, ProducerFencedError
from kafka.structs import OffsetAndMetadata

from command_service import answers
from command_service.decider import metrics, records
from command_service.decider.partition import OwnedPartition
from command_service.decider.ports import Outbox, SentRecord, TransactionalProducer, WriterClients
from command_service.decider.store import Tip
from command_service.verdicts import Verdict
from ordersource import codec, logs, tracing
from ordersource.domain import Command, InvalidCommand
from ordersource.ids import new_id
from ordersource.settings import Settings

log = logging.getLogger(__name__)

MAX_BATCH_RECORDS = 2000
"""At most this many commands in one transaction (a few hundred KiB of events)."""
OPEN_RETRY_S = (0.5, 5.0)
"""Back-off between attempts to make the producer while the broker is away (first, max)."""


@dataclass(frozen=True)
class Delivery:
    """Records the consumer fetched for one partition, tagged with the partition's seek
    epoch and the group membership they were fetched under."""

    partition: OwnedPartition
    epoch: int
    records: list[Any]
    group: Any


class Abandoned(Exception):
    """Told to stop, or a partition of the batch was revoked: abort, commit nothing."""


class Writer(threading.Thread):
    def __init__(
        self,
        settings: Settings,
        clients: WriterClients,
        outbox: Outbox,
        clock: Callable[[], datetime],
        owned: Callable[[], Iterable[OwnedPartition]] = tuple,
    ) -> None:
        """``owned()``: the partitions the process owns now (the poll loop's)."""
        super().__init__(name="writer", daemon=True)
        self.settings, self.clock, self.owned = settings, clock, owned
        self.clients = clients
        self.outbox = outbox
        self.redis_returns = outbox.returned  # re-announce when Redis is back after this
        self.inbox: queue.Queue[Delivery] = queue.Queue()
        self.held: list[Delivery] = []  # of partitions still catching up, kept in order
        self.stopping = threading.Event()
        self.opened = threading.Event()  # the producer is made and has fenced its predecessor
        self.refused = 0  # transactions the broker refused (fenced, failed) and we rolled back
        self.in_transaction = False  # books hold tentative state while this is True
        self.transaction_started = 0.0  # time.monotonic() when the current one began
        self.batch: frozenset[int] = frozenset()  # partitions in the current transaction
        self.idle = threading.Condition()  # notified after every transaction
        self.producer: TransactionalProducer | None = None  # made in run(): it blocks
        self.fenced_at: float | None = None  # time.monotonic() when it was fenced

    @property
    def backlog(self) -> int:
        return self.inbox.qsize() + len(self.held)

    def run(self) -> None:
        # The producer is made here, not by the poll loop: its constructor connects and
        # can block, and the poll loop must keep polling meanwhile.
        try:
            if not self._open():
                return
            while not self.stopping.is_set():
                self._reannounce_if_redis_returned()
                batch = self._next_batch()
                if batch:
                    self.decide(batch)
        except ProducerFencedError:
            self.fenced_at = time.monotonic()
            self.refused += 1
            if self.stopping.is_set():
                log.info("retired writer fenced by its replacement")
            else:
                log.error(
                    "writer fenced by another producer with the same transactional.id: is "
                    "another live decider using this ORDERS_DECIDER_INSTANCE_ID?"
                )
        except Exception:
            log.exception("writer failed")
        finally:
            if self.producer is not None:
                self.producer.close(timeout=5)

    def _open(self) -> bool:
        """Make the producer and fence whoever used its ``transactional.id`` before
        (aborting what it left open); retried with back-off, never given up."""
        delay, longest = OPEN_RETRY_S
        while not self.stopping.is_set():
            try:
                self.producer = self.clients.producer()
                self.producer.init_transactions()
            except KafkaError as exc:
                log.warning("cannot open the transactional producer yet (%s); retrying", exc)
                if self.producer is not None:
                    self.producer.close(timeout=1)
                    self.producer = None
                if self.stopping.wait(delay):
                    return False
                delay = min(delay * 2, longest)
                continue
            self.opened.set()
            return True
        return False

    def producer_epoch(self) -> int:
        """The epoch of the producer's transactional.id (recorded in snapshots); -1 when
        unknown. kafka-python keeps it internal (pinned in constraints.txt)."""
        manager = getattr(self.producer, "_transaction_manager", None)
        ids = getattr(manager, "producer_id_and_epoch", None)
        return int(getattr(ids, "epoch", -1))

    def stuck(self, limit_s: float) -> bool:
        """In one transaction for longer than ``limit_s``: kafka-python's transactional
        producer does not recover from a coordinator that moved or restarted (the broker
        died), so the poll loop replaces such a writer; the new one's
        ``init_transactions`` fences this one."""
        return self.in_transaction and time.monotonic() - self.transaction_started > limit_s

    def wait_until_out_of(self, partitions: set[int], timeout_s: float) -> bool:
        """Wait until no open transaction holds any of ``partitions``; False on timeout."""
        with self.idle:
            return self.idle.wait_for(
                lambda: not (self.in_transaction and self.batch & partitions), timeout_s
            )

    def _next_batch(self) -> list[Delivery]:
        """Everything waiting, in order, for the partitions that are caught up; deliveries
        fetched before a re-seek (or of a revoked partition) are dropped."""
        waiting, self.held = self.held, []
        with contextlib.suppress(queue.Empty):
            waiting.append(self.inbox.get(timeout=0.05 if waiting else 0.2))
        count = sum(len(d.records) for d in waiting)
        while count < MAX_BATCH_RECORDS:
            try:
                delivery = self.inbox.get_nowait()
            except queue.Empty:
                break
            waiting.append(delivery)
            count += len(delivery.records)
        ready: dict[int, bool] = {}  # judged once per partition: its deliveries stay in order
        batch = []
        for delivery in waiting:
            partition = delivery.partition
            if (
                partition.revoked.is_set()
                or partition.needs_seek.is_set()
                or delivery.epoch != partition.epoch
            ):
                continue  # re-consumed from the committed offset after the re-seek
            if ready.setdefault(partition.number, partition.caught_up.is_set()):
                batch.append(delivery)
            else:
                self.held.append(delivery)
        return batch

    def decide(self, batch: list[Delivery]) -> None:
        """One transaction: judge every record, send the events and the consumed offsets,
        commit; then announce the verdicts. Anything the broker refuses rolls back."""
        assert self.producer is not None
        with self.idle:
            # Under the lock a revocation waits on (``wait_until_out_of``): either it sees
            # this transaction, or this transaction sees the partition revoked.
            batch = [d for d in batch if not d.partition.revoked.is_set()]
            if not batch:
                return
            partitions = list({d.partition.number: d.partition for d in batch}.values())
            self.transaction_started = time.monotonic()
            self.in_transaction = True
            self.batch = frozenset(p.number for p in partitions)
        verdicts: list[Verdict] = []
        last_sent: dict[int, tuple[SentRecord, str]] = {}
        offsets: dict[TopicPartition, OffsetAndMetadata] = {}
        reopen = False
        try:
            self.producer.begin_transaction()
            for delivery in batch:
                partition = delivery.partition
                for record in delivery.records:
                    verdict, sent = self._judge(partition, record.value, record.headers)
                    verdicts.append(verdict)
                    if sent is not None:
                        last_sent[partition.number] = sent
                offsets[partition.tp] = OffsetAndMetadata(delivery.records[-1].offset + 1, "", -1)
            if self.stopping.is_set() or any(p.revoked.is_set() for p in partitions):
                raise Abandoned
            # The offsets go last, not first (which would overlap their round trips with
            # the judging): a writer stalled mid-batch whose transaction already carried
            # them would hold the partition's next owner back until the timeout.
            self.producer.send_offsets_to_transaction(offsets, batch[-1].group)
            with metrics.COMMIT_SECONDS.time():
                self.producer.commit_transaction()
        except (KafkaError, Abandoned) as exc:
            if fenced(exc):
                self._forget(partitions)  # nothing of this batch is committed
                raise ProducerFencedError() from exc
            reopen = self._roll_back(partitions, exc)
            return
        except BaseException:
            # Not the broker (a bug, or the thread is ending): nothing of this batch is
            # committed, and no book may keep its tentative state.
            self._forget(partitions)
            raise
        finally:
            with self.idle:
                self.in_transaction = False
                self.batch = frozenset()
                self.idle.notify_all()
            if reopen:
                # Out of the transaction first: a writer that re-opens its producer
                # (with back-off, while the broker is away) is recovering, not stuck.
                self._reopen()
        self._flush(partitions, last_sent)
        metrics.BATCH_COMMANDS.observe(len(verdicts))
        for verdict in verdicts:
            metrics.DECIDED.labels("accepted" if verdict.accepted else "rejected").inc()
        self.outbox.announce(verdicts)

    def _judge(
        self, partition: OwnedPartition, value: bytes | None, headers: records.Headers | None
    ) -> tuple[Verdict, tuple[SentRecord, str] | None]:
        """Judge one command record; returns its verdict and the future and id of its last
        event. With tracing on, in a span continuing the command's trace (its record's
        ``traceparent``), whose context goes into each event record."""
        try:
            command = records.decode_command(value)
        except codec.UndecodableCommand as exc:
            log.error("undecodable command on partition %d: %s", partition.number, exc)
            return answers.refused("unknown", InvalidCommand(str(exc))), None
        attributes = None
        if tracing.enabled():
            attributes = {
                "orders.command_id": command.command_id,
                "orders.order_id": command.order_id,
                "orders.command": command.type,
                "messaging.destination.partition.id": partition.number,
            }
        with (
            tracing.span("decide", headers=headers, attributes=attributes),
            logs.about(order_id=command.order_id, command_id=command.command_id),
        ):
            return self._decide_one(partition, command)

    def _decide_one(
        self, partition: OwnedPartition, command: Command
    ) -> tuple[Verdict, tuple[SentRecord, str] | None]:
        assert self.producer is not None
        try:
            events, decision = partition.book.judge(command, now=self.clock(), new_id=new_id)
            verdict = answers.verdict(command.command_id, decision)
        except Exception:  # a bug must not wedge the partition behind one command
            log.exception("could not decide command %s", command.command_id)
            error = InvalidCommand("the command could not be decided")
            return answers.refused(command.command_id, error), None
        sent = None
        for event in events:
            record = records.event_record(event, command.request_hash, partition.number)
            tracing.inject(record.headers)
            future = self.producer.send(
                self.settings.events_topic,
                key=record.key,
                value=record.value,
                headers=record.headers,
                partition=record.partition,
            )
            sent = (future, event.event_id)
        return verdict, sent

    def _flush(
        self, partitions: list[OwnedPartition], last_sent: dict[int, tuple[SentRecord, str]]
    ) -> None:
        """The transaction committed: write each book's decisions to its store, as of the
        offset after the partition's last event. A store that refuses (disk full) costs
        that partition a catch-up from the log; the verdicts stand, they are committed."""
        for partition in partitions:
            book = partition.book
            if partition.number in last_sent:
                future, event_id = last_sent[partition.number]
                offset = future.get().offset
                book.committed(offset + 1, Tip(offset, event_id))
            try:
                book.flush()
            except sqlite3.Error as exc:
                log.error("partition %d: cannot write its state (%s)", partition.number, exc)
                partition.roll_back()

    def _forget(self, partitions: list[OwnedPartition]) -> None:
        """Discard the batch's unflushed state (a transaction that did not commit) and
        have the poll loop re-seek them; the catch-up goes on from the store's offset."""
        for partition in partitions:
            partition.roll_back()

    def _roll_back(self, partitions: list[OwnedPartition], cause: BaseException) -> bool:
        """Abort and forget the tentative state; the poll loop re-seeks and catches up.
        True if the producer could not even abort and must be made anew."""
        assert self.producer is not None
        self.refused += 1
        numbers = [p.number for p in partitions]
        log.warning("transaction of partitions %s refused (%r); rolled back", numbers, cause)
        self._forget(partitions)
        try:
            self.producer.abort_transaction()
        except KafkaError as exc:
            if fenced(exc):
                raise ProducerFencedError() from exc
            log.warning("abort failed (%s); opening a new producer", exc)
            return True
        return False

    def _reopen(self) -> None:
        """A producer that cannot even abort is in a fatal state: make a new one (its
        init_transactions aborts whatever this one left open)."""
        assert self.producer is not None
        self.producer.close(timeout=1)
        self.producer = None
        self.opened.clear()
        self._open()

    def _reannounce_if_redis_returned(self) -> None:
        """Redis came back after trouble (maybe empty): announce the books' recent
        verdicts again (``SET NX``). Between batches, so no book holds tentative state."""
        returns = self.outbox.returned
        if returns != self.redis_returns:
            self.redis_returns = returns
            for partition in self.owned():
                if partition.caught_up.is_set():
                    self.outbox.announce(partition.recent_verdicts(), only_missing=True)


def fenced(error: BaseException) -> bool:
    """Whether ``error`` (or what caused it) says the producer is fenced. kafka-python
    3.0.12 raises ``ProducerFencedError`` only from the call that met it; once a
    background request met it, every later call raises a plain ``KafkaError`` naming it."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, ProducerFencedError) or "ProducerFenced" in str(seen):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
