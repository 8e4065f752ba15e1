"""The batch handler's failure model with fakes: whatever fails, the same batch is tried
again (back-off, health, metrics, one log line per streak) and nothing of it is committed
before it goes through; a record Redis refuses every time goes to the DLQ (G6)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import OutOfMemoryError, ReadOnlyError, ResponseError

from ordersource.codec import encode_event
from ordersource.domain import Event
from projector.core import batch as handler_module
from projector.core.batch import BatchHandler, Key, StoreKeepsMoving
from projector.core.metrics import ProjectorMetrics
from projector.core.plan import BatchPlan, Incoming
from projector.core.retry import (
    MAX_DELAY_S,
    POISON_AFTER,
    Health,
    may_be_a_records_fault,
    run_batch,
)
from projector.store.faults import REDIS_FAULTS
from projector.store.memory import InMemoryProjectionStore
from tests.support.events import lifecycle, placed
from tests.support.projection_fakes import FakeDeadLetters, FakeRewinder

pytestmark = pytest.mark.unit


class FlakyStore(InMemoryProjectionStore):
    """Commits like the in-memory store unless ``fail(plan)`` returns an exception."""

    def __init__(self) -> None:
        super().__init__()
        self.fail: Callable[[BatchPlan], BaseException | bool | None] = lambda plan: None
        self.commits = 0

    async def commit(self, plan: BatchPlan, now: float) -> bool:
        outcome = self.fail(plan)
        if isinstance(outcome, BaseException):
            raise outcome
        if outcome is False:
            return False  # the checkpoints moved under the batch
        self.commits += 1
        return await super().commit(plan, now)


class FlakyDeadLetters(FakeDeadLetters):
    def __init__(self) -> None:
        super().__init__()
        self.failures_left = 0

    async def send(self, record: Incoming, reason: str) -> None:
        if self.failures_left:
            self.failures_left -= 1
            raise TimeoutError("DLQ produce timed out")
        await super().send(record, reason)


class Rig:
    def __init__(self) -> None:
        self.store, self.dead, self.rewinder = FlakyStore(), FlakyDeadLetters(), FakeRewinder()
        asyncio.run(self.store.initialize(0))
        self.metrics = ProjectorMetrics()
        self.health = Health(self.metrics, REDIS_FAULTS)
        self.sleeps: list[float] = []
        self.attempts = 0
        self.ready_seen: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.ready_seen.append(self.metrics.ready._value.get())

    def run(self, batch: Sequence[Incoming]) -> None:
        sent: set[Key] = set()

        async def attempt(records: Sequence[Incoming], refused: Mapping[Key, str]) -> None:
            self.attempts += 1
            handler = BatchHandler(self.store, self.dead, self.rewinder, self.metrics, sent=sent)
            await handler.handle(records, refused)

        def key(r: Incoming) -> Key:
            return r.partition, r.offset

        asyncio.run(run_batch(batch, attempt, key, self.health, self.sleep))

    def failures(self, reason: str) -> float:
        return float(self.metrics.batch_failures.labels(reason=reason)._value.get())


def log_of(events: list[Event], partition: int = 0) -> list[Incoming]:
    return [
        Incoming(partition, i, e.order_id.encode(), encode_event(e), since=i)
        for i, e in enumerate(events)
    ]


def fail_times(n: int, exc: BaseException) -> Callable[[BatchPlan], BaseException | None]:
    left = [n]

    def fail(plan: BatchPlan) -> BaseException | None:
        if left[0]:
            left[0] -= 1
            return exc
        return None

    return fail


@pytest.mark.parametrize(
    "exc",
    [
        OutOfMemoryError("command not allowed when used memory > 'maxmemory'"),
        ReadOnlyError("You can't write against a read only replica."),
        RedisConnectionError("Connection refused"),
        ResponseError("NOSCRIPT No matching script"),
    ],
    ids=["oom", "readonly", "connection", "noscript"],
)
def test_redis_refusing_for_a_while_delays_the_batch_and_loses_nothing(
    exc: BaseException,
) -> None:
    rig = Rig()
    rig.store.fail = fail_times(12, exc)  # longer than POISON_AFTER: never blamed on a record
    events = lifecycle("o1") + lifecycle("o2")
    rig.run(log_of(events))
    assert rig.store.commits == 1
    assert rig.store.checkpoint == {0: 8}
    assert rig.store.views["o2"]["version"] == 4
    assert not rig.dead.sent
    assert rig.sleeps == [0.1, 0.2, 0.4, 0.8, 1.6] + [MAX_DELAY_S] * 7
    assert rig.ready_seen == [0.0] * 12  # not ready during the streak...
    assert rig.metrics.ready._value.get() == 1.0  # ...ready again after it
    assert not rig.health.failing
    assert rig.failures(type(exc).__name__) == 12


def test_a_streak_of_failures_is_logged_once_and_the_recovery_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    rig = Rig()
    rig.store.fail = fail_times(6, OutOfMemoryError("OOM command not allowed"))
    with caplog.at_level(logging.INFO, logger=handler_module.__name__):
        rig.run(log_of([placed("o1")]))
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert "OutOfMemoryError" in errors[0].getMessage()
    assert sum("going again after 6 failed attempts" in r.getMessage() for r in caplog.records)


def test_health_says_why_while_failing() -> None:
    rig = Rig()
    seen: list[dict[str, object]] = []

    def fail(plan: BatchPlan) -> BaseException | None:
        if len(seen) < 2:
            seen.append(rig.health.describe())
            return ReadOnlyError("You can't write against a read only replica.")
        return None

    rig.store.fail = fail
    rig.run(log_of([placed("o1")]))
    assert seen[0]["reason"] is None
    assert str(seen[1]["reason"]).startswith("ReadOnlyError: ")
    assert seen[1]["failed_attempts"] == 1
    assert rig.health.describe() == {"reason": None, "since": None, "failed_attempts": 0}


def test_a_failing_dlq_produce_holds_the_batch_and_sends_the_dead_letter_once() -> None:
    rig = Rig()
    rig.dead.failures_left = 9
    batch = [Incoming(0, 0, b"x", b"not json", since=0), *log_of([placed("o1")])[:1]]
    batch[1] = Incoming(0, 1, batch[1].key, batch[1].value, since=1)
    rig.run(batch)
    assert rig.store.commits == 1  # nothing committed while the dead letter was not sent
    assert [(p, o) for p, o, _ in rig.dead.sent] == [(0, 0)]
    assert rig.store.checkpoint == {0: 2}
    assert rig.store.views["o1"]["version"] == 1
    assert rig.failures("TimeoutError") == 9


def test_a_dead_letter_sent_before_a_failed_commit_is_not_sent_again() -> None:
    rig = Rig()
    rig.store.fail = fail_times(3, OutOfMemoryError("OOM"))
    rig.run([Incoming(0, 0, b"x", b"not json", since=0)])
    assert len(rig.dead.sent) == 1
    assert rig.store.checkpoint == {0: 1}


def test_the_conflict_limit_is_retried_not_raised_to_faust() -> None:
    rig = Rig()
    conflicts = [25]  # 2.5 times MAX_CONFLICTS: StoreKeepsMoving twice, then it goes

    def fail(plan: BatchPlan) -> bool | None:
        if conflicts[0]:
            conflicts[0] -= 1
            return False
        return None

    rig.store.fail = fail
    rig.run(log_of(lifecycle("o1")))
    assert rig.store.checkpoint == {0: 4}
    assert rig.failures("StoreKeepsMoving") == 2
    assert not rig.dead.sent


def test_a_record_redis_refuses_every_time_goes_to_the_dlq_and_the_rest_is_applied() -> None:
    rig = Rig()
    events = [*lifecycle("o1"), placed("bad"), *lifecycle("o2")]

    def fail(plan: BatchPlan) -> BaseException | None:
        if "bad" in plan.orders:
            return ResponseError("ERR commit refused: op 3 ZADD v:1:idx:x: key holds a string")
        return None

    rig.store.fail = fail
    rig.run(log_of(events))
    assert [(p, o) for p, o, _ in rig.dead.sent] == [(0, 4)]
    reason = rig.dead.sent[0][2]
    assert reason.startswith("cannot commit: ERR commit refused")
    assert rig.store.checkpoint == {0: 9}
    assert rig.store.views["o1"]["version"] == 4
    assert rig.store.views["o2"]["version"] == 4
    assert "bad" not in rig.store.views
    assert rig.store.meta["dead_letters"] == 1
    # the whole batch POISON_AFTER times, then o1's four records alone, then "bad" alone
    assert rig.attempts == POISON_AFTER + 4 + POISON_AFTER + 1 + 4


def test_an_outage_is_never_blamed_on_a_record() -> None:
    rig = Rig()
    rig.store.fail = fail_times(4 * POISON_AFTER, OutOfMemoryError("OOM"))
    rig.run(log_of(lifecycle("o1")))
    assert not rig.dead.sent
    assert rig.store.views["o1"]["version"] == 4


def test_a_gap_commits_nothing_and_re_reads_from_the_checkpoint() -> None:
    rig = Rig()
    log = log_of(lifecycle("o1"))
    rig.run(log[:1])
    # log[1:3] was read, then lost in flight (never committed); log[3] arrives next.
    rig.run(log[3:])
    assert rig.rewinder.rewinds == 1
    assert rig.store.checkpoint == {0: 1}
    assert rig.store.views["o1"]["version"] == 1
    assert rig.metrics.gaps._value.get() == 1
    rig.run(log)  # what the rewind reads again, from the checkpoint
    assert rig.store.checkpoint == {0: 4}
    assert rig.store.views["o1"]["version"] == 4


@pytest.mark.parametrize(
    ("exc", "blamed"),
    [
        (ResponseError("ERR commit refused: op 1 SET k: key holds a hash"), True),
        (ResponseError("WRONGTYPE Operation against a key holding the wrong kind of value"), True),
        (ResponseError("ERR Error running script (call to f_x): @user_script:1: bad"), True),
        (ValueError("bad amount"), True),
        (OutOfMemoryError("command not allowed"), False),
        (ResponseError("OOM command not allowed when used memory > 'maxmemory'"), False),
        (ReadOnlyError("You can't write against a read only replica."), False),
        (ResponseError("READONLY You can't write against a read only replica."), False),
        (ResponseError("BUSY Redis is busy running a script"), False),
        (ResponseError("MISCONF Redis is configured to save RDB snapshots"), False),
        (RedisConnectionError("refused"), False),
        (TimeoutError("DLQ produce"), False),
        (StoreKeepsMoving("x"), False),
        (AttributeError("a bug"), False),
    ],
)
def test_which_errors_may_be_a_records(exc: BaseException, blamed: bool) -> None:
    assert may_be_a_records_fault(exc, REDIS_FAULTS) is blamed
