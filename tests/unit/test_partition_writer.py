"""One partition's writer with fake Kafka clients: a batch is one transaction, verdicts go
out only after its commit, and whatever the broker refuses is rolled back completely."""

from __future__ import annotations

import time
from datetime import datetime

import pytest
from kafka import TopicPartition
from kafka.errors import KafkaTimeoutError, ProducerFencedError

from command_service.decider.book import PartitionBook
from command_service.decider.writer import Delivery, PartitionWriter
from ordersource.domain import OrderPlaced
from ordersource.settings import Settings
from tests.support.commands import T0, modify, place
from tests.support.write_side import (
    FakeOutbox,
    FakeProducer,
    FakeWriterClients,
    Record,
    command_records,
)

pytestmark = pytest.mark.unit

TP = TopicPartition("orders.commands", 0)


def clock() -> datetime:
    return T0


def writer_for(clients: FakeWriterClients | None = None) -> tuple[PartitionWriter, FakeOutbox]:
    outbox = FakeOutbox()
    writer = PartitionWriter(
        TP, PartitionBook(0), Settings(), clients or FakeWriterClients(), outbox, clock
    )
    return writer, outbox


def opened(clients: FakeWriterClients | None = None) -> tuple[PartitionWriter, FakeOutbox]:
    """A writer as ``run()`` leaves it before its first batch: producer made, caught up."""
    writer, outbox = writer_for(clients)
    writer.producer = writer.clients.producer_for(0)
    writer.open()
    return writer, outbox


def delivery(*records: Record, epoch: int = 0) -> list[Delivery]:
    return [Delivery(epoch, list(records), group="generation-1")]


def test_a_batch_is_one_transaction_and_its_verdicts_go_out_after_the_commit() -> None:
    clients = FakeWriterClients()
    writer, outbox = opened(clients)
    first, second = command_records([place("o1", request_hash="h1"), place("o2")])
    writer.decide(delivery(first, second))
    producer = clients.producers[0]
    assert producer.calls == ["init", "begin", "send", "send", "offsets", "commit"]
    assert [e.order_id for e in clients.log.events(0)] == ["o1", "o2"]
    assert clients.log.offsets == {0: 2}  # the consumed offsets, in the same transaction
    headers = dict(clients.log.partitions[0][0].headers)
    assert headers == {"type": b"OrderPlaced", "schema_version": b"2", "request_hash": b"h1"}
    assert [(v.http_status, v.body["order_id"]) for v in outbox.published()] == [
        (201, "o1"),
        (201, "o2"),
    ]
    assert writer.book.next_offset == 2  # its own events: the next catch-up starts after
    assert not writer.in_transaction


def test_a_refused_commit_rolls_back_the_book_and_announces_nothing() -> None:
    clients = FakeWriterClients()
    writer, outbox = opened(clients)
    command = place("o1")
    clients.producers[0].fail_commit = KafkaTimeoutError("coordinator away")
    writer.decide(delivery(*command_records([command])))
    assert outbox.published() == []
    assert clients.log.events(0) == []
    assert clients.producers[0].calls[-2:] == ["commit", "abort"]
    assert writer.refused == 1
    assert writer.needs_seek.is_set()  # the poll loop re-seeks to the committed offset
    assert "o1" not in writer.book.orders  # the tentative state is gone
    assert len(clients.readers) == 2  # and the book was caught up from the log again
    # Redelivered after the re-seek, the command is decided afresh (not "already exists").
    writer.needs_seek.clear()
    writer.decide(delivery(*command_records([command])))
    assert [v.http_status for v in outbox.published()] == [201]


def test_a_fenced_writer_forgets_its_book_and_stops() -> None:
    clients = FakeWriterClients()
    writer, outbox = opened(clients)
    writer.decide(delivery(*command_records([place("o1")])))
    clients.producers[0].fenced = ProducerFencedError()
    with pytest.raises(ProducerFencedError):
        writer.decide(delivery(*command_records([place("o2")], first_offset=1)))
    assert writer.book.orders == {}  # a fresh book: nothing tentative survives
    assert [v.body["order_id"] for v in outbox.published()] == ["o1"]


def test_run_stops_a_fenced_writer_and_closes_its_producer() -> None:
    clients = FakeWriterClients()
    writer, _ = writer_for(clients)

    def fenced(partition: int) -> FakeProducer:
        producer = FakeWriterClients.producer_for(clients, partition)
        producer.fenced = ProducerFencedError()
        return producer

    clients.producer_for = fenced  # type: ignore[method-assign]
    writer.run()  # on this thread: returns at once
    assert writer.refused == 1
    assert clients.producers[0].closed
    assert not writer.caught_up.is_set()


def test_an_undecodable_command_is_refused_and_the_batch_goes_on() -> None:
    writer, outbox = opened()
    garbage = Record(0, b"not a command")
    [good] = command_records([place("o1")], first_offset=1)
    writer.decide(delivery(garbage, good))
    refused, accepted = outbox.published()
    assert (refused.command_id, refused.http_status, refused.accepted) == ("unknown", 422, False)
    assert refused.body["title"] == "Invalid command"
    assert (accepted.http_status, accepted.accepted) == (201, True)


def test_a_writer_told_to_stop_mid_batch_commits_nothing() -> None:
    clients = FakeWriterClients()
    writer, outbox = opened(clients)
    writer.stopping.set()
    writer.decide(delivery(*command_records([place("o1")])))
    assert clients.producers[0].calls[-1] == "abort"
    assert clients.log.events(0) == []
    assert outbox.published() == []
    assert not writer.needs_seek.is_set()  # stopping: no re-seek, no catch-up
    assert writer.book.orders == {}


def test_a_retried_command_gets_its_original_verdict_and_writes_nothing() -> None:
    clients = FakeWriterClients()
    writer, outbox = opened(clients)
    command = place("o1", request_hash="h1")
    writer.decide(delivery(*command_records([command])))
    writer.decide(delivery(*command_records([command], first_offset=1)))
    first, again = outbox.published()
    assert again == first
    assert len(clients.log.events(0)) == 1
    assert clients.log.offsets == {0: 2}  # the retry's record is consumed all the same


def test_a_new_writer_rebuilds_from_the_log_and_reannounces_only_missing_verdicts() -> None:
    clients = FakeWriterClients()
    old, _ = opened(clients)
    placed, changed = place("o1"), modify({"sku": "apple", "quantity": 6})
    old.decide(delivery(*command_records([placed, changed])))
    new, outbox = opened(clients)  # the partition's next owner, on the same log
    assert new.book.orders["o1"].version == 2
    [(verdicts, only_missing)] = outbox.announced
    assert only_missing  # SET NX: an answer Redis still has is never overwritten
    assert [v.command_id for v in verdicts] == [placed.command_id, changed.command_id]
    assert [v.http_status for v in verdicts] == [201, 200]
    assert isinstance(clients.log.events(0)[0], OrderPlaced)


def test_reannounces_recent_verdicts_when_redis_returns() -> None:
    writer, outbox = opened()
    writer.decide(delivery(*command_records([place("o1")])))
    writer._reannounce_if_redis_returned()
    assert len(outbox.announced) == 2  # catch-up (empty) and the batch: nothing new
    outbox.returned += 1
    writer._reannounce_if_redis_returned()
    verdicts, only_missing = outbox.announced[-1]
    assert only_missing
    assert [v.body["order_id"] for v in verdicts] == ["o1"]


def test_deliveries_from_before_a_reseek_are_dropped() -> None:
    writer, _ = writer_for()
    writer.epoch = 1
    writer.inbox.put(Delivery(0, command_records([place("stale")]), group=None))
    writer.inbox.put(Delivery(1, command_records([place("fresh")]), group=None))
    assert [d.epoch for d in writer._next_batch()] == [1]


def test_the_thread_decides_what_its_inbox_receives_until_stopped() -> None:
    clients = FakeWriterClients()
    writer, outbox = writer_for(clients)
    writer.start()
    writer.inbox.put(delivery(*command_records([place("o1")]))[0])
    deadline = time.monotonic() + 5
    while not outbox.published() and time.monotonic() < deadline:
        time.sleep(0.01)
    writer.stopping.set()
    writer.join(timeout=5)
    assert not writer.is_alive()
    assert writer.caught_up.is_set()
    assert [v.body["order_id"] for v in outbox.published()] == ["o1"]
    assert clients.producers[0].closed
