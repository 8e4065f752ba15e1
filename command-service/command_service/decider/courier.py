"""Delivers the decider's verdicts to Redis, and keeps retrying while Redis is away.

Verdicts are announced only after their transaction committed, so the events are in the
log whatever happens here; what a lost verdict costs is the answer: ``GET
/commands/{id}`` would say 404 or "pending" for a decided command. So the writers never
talk to Redis themselves: they hand their verdicts to the one courier of the process
(``announce``, which never blocks), and its thread delivers them (``SET result:{id}`` and
a ``PUBLISH``), oldest first, in pipelines. While Redis is away the verdicts wait in
memory and the courier retries with a back-off (capped at ``MAX_BACKOFF_S``); a paused
Redis costs the courier a socket timeout per attempt, never a writer or the poll loop.
The back-off is the courier's own, not a retry library's: what is retried is not one call
but a round (probe, then a batch), the queue keeps taking announcements meanwhile,
``stop()`` cuts the wait short, and failing and coming back are state that others read
(``redis_ok`` for /readyz, ``returned`` for the writers' re-announcements).

Bounded: a verdict is dropped once its TTL (``command_result_ttl_s``) has passed — Redis
would have expired it by then — and, when more than ``capacity`` wait, the oldest is
dropped (counted: ``orders_decider_verdicts_dropped_total``). A late verdict is written
with what is left of its TTL, so it expires when it would have.

When Redis comes back after trouble — a failed delivery or probe, or a new server
(``run_id`` changed: restarted empty, or failed over) — ``returned`` goes up, and each
writer re-announces its book's recent verdicts (``SET NX``): that restores answers a
Redis that lost its data had delivered before, and any the bound dropped.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import redis

from command_service.decider import metrics
from command_service.verdicts import Verdict
from ordersource import keys

log = logging.getLogger(__name__)

BATCH = 500
"""Verdicts per pipeline."""
MIN_BACKOFF_S = 0.1
MAX_BACKOFF_S = 2.0
"""Retry back-off while Redis is away: doubles from the minimum up to this ceiling."""
PROBE_S = 1.0
"""How often the courier checks Redis (PING and its ``run_id``) while it has work or not."""
MIN_TTL_S = 1
"""A verdict with less of its TTL left than this is dropped as expired."""


@dataclass(slots=True)
class Undelivered:
    command_id: str
    data: bytes
    publish: bool
    """False for a re-announcement: ``SET NX`` only (never overwrites, no PUBLISH)."""
    expires: float
    """The courier's clock (monotonic) when the verdict's TTL ends."""


class VerdictCourier:
    """The queue of verdicts to deliver; ``start()`` runs the delivery thread."""

    def __init__(
        self,
        client: Any,
        ttl_s: int,
        capacity: int,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.ttl_s, self.capacity, self.clock = ttl_s, capacity, clock
        self.queue: deque[Undelivered] = deque()
        self.changed = threading.Condition()
        self.stopping = threading.Event()
        self.redis_ok = False  # until the first probe or delivery says otherwise
        self.returned = 0
        """Bumped each time Redis is back after trouble: writers then re-announce."""
        self._trouble = False
        self._run_id: str | None = None
        self._backoff = MIN_BACKOFF_S
        self._next_probe = 0.0
        self._thread: threading.Thread | None = None

    # -- the writers' side (any thread; never touches Redis) ---------------------------
    def announce(self, verdicts: Iterable[Verdict], *, only_missing: bool = False) -> None:
        expires = self.clock() + self.ttl_s
        items = [
            Undelivered(v.command_id, v.to_bytes(), not only_missing, expires) for v in verdicts
        ]
        if not items:
            return
        with self.changed:
            self.queue.extend(items)
            self._enforce_capacity()
            metrics.UNDELIVERED.set(len(self.queue))
            self.changed.notify()

    def __len__(self) -> int:
        return len(self.queue)

    # -- the delivery thread -----------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="verdict-courier", daemon=True)
        self._thread.start()

    def stop(self, flush_s: float = 2.0) -> None:
        """Stop the thread after trying (for up to ``flush_s``) to deliver what waits."""
        deadline = time.monotonic() + flush_s
        with self.changed:
            self.stopping.set()
            self.changed.notify()
        if self._thread is not None:
            self._thread.join(timeout=flush_s + 3)
        if self.queue:
            while self.queue and time.monotonic() < deadline and self.redis_ok:
                self.step()
        if self.queue:
            log.warning("stopping with %d verdicts undelivered", len(self.queue))

    def _run(self) -> None:
        while not self.stopping.is_set():
            try:
                delay = self.step()
            except Exception:  # a bug must not end verdict delivery for good
                log.exception("verdict courier failed; going on")
                delay = MAX_BACKOFF_S
            if delay <= 0:
                continue
            if not self.redis_ok:  # backing off: new verdicts must not cut the wait short
                self.stopping.wait(delay)
                continue
            with self.changed:
                if not self.queue and not self.stopping.is_set():
                    self.changed.wait(delay)  # idle: woken by the next announcement

    def step(self) -> float:
        """One round: expire, probe when due, deliver one batch. Returns how long to wait
        before the next round (0: more to deliver at once)."""
        now = self.clock()
        with self.changed:
            self._expire(now)
            metrics.UNDELIVERED.set(len(self.queue))
        if now >= self._next_probe:
            self._next_probe = now + PROBE_S
            if not self._probe():
                return self._failed()
        with self.changed:
            batch = [self.queue.popleft() for _ in range(min(BATCH, len(self.queue)))]
        if not batch:
            return PROBE_S if self.redis_ok else self._backoff
        try:
            pipe = self.client.pipeline(transaction=False)
            for item in batch:
                ttl = max(MIN_TTL_S, int(item.expires - now))
                pipe.set(keys.result(item.command_id), item.data, ex=ttl, nx=not item.publish)
                if item.publish:
                    pipe.publish(keys.RESULTS_CHANNEL, item.data)
            pipe.execute()
        except redis.RedisError as exc:
            with self.changed:  # back at the front, in their order; the bound still holds
                self.queue.extendleft(reversed(batch))
                self._enforce_capacity()
                metrics.UNDELIVERED.set(len(self.queue))
            if not self._trouble:
                log.warning("cannot deliver %d verdicts (%s); retrying", len(batch), exc)
            return self._failed()
        self._succeeded()
        with self.changed:
            metrics.UNDELIVERED.set(len(self.queue))
            return 0.0 if self.queue else PROBE_S

    def _probe(self) -> bool:
        try:
            try:
                run_id = self.client.info("server").get("run_id")
            except redis.ResponseError:  # INFO disabled (some managed Redis): PING only
                self.client.ping()
                run_id = None
        except redis.RedisError as exc:
            if not self._trouble:
                log.warning("Redis unavailable (%s); verdicts wait", exc)
            return False
        if run_id is not None and self._run_id is not None and run_id != self._run_id:
            log.warning("Redis is a new server (run_id changed); re-announcing verdicts")
            self._trouble = True  # its data may be gone: count it as a return
        self._run_id = run_id or self._run_id
        self._succeeded()
        return True

    def _failed(self) -> float:
        self._trouble = True
        self.redis_ok = False
        metrics.REDIS_UP.set(0)
        delay = self._backoff
        self._backoff = min(MAX_BACKOFF_S, self._backoff * 2)
        return delay

    def _succeeded(self) -> None:
        if self._trouble:
            self._trouble = False
            self.returned += 1
            log.info("Redis is back; %d verdicts waiting", len(self.queue))
        self.redis_ok = True
        metrics.REDIS_UP.set(1)
        self._backoff = MIN_BACKOFF_S

    def _expire(self, now: float) -> None:
        """Entries are in enqueue order, all with the same TTL: the expired are in front."""
        expired = 0
        while self.queue and self.queue[0].expires - now < MIN_TTL_S:
            self.queue.popleft()
            expired += 1
        if expired:
            metrics.VERDICTS_DROPPED.labels("expired").inc(expired)
            log.warning("dropped %d undelivered verdicts past their TTL", expired)

    def _enforce_capacity(self) -> None:
        over = len(self.queue) - self.capacity
        if over > 0:
            for _ in range(over):
                self.queue.popleft()
            metrics.VERDICTS_DROPPED.labels("overflow").inc(over)
            log.warning("dropped the %d oldest undelivered verdicts", over)
