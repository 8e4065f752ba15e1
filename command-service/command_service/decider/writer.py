"""One partition's writer: a thread that decides its partition's commands in Kafka
transactions, with its own transactional producer and its own book.

Each partition of ``orders.commands`` gets a writer whose ``transactional.id`` names the
partition (``{group}-p{n}``). Two fences protect the log from a stale owner (a "zombie"):
``init_transactions`` by the partition's next owner bumps the producer epoch, so the old
owner's producer is fenced; and every transaction carries the consumer-group generation
it was assigned under (``send_offsets_to_transaction`` with the group metadata, KIP-447),
so a member that has left the group cannot commit. Partitions commit in parallel, so one
slow transaction never holds up the others.

The writer is handed its clients (``ports.WriterClients``, built in ``clients.py``) and
its outbox (the courier): the tests drive it with fakes.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kafka import TopicPartition
from kafka.errors import KafkaError, ProducerFencedError
from kafka.structs import OffsetAndMetadata

from command_service import answers
from command_service.decider import metrics, records
from command_service.decider.book import PartitionBook
from command_service.decider.catchup import catch_up
from command_service.decider.ports import Outbox, SentRecord, TransactionalProducer, WriterClients
from command_service.verdicts import Verdict
from ordersource import codec
from ordersource.domain import InvalidCommand
from ordersource.ids import new_id
from ordersource.settings import Settings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Delivery:
    """Records the consumer fetched for this partition, tagged with the seek epoch and the
    group membership they were fetched under."""

    epoch: int
    records: list[Any]
    group: Any


class Abandoned(Exception):
    """The writer was told to stop in the middle of a batch: abort, commit nothing."""


class PartitionWriter(threading.Thread):
    def __init__(
        self,
        tp: TopicPartition,
        book: PartitionBook,
        settings: Settings,
        clients: WriterClients,
        outbox: Outbox,
        clock: Callable[[], datetime],
    ) -> None:
        super().__init__(name=f"writer-{tp.partition}", daemon=True)
        self.tp, self.book, self.settings, self.clock = tp, book, settings, clock
        self.clients = clients
        self.outbox = outbox
        self.redis_returns = outbox.returned  # re-announce when Redis is back after this
        self.inbox: queue.Queue[Delivery] = queue.Queue()
        self.epoch = 0  # bumped by the poll loop after it re-seeks this partition
        self.needs_seek = threading.Event()
        self.caught_up = threading.Event()
        self.stopping = threading.Event()
        self.refused = 0  # transactions the broker refused (fenced, failed) and we rolled back
        self.in_transaction = False  # the book holds tentative state while this is True
        self.transaction_started = 0.0  # time.monotonic() when the current one began
        self.producer: TransactionalProducer  # made in run(): its bootstrap blocks (see there)

    def run(self) -> None:
        # The producer is made here, not by the poll loop: its constructor connects
        # and can block, and the poll loop must keep polling (and the consumer's IO
        # thread heartbeating) meanwhile.
        try:
            self.producer = self.clients.producer_for(self.tp.partition)
        except Exception:
            log.exception("partition %d: cannot create the producer", self.tp.partition)
            return
        try:
            self.open()
            while not self.stopping.is_set():
                self._reannounce_if_redis_returned()
                batch = self._next_batch()
                if batch:
                    self.decide(batch)
        except ProducerFencedError:
            log.warning("partition %d: fenced by a newer writer; stopping", self.tp.partition)
            self.refused += 1
        except Exception:
            log.exception("partition %d writer failed", self.tp.partition)
        finally:
            self.producer.close(timeout=5)

    def open(self) -> None:
        """Fence whoever wrote this partition before, then catch the book up."""
        self.producer.init_transactions()
        self.catch_up()
        self.caught_up.set()

    def stuck(self, limit_s: float) -> bool:
        """In one transaction for longer than ``limit_s``: kafka-python's transactional
        producer does not recover from a coordinator that moved or restarted (the broker
        died), so the poll loop replaces such a writer; the new one's
        ``init_transactions`` fences this one."""
        return self.in_transaction and time.monotonic() - self.transaction_started > limit_s

    def _next_batch(self) -> list[Delivery]:
        try:
            batch = [self.inbox.get(timeout=0.2)]
        except queue.Empty:
            return []
        while True:
            try:
                batch.append(self.inbox.get_nowait())
            except queue.Empty:
                break
        if self.needs_seek.is_set():
            return []
        return [d for d in batch if d.epoch == self.epoch]

    def catch_up(self) -> None:
        """Fold what the log holds past the book's offset, then re-announce the book's
        recent verdicts (``SET NX``: answers a crash may have lost)."""
        reader = self.clients.event_reader()
        try:
            with metrics.CATCHUP_SECONDS.time():
                events = catch_up(
                    reader, self.settings.events_topic, self.book, self.stopping.is_set
                )
        finally:
            reader.close()
        metrics.CATCHUP_EVENTS.inc(events)
        self._announce(self._recent_verdicts(), only_missing=True)

    def decide(self, batch: list[Delivery]) -> None:
        """One transaction: judge every record, send the events and the consumed offsets,
        commit; then announce the verdicts. Anything the broker refuses rolls back."""
        consumed = [record for delivery in batch for record in delivery.records]
        verdicts: list[Verdict] = []
        last_sent: SentRecord | None = None
        self.transaction_started = time.monotonic()
        self.in_transaction = True
        try:
            self.producer.begin_transaction()
            for record in consumed:
                verdict, sent = self._judge(record.value)
                verdicts.append(verdict)
                last_sent = sent or last_sent
            if self.stopping.is_set():
                raise Abandoned
            offset = OffsetAndMetadata(consumed[-1].offset + 1, "", -1)
            self.producer.send_offsets_to_transaction({self.tp: offset}, batch[-1].group)
            with metrics.COMMIT_SECONDS.time():
                self.producer.commit_transaction()
            if last_sent is not None:
                # Our own events are in the book already; later catch-ups start after them.
                self.book.next_offset = last_sent.get().offset + 1
        except ProducerFencedError:
            self._forget_tentative()  # nothing of this batch is committed
            raise
        except (KafkaError, Abandoned) as exc:
            self._roll_back(exc)
            return
        finally:
            self.in_transaction = False
        for verdict in verdicts:
            metrics.DECIDED.labels("accepted" if verdict.accepted else "rejected").inc()
        self._announce(verdicts)

    def _judge(self, value: bytes | None) -> tuple[Verdict, SentRecord | None]:
        """Judge one command record; returns its verdict and the future of its last event."""
        try:
            command = records.decode_command(value)
        except codec.UndecodableCommand as exc:
            log.error("undecodable command on partition %d: %s", self.tp.partition, exc)
            return answers.refused("unknown", InvalidCommand(str(exc))), None
        try:
            events, decision = self.book.judge(command, now=self.clock(), new_id=new_id)
            verdict = answers.verdict(command.command_id, decision)
        except Exception:  # a bug must not wedge the partition behind one command
            log.exception("could not decide command %s", command.command_id)
            error = InvalidCommand("the command could not be decided")
            return answers.refused(command.command_id, error), None
        sent = None
        for event in events:
            record = records.event_record(event, command.request_hash, self.tp.partition)
            sent = self.producer.send(
                self.settings.events_topic,
                key=record.key,
                value=record.value,
                headers=record.headers,
                partition=record.partition,
            )
        return verdict, sent

    def _forget_tentative(self) -> None:
        """Throw the book away: it holds the events of a transaction that did not commit.
        The next catch-up rebuilds it from the log."""
        self.book = PartitionBook(self.tp.partition, self.settings.decider_dedup_window)

    def _roll_back(self, cause: BaseException) -> None:
        """Forget the tentative state, re-read the log, have the consumer re-seek."""
        self.refused += 1
        log.warning("partition %d: transaction refused (%r); rolled back", self.tp.partition, cause)
        self._forget_tentative()
        try:
            self.producer.abort_transaction()
        except KafkaError as exc:
            log.warning("partition %d: abort failed: %s", self.tp.partition, exc)
        if self.stopping.is_set():
            return
        self.needs_seek.set()  # the poll loop re-seeks to the committed offset
        self.catch_up()

    def _announce(self, verdicts: list[Verdict], *, only_missing: bool = False) -> None:
        # Handed to the courier's thread: Redis being slow or away never holds up this
        # loop, and the courier retries until Redis is back (``courier.py``).
        self.outbox.announce(verdicts, only_missing=only_missing)

    def _recent_verdicts(self) -> list[Verdict]:
        return [answers.accepted(cid, o) for cid, o in self.book.recent_outcomes()]

    def _reannounce_if_redis_returned(self) -> None:
        """Redis came back after trouble (maybe empty): announce the book's recent
        verdicts again (``SET NX``). Between batches, so the book holds no tentative
        state, and on this thread, the only one that touches the book."""
        returns = self.outbox.returned
        if returns != self.redis_returns:
            self.redis_returns = returns
            self._announce(self._recent_verdicts(), only_missing=True)
