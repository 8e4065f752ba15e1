"""What the decider's writer needs from Kafka and from the courier, as Protocols.

The real clients (kafka-python's ``KafkaProducer`` and ``KafkaConsumer``, built in
``clients.py``) fit them as they are, and so do the fakes of ``tests/support/write_side.py``:
the writer's transaction loop, its rollback and the catch-up are unit-tested without a
broker. Only the calls the writer makes are declared.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from kafka import TopicPartition
from kafka.structs import OffsetAndMetadata

from command_service.verdicts import Verdict


class SentRecord(Protocol):
    """The future of one produced record; ``get()`` blocks until it is written."""

    def get(self, timeout: float | None = None) -> Any: ...


class TransactionalProducer(Protocol):
    """The process's transactional producer (``transactional.id`` names the instance)."""

    def init_transactions(self) -> None: ...
    def begin_transaction(self) -> None: ...
    def send(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        headers: list[tuple[str, bytes]] | None = None,
        partition: int | None = None,
    ) -> SentRecord: ...
    def send_offsets_to_transaction(
        self, offsets: Mapping[TopicPartition, OffsetAndMetadata], group_metadata: Any
    ) -> None: ...
    def commit_transaction(self) -> None: ...
    def abort_transaction(self) -> None: ...
    def close(self, timeout: float | None = None) -> None: ...


class EventReader(Protocol):
    """A read_committed consumer used only to catch a book up with the event log."""

    def assign(self, partitions: Sequence[TopicPartition]) -> None: ...
    def seek(self, partition: TopicPartition, offset: int) -> None: ...
    def end_offsets(self, partitions: Sequence[TopicPartition]) -> dict[TopicPartition, int]: ...
    def position(self, partition: TopicPartition) -> int: ...
    def seek_to_beginning(self, *partitions: TopicPartition) -> None: ...
    def poll(
        self, timeout_ms: int = 0, max_records: int | None = None
    ) -> Mapping[TopicPartition, Sequence[Any]]: ...
    def close(self) -> None: ...


class WriterClients(Protocol):
    """Where the writer and the catch-ups get their Kafka clients: made on their own
    threads (the constructors connect and can block), from one factory per process."""

    def producer(self) -> TransactionalProducer: ...
    def event_reader(self) -> EventReader: ...


class Outbox(Protocol):
    """Where a writer hands its verdicts (the courier): never blocks, never fails."""

    @property
    def returned(self) -> int:
        """Bumped each time Redis is back after trouble: writers then re-announce."""
        ...

    def announce(self, verdicts: Iterable[Verdict], *, only_missing: bool = False) -> None: ...
