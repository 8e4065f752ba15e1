"""The two places where the projector bends Faust's Kafka consumer, and why.

1. read_committed. The decider writes events in Kafka transactions (zombie fencing), so a
   reader must not see records of open or aborted transactions. Faust 0.15 builds its
   aiokafka consumer with ``read_uncommitted`` unless Faust's own exactly-once mode is
   on (``AIOKafkaConsumerThread._create_worker_consumer``), and that mode is not
   trustworthy. The smallest hook: a consumer-thread subclass that lets Faust build the
   consumer exactly as usual and then sets its isolation level. aiokafka reads that
   attribute only in ``start()`` (when it builds its Fetcher), which Faust calls right
   after creating the consumer; ``ReadCommittedThread.on_start`` asserts it took effect.

2. Resume from the Redis checkpoint. Faust seeks every assigned partition to the
   group's committed offset (``Consumer.seek_to_committed``, called on every assignment
   and when flow is stopped mid-fetch). The views' own checkpoint, written in the same
   atomic step as the views, is the truth about what has been applied; the Kafka
   offset is only a hint (Faust commits it asynchronously). So the override seeks each
   partition to the Redis checkpoint, or to the earliest offset when Redis has none —
   which is exactly how an emptied Redis gets rebuilt. Faust takes the returned offsets
   as its committed positions, so its ack/commit bookkeeping follows.

3. Marked commits. Faust commits offsets with empty metadata; this thread commits them
   with ``ordersource:gen=<g>`` (``projector.offsets.marker``). Offsets written by
   ``kafka-consumer-groups --reset-offsets`` or ``orders replay`` carry no marker, so on
   the next assignment the projector can tell an operator's reset from its own progress
   and honour it (``projector.runtime.reset``) instead of silently resuming from Redis.

The app installs this transport with ``app.transport = ProjectorTransport(...)``
(``App.transport`` has a public setter), before anything touches the consumer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from functools import cached_property
from time import monotonic
from typing import Any, cast
from weakref import WeakKeyDictionary

from aiokafka.errors import CommitFailedError  # type: ignore[import-untyped]
from aiokafka.structs import OffsetAndMetadata  # type: ignore[import-untyped]
from faust.transport.drivers import aiokafka as driver
from faust.types import TP

ResumeOffsets = Callable[[set[TP]], Awaitable[dict[TP, int | None]]]
"""For the assigned partitions: where to resume (None = from the earliest offset)."""


class ReadCommittedThread(driver.AIOKafkaConsumerThread):
    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        consumer._isolation_level = "read_committed"
        return consumer

    async def on_start(self) -> None:
        await super().on_start()
        assert self._consumer is not None  # created by super().on_start()
        fetcher = self._consumer._fetcher
        # aiokafka's Fetcher maps the level to READ_COMMITTED == 1; fail loudly if a
        # future aiokafka ignores the attribute instead of silently reading aborted data.
        if getattr(fetcher, "_isolation_level", None) != 1:
            raise RuntimeError("could not make the Faust consumer read_committed")

    async def _commit(self, offsets: Mapping[TP, int]) -> bool:
        # Faust's own body (faust/transport/drivers/aiokafka.py), but with our metadata.
        consumer = self._ensure_consumer()
        metadata = cast(ProjectorTransport, self.transport).commit_marker()
        now = monotonic()
        assigned = self.assignment()
        commitable = {tp: offset for tp, offset in offsets.items() if tp in assigned}
        try:
            await consumer.commit(
                {
                    driver.ensure_aiokafka_TP(tp): OffsetAndMetadata(offset, metadata)
                    for tp, offset in commitable.items()
                }
            )
            self.tp_last_committed_at.update({tp: now for tp in commitable})
        except CommitFailedError as exc:
            if "already rebalanced" in str(exc):
                return False
            self.log.exception("Committing raised exception: %r", exc)
            await self.crash(exc)
            return False
        except Exception as exc:  # IllegalStateError and anything else: Faust crashes too
            self.log.exception("Got exception: %r\nCurrent assignment: %r", exc, assigned)
            await self.crash(exc)
            return False
        return True


class CheckpointConsumer(driver.Consumer):
    """Faust's aiokafka consumer, resuming from the Redis checkpoint.

    It also numbers its seeks: every record is stamped with the seek epoch it was
    fetched in, so records fetched before a seek (still held in Faust's stream or
    batch buffers) can be told from the ones read again after it (``is_stale``).
    Applying such a record first would move the checkpoint past records not yet
    re-applied.

    And it remembers, per partition, where the run of records it read began: each
    record's ``since`` is the offset after the previous record read from its partition,
    or the position of the last seek (0 for "from the earliest"). So the projection can
    tell a batch that continues from its checkpoint from one after records that were
    read but never committed (``projector.core.plan``).
    """

    seek_epoch = 0

    def _new_consumer_thread(self) -> ReadCommittedThread:
        return ReadCommittedThread(self, loop=self.loop, beacon=self.beacon)

    def _to_message(self, tp: TP, record: Any) -> Any:
        message = super()._to_message(tp, record)
        self._epochs[message] = self.seek_epoch
        offset = message.offset
        after = self._next_read.get(tp)
        # No seek seen for the partition, or read backwards: nothing is known before it.
        self._since[message] = offset if after is None else min(after, offset)
        self._next_read[tp] = offset + 1
        return message

    @cached_property
    def _epochs(self) -> WeakKeyDictionary[Any, int]:
        return WeakKeyDictionary()

    @cached_property
    def _since(self) -> WeakKeyDictionary[Any, int]:
        return WeakKeyDictionary()

    @cached_property
    def _next_read(self) -> dict[TP, int]:
        return {}

    def is_stale(self, message: Any) -> bool:
        return self._epochs.get(message) != self.seek_epoch

    def since(self, message: Any) -> int | None:
        """Where the run of records that ``message`` ends began (see the class)."""
        return self._since.get(message)

    async def seek_to_committed(self) -> Mapping[TP, int]:
        resume = cast(ProjectorTransport, self.transport).resume_offsets
        assigned = set(self.assignment())
        targets = await resume(assigned)
        missing = [tp for tp in assigned if targets.get(tp) is None]
        earliest = await self.earliest_offsets(*missing) if missing else {}
        offsets: dict[TP, int] = {}
        for tp in assigned:
            target = targets.get(tp)
            offsets[tp] = target if target is not None else earliest.get(tp, 0)
            self._thread.seek(tp, offsets[tp])
            # From the earliest: nothing before it can be missing (retention removed it).
            self._next_read[tp] = target if target is not None else 0
        self.seek_epoch += 1  # no await since the seeks: later records are post-seek
        return offsets


class ProjectorTransport(driver.Transport):
    Consumer = CheckpointConsumer

    def __init__(
        self,
        *args: Any,
        resume_offsets: ResumeOffsets,
        commit_marker: Callable[[], str],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.resume_offsets, self.commit_marker = resume_offsets, commit_marker


def checkpoint_consumer(app: Any) -> CheckpointConsumer:
    """The app's consumer (Faust creates it with the app's transport, ``ProjectorTransport``)."""
    return cast(CheckpointConsumer, app.consumer)
