"""Fakes of the write side's clients, for unit tests without Kafka or Redis.

For the decider's writer (``command_service.decider.ports``): an in-memory event log with
transactions (``FakeEventLog``: what a transaction sends is visible to readers only once
it commits), a ``FakeProducer`` whose commit can be made to fail or be fenced, a
``FakeReader`` over the log, and a ``FakeOutbox`` collecting the announced verdicts. For
the command API (``command_service.api.ports``): an async ``FakeRedis`` with the calls the
gateway and the verdict waiter make (pub/sub included), and a ``FakeCommandLog``.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from kafka import TopicPartition
from redis.exceptions import ConnectionError as RedisConnectionError

from command_service.api.ports import LogRefused
from command_service.verdicts import Verdict
from ordersource import codec, keys
from ordersource.domain import Command

# -- the decider's side -----------------------------------------------------------------


@dataclass(frozen=True)
class Record:
    """A consumed or produced Kafka record (the fields the decider reads)."""

    offset: int
    value: bytes | None
    key: bytes | None = None
    headers: list[tuple[str, bytes]] = field(default_factory=list)


def command_records(commands: Iterable[Command], first_offset: int = 0) -> list[Record]:
    """Records of ``orders.commands`` as the group consumer hands them over."""
    return [
        Record(first_offset + n, codec.encode_command(c), c.order_id.encode())
        for n, c in enumerate(commands)
    ]


class FakeEventLog:
    """``orders.events`` per partition: committed records, readable by FakeReader."""

    def __init__(self) -> None:
        self.partitions: dict[int, list[Record]] = defaultdict(list)
        self.offsets: dict[int, int] = {}
        """Committed consumer offsets of ``orders.commands``, by partition."""

    def events(self, partition: int = 0) -> list[Any]:
        return [codec.decode_event(r.value) for r in self.partitions[partition]]


class FakeSent:
    def __init__(self, offset: int) -> None:
        self.offset = offset

    def get(self, timeout: float | None = None) -> Any:
        return self


class FakeProducer:
    """A transactional producer over a FakeEventLog. ``fail_commit`` (an exception) is
    raised by the next commit; ``fenced`` by every call once set."""

    def __init__(self, log: FakeEventLog) -> None:
        self.log = log
        self.pending: list[tuple[int, Record]] = []
        self.offsets: dict[int, int] = {}
        self.calls: list[str] = []
        self.fail_commit: BaseException | None = None
        self.fail_abort: BaseException | None = None
        self.fenced: BaseException | None = None
        self.fence_after_init: BaseException | None = None  # ``fenced`` once initialised
        self.on_send: Callable[[], object] | None = None  # called by every send
        self.in_transaction = False
        self.closed = False

    def _call(self, name: str) -> None:
        self.calls.append(name)
        if self.fenced is not None:
            raise self.fenced

    def init_transactions(self) -> None:
        self._call("init")
        self.fenced = self.fence_after_init

    def begin_transaction(self) -> None:
        self._call("begin")
        assert not self.in_transaction
        self.in_transaction = True

    def send(
        self,
        topic: str,
        value: bytes | None = None,
        key: bytes | None = None,
        headers: list[tuple[str, bytes]] | None = None,
        partition: int | None = None,
    ) -> FakeSent:
        self._call("send")
        assert self.in_transaction
        if self.on_send is not None:
            self.on_send()
        assert partition is not None
        offset = len(self.log.partitions[partition]) + sum(p == partition for p, _ in self.pending)
        self.pending.append((partition, Record(offset, value, key, list(headers or []))))
        return FakeSent(offset)

    def send_offsets_to_transaction(
        self, offsets: Mapping[TopicPartition, Any], group_metadata: Any
    ) -> None:
        self._call("offsets")
        self.offsets = {tp.partition: meta.offset for tp, meta in offsets.items()}

    def commit_transaction(self) -> None:
        self._call("commit")
        if self.fail_commit is not None:
            failure, self.fail_commit = self.fail_commit, None
            raise failure
        for partition, record in self.pending:
            self.log.partitions[partition].append(record)
        self.log.offsets.update(self.offsets)
        self._end()

    def abort_transaction(self) -> None:
        self._call("abort")
        if self.fail_abort is not None:
            raise self.fail_abort
        self._end()

    def _end(self) -> None:
        self.pending, self.offsets, self.in_transaction = [], {}, False

    def close(self, timeout: float | None = None) -> None:
        self.closed = True


class FakeReader:
    """A read_committed reader of a FakeEventLog (one partition at a time)."""

    def __init__(self, log: FakeEventLog) -> None:
        self.log = log
        self.at: dict[TopicPartition, int] = {}
        self.sought: list[int] = []
        self.closed = False

    def assign(self, partitions: Sequence[TopicPartition]) -> None:
        self.at = {tp: 0 for tp in partitions}

    def seek(self, partition: TopicPartition, offset: int) -> None:
        self.at[partition] = offset
        self.sought.append(offset)

    def end_offsets(self, partitions: Sequence[TopicPartition]) -> dict[TopicPartition, int]:
        return {tp: len(self.log.partitions[tp.partition]) for tp in partitions}

    def position(self, partition: TopicPartition) -> int:
        return self.at[partition]

    def seek_to_beginning(self, *partitions: TopicPartition) -> None:
        for partition in partitions:
            self.seek(partition, 0)

    def poll(
        self, timeout_ms: int = 0, max_records: int | None = None
    ) -> Mapping[TopicPartition, Sequence[Any]]:
        found = {}
        for tp, offset in self.at.items():
            records = self.log.partitions[tp.partition][offset:]
            if records:
                found[tp] = records
                self.at[tp] = offset + len(records)
        return found

    def close(self) -> None:
        self.closed = True


class FakeWriterClients:
    """``ports.WriterClients`` over one FakeEventLog; keeps every producer it made."""

    def __init__(self, log: FakeEventLog | None = None) -> None:
        self.log = log or FakeEventLog()
        self.producers: list[FakeProducer] = []
        self.readers: list[FakeReader] = []

    def producer(self) -> FakeProducer:
        producer = FakeProducer(self.log)
        self.producers.append(producer)
        return producer

    def event_reader(self) -> FakeReader:
        reader = FakeReader(self.log)
        self.readers.append(reader)
        return reader


class FakeOutbox:
    """Collects what a writer announces (the courier's ``announce``)."""

    def __init__(self) -> None:
        self.returned = 0
        self.announced: list[tuple[list[Verdict], bool]] = []

    def announce(self, verdicts: Iterable[Verdict], *, only_missing: bool = False) -> None:
        self.announced.append((list(verdicts), only_missing))

    def published(self) -> list[Verdict]:
        """The verdicts announced as new (SET + PUBLISH), in order."""
        return [v for batch, only_missing in self.announced if not only_missing for v in batch]


# -- the command API's side -------------------------------------------------------------


class FakePubSub:
    def __init__(self, redis: FakeRedis) -> None:
        self.redis = redis
        self.messages: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def __aenter__(self) -> FakePubSub:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.redis.subscribers.discard(self)

    async def subscribe(self, channel: str) -> None:
        self.redis.calls.append("subscribe")
        self.redis.check()
        self.redis.subscribers.add(self)
        await self.messages.put({"type": "subscribe", "channel": channel, "data": 1})

    async def listen(self) -> AsyncIterator[dict[str, Any]]:
        while True:
            message = await self.messages.get()
            if message.get("type") == "lost":
                raise RedisConnectionError("connection lost")
            yield message


class FakeRedis:
    """The async Redis calls of the command API, in memory. ``down`` makes every call
    fail as with a Redis that is away; ``drop_subscribers()`` cuts pub/sub connections."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = {}
        self.expiry: dict[str, int | None] = {}
        self.subscribers: set[FakePubSub] = set()
        self.down = False
        self.calls: list[str] = []

    def check(self) -> None:
        if self.down:
            raise RedisConnectionError("Redis is away")

    async def set(
        self, name: str, value: Any, *, ex: int | None = None, nx: bool = False, get: bool = False
    ) -> Any:
        self.calls.append("set")
        self.check()
        previous = self.data.get(name)
        if not (nx and previous is not None):
            self.data[name] = value
            self.expiry[name] = ex
        return previous if get else True

    async def get(self, name: str) -> Any:
        self.calls.append("get")
        self.check()
        return self.data.get(name)

    async def mget(self, names: Sequence[str]) -> list[Any]:
        self.calls.append("mget")
        self.check()
        return [self.data.get(n) for n in names]

    async def exists(self, *names: str) -> int:
        self.calls.append("exists")
        self.check()
        return sum(n in self.data for n in names)

    async def ping(self) -> bool:
        self.check()
        return True

    async def publish(self, channel: str, data: Any) -> int:
        self.check()
        for subscriber in self.subscribers:
            await subscriber.messages.put({"type": "message", "channel": channel, "data": data})
        return len(self.subscribers)

    def pubsub(self) -> FakePubSub:
        return FakePubSub(self)

    async def drop_subscribers(self) -> None:
        for subscriber in list(self.subscribers):
            await subscriber.messages.put({"type": "lost"})

    async def store(self, verdict: Verdict, *, publish: bool = True) -> None:
        """What the decider's courier does with a verdict."""
        self.data[keys.result(verdict.command_id)] = verdict.to_bytes()
        if publish:
            await self.publish(keys.RESULTS_CHANNEL, verdict.to_bytes())


class FakeCommandLog:
    """``orders.commands`` for the gateway: keeps what was sent; ``down`` refuses sends
    like a broker that is away."""

    def __init__(self) -> None:
        self.sent: list[Command] = []
        self.down = False

    async def send(self, command: Command) -> None:
        if self.down:
            raise LogRefused("no broker")
        self.sent.append(command)

    async def ready(self) -> bool:
        return not self.down
