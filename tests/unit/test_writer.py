"""The decider's writer with fake Kafka clients: everything queued, across partitions, is
one transaction; verdicts go out only after its commit, and whatever the broker refuses
is rolled back completely."""

from __future__ import annotations

import threading
import time
from datetime import datetime

import pytest
from kafka import TopicPartition
from kafka.errors import KafkaTimeoutError, ProducerFencedError

from command_service.decider.book import PartitionBook
from command_service.decider.partition import OwnedPartition
from command_service.decider.writer import Delivery, Writer
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

SETTINGS = Settings()


def clock() -> datetime:
    return T0


def caught_up(clients: FakeWriterClients, outbox: FakeOutbox, number: int = 0) -> OwnedPartition:
    """An owned partition as the poll loop leaves it once caught up (on this thread)."""
    partition = OwnedPartition(TopicPartition("orders.commands", number), PartitionBook(number))
    partition._catch_up(clients, SETTINGS.events_topic, outbox)
    assert partition.caught_up.is_set()
    return partition


def opened(
    clients: FakeWriterClients | None = None, partitions: int = 1
) -> tuple[Writer, list[OwnedPartition], FakeOutbox]:
    """A writer as ``run()`` leaves it before its first batch, and its caught-up partitions."""
    clients = clients or FakeWriterClients()
    outbox = FakeOutbox()
    owned = [caught_up(clients, outbox, n) for n in range(partitions)]
    writer = Writer(SETTINGS, clients, outbox, clock, owned=lambda: owned)
    assert writer._open()
    return writer, owned, outbox


def delivery(partition: OwnedPartition, *records: Record) -> Delivery:
    return Delivery(partition, partition.epoch, list(records), group="generation-1")


def test_a_batch_is_one_transaction_and_its_verdicts_go_out_after_the_commit() -> None:
    clients = FakeWriterClients()
    writer, [p0], outbox = opened(clients)
    first, second = command_records([place("o1", request_hash="h1"), place("o2")])
    writer.decide([delivery(p0, first, second)])
    [producer] = clients.producers
    assert producer.calls == ["init", "begin", "send", "send", "offsets", "commit"]
    assert [e.order_id for e in clients.log.events(0)] == ["o1", "o2"]
    assert clients.log.offsets == {0: 2}  # the consumed offsets, in the same transaction
    headers = dict(clients.log.partitions[0][0].headers)
    assert headers == {"type": b"OrderPlaced", "schema_version": b"2", "request_hash": b"h1"}
    assert [(v.http_status, v.body["order_id"]) for v in outbox.published()] == [
        (201, "o1"),
        (201, "o2"),
    ]
    assert p0.book.next_offset == 2  # its own events: the next catch-up starts after
    assert not writer.in_transaction


def test_commands_of_several_partitions_share_one_transaction() -> None:
    clients = FakeWriterClients()
    writer, [p0, p1, p2], outbox = opened(clients, partitions=3)
    writer.decide(
        [
            delivery(p0, *command_records([place("a")])),
            delivery(p2, *command_records([place("c"), place("d")], first_offset=7)),
            delivery(p0, *command_records([place("b")], first_offset=1)),
        ]
    )
    [producer] = clients.producers
    assert producer.calls.count("commit") == 1
    assert clients.log.offsets == {0: 2, 2: 9}  # p1 had nothing: its offset is untouched
    assert [e.order_id for e in clients.log.events(0)] == ["a", "b"]  # partition 0's events
    assert [e.order_id for e in clients.log.events(2)] == ["c", "d"]
    assert (p0.book.next_offset, p1.book.next_offset, p2.book.next_offset) == (2, 0, 2)
    assert [v.body["order_id"] for v in outbox.published()] == ["a", "c", "d", "b"]


def test_a_refused_commit_rolls_back_every_book_of_the_batch_and_announces_nothing() -> None:
    clients = FakeWriterClients()
    writer, [p0, p1], outbox = opened(clients, partitions=2)
    command = place("o1")
    clients.producers[0].fail_commit = KafkaTimeoutError("coordinator away")
    writer.decide(
        [delivery(p0, *command_records([command])), delivery(p1, *command_records([place("x")]))]
    )
    assert outbox.published() == []
    assert clients.log.events(0) == []
    assert clients.log.events(1) == []
    assert clients.producers[0].calls[-2:] == ["commit", "abort"]
    assert writer.refused == 1
    for partition in (p0, p1):
        assert partition.needs_seek.is_set()  # the poll loop re-seeks to the committed offset
        assert not partition.caught_up.is_set()  # and catches the fresh book up first
        assert partition.book.orders == {}  # the tentative state is gone
    # Re-seeked and caught up, the redelivered command is decided afresh.
    p0.needs_seek.clear()
    p0.epoch += 1
    p0._catch_up(clients, SETTINGS.events_topic, outbox)
    writer.decide([delivery(p0, *command_records([command]))])
    assert [v.http_status for v in outbox.published()] == [201]


def test_a_producer_that_cannot_abort_is_replaced() -> None:
    clients = FakeWriterClients()
    writer, [p0], _ = opened(clients)
    first = clients.producers[0]
    first.fail_commit = KafkaTimeoutError("coordinator away")
    first.fail_abort = KafkaTimeoutError("still away")
    writer.decide([delivery(p0, *command_records([place("o1")]))])
    assert first.closed
    assert len(clients.producers) == 2
    assert writer.producer is clients.producers[1]
    assert clients.producers[1].calls == ["init"]  # fences the old one, aborting its txn
    assert writer.opened.is_set()


def test_a_fenced_writer_forgets_the_batch_and_stops() -> None:
    clients = FakeWriterClients()
    writer, [p0], outbox = opened(clients)
    writer.decide([delivery(p0, *command_records([place("o1")]))])
    clients.producers[0].fenced = ProducerFencedError()
    with pytest.raises(ProducerFencedError):
        writer.decide([delivery(p0, *command_records([place("o2")], first_offset=1))])
    assert p0.book.orders == {}  # a fresh book: nothing tentative survives
    assert p0.needs_seek.is_set()
    assert [v.body["order_id"] for v in outbox.published()] == ["o1"]


def test_opening_is_retried_until_the_broker_answers() -> None:
    clients = FakeWriterClients()
    made = 0

    def flaky() -> FakeProducer:
        nonlocal made
        made += 1
        if made == 1:
            raise KafkaTimeoutError("broker away")
        return FakeWriterClients.producer(clients)

    clients.producer = flaky  # type: ignore[method-assign]
    writer = Writer(SETTINGS, clients, FakeOutbox(), clock)
    assert writer._open()
    assert made == 2
    assert writer.opened.is_set()
    assert clients.producers[0].calls == ["init"]


def test_run_stops_a_fenced_writer_and_closes_its_producer() -> None:
    clients = FakeWriterClients()
    outbox = FakeOutbox()
    p0 = caught_up(clients, outbox)
    writer = Writer(SETTINGS, clients, outbox, clock)
    writer.inbox.put(delivery(p0, *command_records([place("o1")])))

    def fenced() -> FakeProducer:
        producer = FakeWriterClients.producer(clients)
        producer.fence_after_init = ProducerFencedError()
        return producer

    clients.producer = fenced  # type: ignore[method-assign]
    writer.run()  # on this thread: returns once fenced
    assert writer.refused == 1
    assert clients.producers[0].closed


def test_an_undecodable_command_is_refused_and_the_batch_goes_on() -> None:
    writer, [p0], outbox = opened()
    garbage = Record(0, b"not a command")
    [good] = command_records([place("o1")], first_offset=1)
    writer.decide([delivery(p0, garbage, good)])
    refused, accepted = outbox.published()
    assert (refused.command_id, refused.http_status, refused.accepted) == ("unknown", 422, False)
    assert refused.body["title"] == "Invalid command"
    assert (accepted.http_status, accepted.accepted) == (201, True)


def test_a_writer_told_to_stop_mid_batch_commits_nothing() -> None:
    clients = FakeWriterClients()
    writer, [p0], outbox = opened(clients)
    writer.stopping.set()
    writer.decide([delivery(p0, *command_records([place("o1")]))])
    assert clients.producers[0].calls[-1] == "abort"
    assert clients.log.events(0) == []
    assert outbox.published() == []
    assert p0.book.orders == {}


def test_a_partition_revoked_before_the_commit_abandons_the_transaction() -> None:
    clients = FakeWriterClients()
    writer, [p0, p1], outbox = opened(clients, partitions=2)
    # Revoked while the commands are judged (the listener, on the consumer's IO thread):
    # the check before the commit sees it.
    clients.producers[0].on_send = p1.revoked.set
    writer.decide(
        [delivery(p0, *command_records([place("a")])), delivery(p1, *command_records([place("b")]))]
    )
    assert clients.producers[0].calls[-1] == "abort"
    assert clients.log.events(0) == []
    assert clients.log.events(1) == []
    assert outbox.published() == []
    assert p0.needs_seek.is_set()  # p0 is still ours: re-seeked, its commands decided again


def test_a_revoked_partition_is_left_out_of_the_next_transaction() -> None:
    clients = FakeWriterClients()
    writer, [p0, p1], outbox = opened(clients, partitions=2)
    p1.revoked.set()
    writer.decide(
        [delivery(p0, *command_records([place("a")])), delivery(p1, *command_records([place("b")]))]
    )
    assert [e.order_id for e in clients.log.events(0)] == ["a"]
    assert clients.log.events(1) == []
    assert clients.log.offsets == {0: 1}
    assert [v.body["order_id"] for v in outbox.published()] == ["a"]


def test_a_retried_command_gets_its_original_verdict_and_writes_nothing() -> None:
    clients = FakeWriterClients()
    writer, [p0], outbox = opened(clients)
    command = place("o1", request_hash="h1")
    writer.decide([delivery(p0, *command_records([command]))])
    writer.decide([delivery(p0, *command_records([command], first_offset=1))])
    first, again = outbox.published()
    assert again == first
    assert len(clients.log.events(0)) == 1
    assert clients.log.offsets == {0: 2}  # the retry's record is consumed all the same


def test_a_new_owner_rebuilds_from_the_log_and_reannounces_only_missing_verdicts() -> None:
    clients = FakeWriterClients()
    writer, [p0], _ = opened(clients)
    placed, changed = place("o1"), modify({"sku": "apple", "quantity": 6})
    writer.decide([delivery(p0, *command_records([placed, changed]))])
    outbox = FakeOutbox()
    again = caught_up(clients, outbox)  # the partition's next owner, on the same log
    rebuilt = again.book.state_of("o1")
    assert rebuilt is not None
    assert rebuilt.version == 2
    [(verdicts, only_missing)] = outbox.announced
    assert only_missing  # SET NX: an answer Redis still has is never overwritten
    assert [v.command_id for v in verdicts] == [placed.command_id, changed.command_id]
    assert [v.http_status for v in verdicts] == [201, 200]
    assert isinstance(clients.log.events(0)[0], OrderPlaced)


def test_reannounces_recent_verdicts_when_redis_returns() -> None:
    writer, [p0], outbox = opened()
    writer.decide([delivery(p0, *command_records([place("o1")]))])
    writer._reannounce_if_redis_returned()
    assert len(outbox.announced) == 2  # catch-up (empty) and the batch: nothing new
    outbox.returned += 1
    writer._reannounce_if_redis_returned()
    verdicts, only_missing = outbox.announced[-1]
    assert only_missing
    assert [v.body["order_id"] for v in verdicts] == ["o1"]


def test_deliveries_from_before_a_reseek_are_dropped_and_those_catching_up_held() -> None:
    clients = FakeWriterClients()
    writer, [p0, p1], _ = opened(clients, partitions=2)
    p0.epoch = 1
    p1.caught_up.clear()  # still catching up
    stale = Delivery(p0, 0, command_records([place("stale")]), group=None)
    fresh = Delivery(p0, 1, command_records([place("fresh")]), group=None)
    early = [Delivery(p1, 0, command_records([place(f"e{n}")]), group=None) for n in range(2)]
    for d in (stale, early[0], fresh, early[1]):
        writer.inbox.put(d)
    assert writer._next_batch() == [fresh]
    assert writer.held == early  # kept, in their order, until p1 is caught up
    p1.caught_up.set()
    assert writer._next_batch() == early
    assert writer.held == []


def test_waiting_for_a_transaction_to_leave_some_partitions() -> None:
    writer, _, _ = opened(partitions=2)
    writer.in_transaction, writer.batch = True, frozenset({0})
    assert writer.wait_until_out_of({1}, timeout_s=0)  # not in this transaction
    assert not writer.wait_until_out_of({0}, timeout_s=0.01)
    done = threading.Event()

    def finish() -> None:
        with writer.idle:
            writer.in_transaction, writer.batch = False, frozenset()
            writer.idle.notify_all()
        done.set()

    threading.Thread(target=finish).start()
    assert writer.wait_until_out_of({0}, timeout_s=5)
    assert done.wait(5)


def test_the_thread_decides_what_its_inbox_receives_until_stopped() -> None:
    clients = FakeWriterClients()
    outbox = FakeOutbox()
    p0 = caught_up(clients, outbox)
    writer = Writer(SETTINGS, clients, outbox, clock, owned=lambda: [p0])
    writer.start()
    writer.inbox.put(delivery(p0, *command_records([place("o1")])))
    deadline = time.monotonic() + 5
    while not outbox.published() and time.monotonic() < deadline:
        time.sleep(0.01)
    writer.stopping.set()
    writer.join(timeout=5)
    assert not writer.is_alive()
    assert writer.opened.is_set()
    assert [v.body["order_id"] for v in outbox.published()] == ["o1"]
    assert clients.producers[0].closed


def test_a_fence_kafka_python_reports_as_a_plain_kafka_error_stops_the_writer() -> None:
    from kafka.errors import KafkaError

    clients = FakeWriterClients()
    writer, [p0], outbox = opened(clients)
    # What kafka-python 3.0.12 raises once a background request met the fence.
    clients.producers[0].fenced = KafkaError(
        "Cannot execute transactional method because we are in an error state: ProducerFencedError"
    )
    with pytest.raises(ProducerFencedError):
        writer.decide([delivery(p0, *command_records([place("o1")]))])
    assert len(clients.producers) == 1  # no new producer: it would fence the other one back
    assert p0.book.orders == {}
    assert p0.needs_seek.is_set()
    assert outbox.published() == []


def test_a_bug_mid_batch_leaves_no_tentative_state_in_the_books() -> None:
    clients = FakeWriterClients()
    writer, [p0], _ = opened(clients)

    def broken() -> None:
        raise TypeError("a bug")

    clients.producers[0].on_send = broken
    with pytest.raises(TypeError):
        writer.decide([delivery(p0, *command_records([place("o1")]))])
    assert p0.book.orders == {}
    assert p0.needs_seek.is_set()
    assert not writer.in_transaction


def test_a_refused_transaction_goes_back_to_the_last_commit_not_to_the_start() -> None:
    clients = FakeWriterClients()
    writer, [p0], outbox = opened(clients)
    writer.decide([delivery(p0, *command_records([place("o1")]))])
    assert p0.book.store.next_offset == 1  # flushed with the commit
    clients.producers[0].fail_commit = KafkaTimeoutError("coordinator away")
    writer.decide([delivery(p0, *command_records([place("o2")], first_offset=1))])
    assert p0.book.state_of("o2") is None  # the refused decision is gone
    kept = p0.book.state_of("o1")
    assert kept is not None  # the committed one is not
    assert kept.version == 1
    assert p0.book.next_offset == 1
    reader_count = len(clients.readers)
    p0.needs_seek.clear()
    p0._catch_up(clients, SETTINGS.events_topic, outbox)
    assert len(clients.readers) == reader_count + 1
    assert clients.readers[-1].sought == [1]  # read on from the last commit, never from 0


def test_a_writer_reopening_its_producer_is_not_in_a_transaction() -> None:
    clients = FakeWriterClients()
    writer, [p0], _ = opened(clients)
    seen: list[bool] = []
    make = clients.producer

    def producer() -> FakeProducer:
        seen.append(writer.in_transaction)
        return make()

    clients.producer = producer  # type: ignore[method-assign]
    clients.producers[0].fail_commit = KafkaTimeoutError("coordinator away")
    clients.producers[0].fail_abort = KafkaTimeoutError("still away")
    writer.decide([delivery(p0, *command_records([place("o1")]))])
    assert seen == [False]  # re-opening (with back-off, maybe long) is not a stuck transaction
    assert not writer.stuck(0.0)
