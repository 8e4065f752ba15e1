"""The decider loop: consume commands, judge them against the book, write the events and
the consumed offsets in ONE Kafka transaction, then announce the verdicts.

Why transactions: the consumer group gives each partition of ``orders.commands`` one owner,
but an owner that lost its partition (a "zombie", e.g. after a long GC pause) may still be
producing. Its transaction carries the group generation it was assigned under
(``send_offsets_to_transaction`` with ``group_metadata()``, KIP-447); the coordinator refuses
a stale generation, so the zombie's transaction aborts and read_committed readers never see
its events. Verdicts go out only after the commit, so a 2xx always means "in the log".
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import redis
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from kafka.errors import KafkaError, ProducerFencedError
from kafka.structs import OffsetAndMetadata

from command_service.decider import metrics
from command_service.decider.book import PartitionBook
from command_service.decider.catchup import catch_up
from command_service.verdicts import Verdict, rejected
from ordersource import codec, keys
from ordersource.connections import kafka_options, redis_options
from ordersource.domain import InvalidCommand
from ordersource.ids import new_id
from ordersource.settings import Settings

log = logging.getLogger(__name__)


class Decider:
    def __init__(self, settings: Settings, *, clock: Callable[[], datetime] | None = None) -> None:
        self.settings = settings
        self.clock = clock or (lambda: datetime.now(UTC))
        self.books: dict[int, PartitionBook] = {}
        self.fenced_batches = 0
        """Batches whose transaction the broker refused (stale owner) and were rolled back."""
        self.ready = threading.Event()
        self.stopping = threading.Event()
        common = {**kafka_options(settings), "client_id": "orders-decider"}
        self.producer = KafkaProducer(
            **common,
            transactional_id=f"{settings.decider_group}-{settings.decider_instance}",
            transaction_timeout_ms=settings.decider_transaction_timeout_ms,
            acks="all",
            linger_ms=2,
        )
        self.consumer = KafkaConsumer(
            **common,
            group_id=settings.decider_group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            max_poll_records=500,
            session_timeout_ms=settings.decider_session_timeout_ms,
            heartbeat_interval_ms=max(1000, settings.decider_session_timeout_ms // 5),
            max_poll_interval_ms=settings.decider_max_poll_interval_ms,
        )
        self.reader = KafkaConsumer(
            **common,
            enable_auto_commit=False,
            isolation_level="read_committed",
            max_partition_fetch_bytes=8 * 1024 * 1024,
        )
        self.redis = redis.Redis.from_url(
            settings.redis_url, socket_timeout=2, **redis_options(settings)
        )

    def run(self) -> None:
        # Completes or aborts whatever a previous incarnation of this instance left open.
        self.producer.init_transactions()
        self.consumer.subscribe([self.settings.commands_topic], listener=_Listener(self))
        while not self.stopping.is_set():
            batch = self.consumer.poll(timeout_ms=200)
            if batch:
                self._decide(batch)

    def stop(self) -> None:
        self.stopping.set()

    def close(self) -> None:
        self.consumer.close(autocommit=False)
        self.reader.close()
        self.producer.close(timeout=5)
        self.redis.close()

    # -- assignment -----------------------------------------------------------------
    def assigned(self, partitions: Iterable[TopicPartition]) -> None:
        for tp in sorted(partitions):
            book = self.books.setdefault(tp.partition, PartitionBook(tp.partition))
            with metrics.CATCHUP_SECONDS.time():
                metrics.CATCHUP_EVENTS.inc(catch_up(self.reader, self.settings.events_topic, book))
            self._announce(book.recent_verdicts(), only_missing=True)
        metrics.PARTITIONS.set(len(self.consumer.assignment()))
        self.ready.set()

    def revoked(self, partitions: Iterable[TopicPartition]) -> None:
        # Keep the books: if a partition comes back, catching up from where we were is
        # enough, because events written meanwhile by another owner are in the log.
        metrics.PARTITIONS.set(0)

    # -- deciding ---------------------------------------------------------------------
    def _decide(self, batch: dict[TopicPartition, list]) -> None:  # type: ignore[type-arg]
        verdicts: list[Verdict] = []
        offsets: dict[TopicPartition, OffsetAndMetadata] = {}
        last_sent: dict[int, Any] = {}
        try:
            self.producer.begin_transaction()
            for tp, records in batch.items():
                book = self.books[tp.partition]
                for record in records:
                    verdict, sent = self._judge(book, record.value)
                    verdicts.append(verdict)
                    if sent is not None:
                        last_sent[tp.partition] = sent
                offsets[tp] = OffsetAndMetadata(records[-1].offset + 1, "", -1)
            self.producer.send_offsets_to_transaction(offsets, self.consumer.group_metadata())
            with metrics.COMMIT_SECONDS.time():
                self.producer.commit_transaction()
        except ProducerFencedError:
            log.critical("fenced: another decider took over transactional id; exiting")
            raise
        except KafkaError as exc:
            log.warning("transaction failed (%s); rolling back %d partitions", exc, len(batch))
            self.fenced_batches += 1
            self._roll_back(batch)
            return
        for partition, sent in last_sent.items():
            # Our own events are already in the book; later catch-ups start after them.
            self.books[partition].next_offset = sent.get().offset + 1
        for verdict in verdicts:
            metrics.DECIDED.labels("accepted" if verdict.accepted else "rejected").inc()
        self._announce(verdicts)

    def _judge(self, book: PartitionBook, value: bytes | None) -> tuple[Verdict, Any]:
        """Judge one command record; returns its verdict and the future of its last event."""
        try:
            command = codec.decode_command(value)
        except codec.UndecodableCommand as exc:
            log.error("undecodable command on partition %d: %s", book.partition, exc)
            return rejected("unknown", InvalidCommand(str(exc))), None
        try:
            events, verdict = book.judge(command, now=self.clock(), new_id=new_id)
        except Exception:  # a bug must not wedge the partition behind one command
            log.exception("could not decide command %s", command.command_id)
            return rejected(
                command.command_id, InvalidCommand("the command could not be decided")
            ), None
        sent = None
        for event in events:
            headers = codec.event_headers(event)
            if command.request_hash:
                headers.append(("request_hash", command.request_hash.encode()))
            sent = self.producer.send(
                self.settings.events_topic,
                key=event.order_id.encode(),
                value=codec.encode_event(event),
                headers=headers,
                partition=book.partition,
            )
        return verdict, sent

    def _roll_back(self, batch: dict[TopicPartition, list]) -> None:  # type: ignore[type-arg]
        """Forget the tentative state, re-read the log, re-consume from the last commit."""
        try:
            self.producer.abort_transaction()
        except KafkaError as exc:
            log.warning("abort failed: %s", exc)
        for tp in batch:
            self.books.pop(tp.partition, None)
            book = self.books.setdefault(tp.partition, PartitionBook(tp.partition))
            catch_up(self.reader, self.settings.events_topic, book)
            committed = self.consumer.committed(tp)
            self.consumer.seek(tp, committed if committed is not None else 0)

    def _announce(self, verdicts: list[Verdict], *, only_missing: bool = False) -> None:
        if not verdicts:
            return
        ttl = self.settings.command_result_ttl_s
        try:
            pipe = self.redis.pipeline(transaction=False)
            for verdict in verdicts:
                data = verdict.to_bytes()
                pipe.set(keys.result(verdict.command_id), data, ex=ttl, nx=only_missing)
                if not only_missing:
                    pipe.publish(keys.RESULTS_CHANNEL, data)
            pipe.execute()
        except redis.RedisError as exc:
            # Verdicts are a courtesy: the events are committed. Waiting clients get 202.
            log.warning("could not announce %d verdicts: %s", len(verdicts), exc)


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, decider: Decider) -> None:
        self.decider = decider

    def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        self.decider.revoked(revoked)

    def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        self.decider.assigned(assigned)
