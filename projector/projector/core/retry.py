"""What happens when an attempt fails: the same work again, with back-off, until it goes
through; meanwhile ``Health`` says why.

Failure model (``run_batch``): an attempt that raises commits nothing (the commit is one
all-or-nothing script), so the same batch is simply tried again, with back-off, for as
long as it takes — Redis refusing writes (OOM, READONLY), not answering, a DLQ produce
failing, the store moving under the batch. Nothing escapes to Faust: its supervisor
would restart the agent and drop the batch in flight. While it fails, ``Health`` says
why (/readyz, ``orders_projector_ready``, ``orders_projector_batch_failures_total``) and
the failure is logged once per streak. An error that may belong to one record (a
refusal by the commit script, a data error while planning) is given ``POISON_AFTER``
attempts; then the batch is committed one record at a time, and a record that fails
alone that often goes to the DLQ with the error as its reason (G6).

The back-off is tenacity's (exponential from ``FIRST_DELAY_S`` to ``MAX_DELAY_S``, no
attempt limit); what is particular here is only the stop rule (``POISON_AFTER`` errors
that may be a record's) and the accounting of every failed attempt in ``Health``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from functools import partial
from typing import Protocol, TypeVar

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_exponential

from projector.core.batch import Key, StoreKeepsMoving
from projector.core.metrics import ProjectorMetrics

log = logging.getLogger(__name__)

POISON_AFTER = 5
"""Failed attempts with an error that may be a record's before that record is sought."""
FIRST_DELAY_S, MAX_DELAY_S = 0.1, 2.0


_DATA_ERRORS = (ValueError, TypeError, KeyError, IndexError, ArithmeticError)


class StoreFaults(Protocol):
    """What the store's client library knows about its errors (``projector.store.faults``
    for Redis): the core knows no client library."""

    def about_data(self, exc: BaseException) -> bool | None:
        """True: the store refused because of the data (a record may be at fault); False:
        it fails or refuses for now, whatever the data; None: not the store's error."""

    def expected(self, exc: BaseException) -> bool:
        """A failure of the store itself, not a bug (logged without a traceback)."""


def may_be_a_records_fault(exc: BaseException, faults: StoreFaults) -> bool:
    """An error some record of the batch may cause every time: the commit script's
    refusal or a store error about the data, or a data error while planning. Not: the
    store or Kafka unavailable or refusing writes, timeouts, the store moving, a bug."""
    about_data = faults.about_data(exc)
    return isinstance(exc, _DATA_ERRORS) if about_data is None else about_data


class Health:
    """Whether batches go through; if not, since when and why (for /readyz and the
    ``orders_projector_ready`` gauge). Logs a failure once per streak, and the recovery."""

    def __init__(self, metrics: ProjectorMetrics, faults: StoreFaults) -> None:
        self.metrics, self.faults = metrics, faults
        self.reason: str | None = None
        self.since: float | None = None
        self.failures = 0

    @property
    def failing(self) -> bool:
        return self.reason is not None

    def failed(self, exc: BaseException) -> None:
        kind = type(exc).__name__
        self.metrics.batch_failures.labels(reason=kind).inc()
        self.failures += 1
        if self.reason is None:
            self.since = time.time()
            # A traceback only for the unexpected: Redis's refusals speak for themselves.
            expected = self.faults.expected(exc) or isinstance(exc, OSError | StoreKeepsMoving)
            log.error(
                "projection failing, retrying until it goes through: %s: %s",
                kind,
                exc,
                exc_info=None if expected else exc,
            )
        elif not self.reason.startswith(f"{kind}:"):
            log.error("projection still failing, now: %s: %s", kind, exc)
        self.reason = f"{kind}: {exc}"[:500]
        self.metrics.ready.set(0)

    def ok(self) -> None:
        if self.reason is not None:
            took = time.time() - (self.since or time.time())
            log.warning(
                "projection going again after %d failed attempts in %.1f s (last: %s)",
                self.failures,
                took,
                self.reason,
            )
        self.reason, self.since, self.failures = None, None, 0
        self.metrics.ready.set(1)

    def describe(self) -> dict[str, object]:
        return {"reason": self.reason, "since": self.since, "failed_attempts": self.failures}


class Poisoned(Exception):
    """An attempt kept failing with an error that may be a record's."""

    def __init__(self, cause: BaseException) -> None:
        super().__init__(str(cause))
        self.cause = cause


T = TypeVar("T")
Attempt = Callable[[Sequence[T], Mapping[Key, str]], Awaitable[None]]
"""Project these records (all of them or a part), dead-lettering ``refused`` ones."""


async def run_batch(
    records: Sequence[T],
    attempt: Attempt[T],
    key: Callable[[T], Key],
    health: Health,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """Project ``records`` whatever it takes; never raises (but cancellation)."""
    if len(records) > 1:
        try:
            await _until_done(partial(attempt, records, {}), health, sleep, POISON_AFTER)
            return
        except Poisoned as exc:
            log.error(
                "batch of %d refused %d times (%s): committing it one record at a time",
                len(records),
                POISON_AFTER,
                exc,
            )
    for record in records:
        one = [record]
        try:
            await _until_done(partial(attempt, one, {}), health, sleep, POISON_AFTER)
        except Poisoned as exc:
            reason = f"cannot commit: {exc}"[:900]
            partition, offset = key(record)
            log.error("record %s@%s refused %d times: dead letter", partition, offset, POISON_AFTER)
            refused = {key(record): reason}
            await _until_done(partial(attempt, one, refused), health, sleep, None)


async def until_done(
    work: Callable[[], Awaitable[None]],
    health: Health,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """Run ``work`` until it goes through, with back-off; never raises (but cancellation)."""
    await _until_done(work, health, sleep, None)


async def _until_done(
    work: Callable[[], Awaitable[None]],
    health: Health,
    sleep: Callable[[float], Awaitable[None]],
    poison_after: int | None,
) -> None:
    suspects = 0

    def poisoned(state: RetryCallState) -> bool:
        """Called once per failed attempt: account for it, and stop on a poison streak."""
        nonlocal suspects
        exc = _failure(state)
        health.failed(exc)
        if poison_after is not None and may_be_a_records_fault(exc, health.faults):
            suspects += 1
        return poison_after is not None and suspects >= poison_after

    def give_up(state: RetryCallState) -> None:
        exc = _failure(state)
        raise Poisoned(exc) from exc

    retrying = AsyncRetrying(
        retry=retry_if_exception_type(Exception),  # anything: the agent must never see it
        stop=poisoned,
        wait=wait_exponential(multiplier=FIRST_DELAY_S, max=MAX_DELAY_S),
        sleep=sleep,
        retry_error_callback=give_up,
    )

    async def attempt() -> None:
        # tenacity awaits only what it recognises as a coroutine function; ``work`` may be
        # any callable returning an awaitable (a partial, a lambda): await it here.
        await work()

    await retrying(attempt)
    health.ok()


def _failure(state: RetryCallState) -> BaseException:
    exc = state.outcome.exception() if state.outcome is not None else None
    assert exc is not None  # only called after a failed attempt
    return exc
