"""Waits for verdicts: one Redis pub/sub subscription per API process, futures by command id.

A future is registered *before* the command is sent, so a fast verdict cannot slip past.
Pub/sub is fast but not reliable: a message published while the subscription is down is
gone, and redis-py reconnects and resubscribes by itself without telling anyone. So the
waiter also polls: every ``POLL_S`` it reads the ``result:{id}`` keys of the requests that
have waited longer than ``POLL_AFTER_S`` (one MGET), and at once after each (re)subscribe.
A missed verdict therefore reaches its request within about a second of being stored, and
every Redis call on a request's path is bounded (``LOOKUP_S``), so a Redis that is away or
paused cannot keep a request past its budget by more than that. A lost subscription is
retried every ``RESUBSCRIBE_S`` for as long as it takes (tenacity), with ``subscribed``
cleared meanwhile: /readyz says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

import redis.asyncio as aioredis
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_fixed

from command_service.api.ports import VerdictStore
from command_service.verdicts import Verdict
from ordersource import keys

log = logging.getLogger(__name__)

POLL_S = 0.5
"""How often the waiter polls the verdict keys of requests that wait long."""
POLL_AFTER_S = 1.0
"""A request waiting longer than this has its verdict key polled (pub/sub may have
missed it)."""
POLL_BATCH = 500
"""Keys per MGET."""
LOOKUP_S = 0.5
"""Bound on one Redis read on a request's path (the final look-up, a poll round)."""
RESUBSCRIBE_S = 0.5
"""Pause before subscribing again after the subscription was lost."""


class VerdictWaiter:
    def __init__(self, client: VerdictStore) -> None:
        self.client = client
        self.waiting: dict[str, asyncio.Future[Verdict]] = {}
        self.since: dict[str, float] = {}
        self.subscribed = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._poll_now = asyncio.Event()

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._listen(), name="verdict-listener"),
            asyncio.create_task(self._poll(), name="verdict-poller"),
        ]
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.subscribed.wait(), timeout=5)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def expect(self, command_id: str) -> asyncio.Future[Verdict]:
        future = self.waiting.get(command_id)
        if future is None:
            future = asyncio.get_running_loop().create_future()
            self.waiting[command_id] = future
            self.since[command_id] = time.monotonic()
        return future

    def forget(self, command_id: str) -> None:
        self.waiting.pop(command_id, None)
        self.since.pop(command_id, None)

    async def wait(self, command_id: str, budget_s: float) -> Verdict | None:
        future = self.expect(command_id)
        try:
            return await asyncio.wait_for(asyncio.shield(future), budget_s)
        except TimeoutError:
            if future.done() and not future.cancelled():
                return future.result()
            return await self.lookup(command_id)
        finally:
            self.forget(command_id)

    async def lookup(self, command_id: str) -> Verdict | None:
        """The stored verdict, or None (also when Redis does not answer within LOOKUP_S)."""
        try:
            data = await asyncio.wait_for(self.client.get(keys.result(command_id)), LOOKUP_S)
        except (aioredis.RedisError, TimeoutError):
            return None
        return Verdict.from_bytes(data) if data else None

    async def _listen(self) -> None:
        while True:  # also when listening ends without an error: subscribe again
            async for attempt in AsyncRetrying(
                retry=retry_if_exception_type((aioredis.RedisError, OSError)),
                wait=wait_fixed(RESUBSCRIBE_S),
                before_sleep=self._lost,
                reraise=True,
            ):
                with attempt:
                    await self._relay()

    async def _relay(self) -> None:
        """Subscribe and deliver the verdicts published until the connection ends."""
        async with self.client.pubsub() as pubsub:
            await pubsub.subscribe(keys.RESULTS_CHANNEL)
            self.subscribed.set()
            self._poll_now.set()  # verdicts published while we were away
            async for message in pubsub.listen():
                if message.get("type") == "message":
                    self._deliver(message["data"])
                elif message.get("type") == "subscribe":
                    self._poll_now.set()  # redis-py resubscribed after a reconnect

    def _lost(self, attempt: RetryCallState) -> None:
        self.subscribed.clear()
        error = attempt.outcome.exception() if attempt.outcome else None
        log.warning("verdict subscription lost (%s); reconnecting", error)

    async def _poll(self) -> None:
        while True:
            # asyncio.timeout, not wait_for: Python 3.11's wait_for can swallow a
            # cancellation that meets the event being set, and stop() would hang.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(POLL_S):
                    await self._poll_now.wait()
            everyone = self._poll_now.is_set()
            self._poll_now.clear()
            try:
                await self.poll_once(everyone=everyone)
            except Exception:  # a bug must not end the fallback for good
                log.exception("polling verdicts failed")

    async def poll_once(self, *, everyone: bool = False) -> int:
        """Read the verdict keys of the requests waiting longer than POLL_AFTER_S (all of
        them with ``everyone``); returns how many verdicts it delivered."""
        oldest = time.monotonic() - POLL_AFTER_S
        ids = [
            cid
            for cid, future in self.waiting.items()
            if not future.done() and (everyone or self.since.get(cid, 0.0) <= oldest)
        ]
        delivered = 0
        for start in range(0, len(ids), POLL_BATCH):
            chunk = ids[start : start + POLL_BATCH]
            try:
                found = await asyncio.wait_for(
                    self.client.mget([keys.result(cid) for cid in chunk]), LOOKUP_S
                )
            except (aioredis.RedisError, TimeoutError):
                return delivered
            for data in found:
                if data and self._deliver(data):
                    delivered += 1
        return delivered

    def _deliver(self, data: bytes | str) -> bool:
        try:
            verdict = Verdict.from_bytes(data)
        except ValueError:
            log.error("unreadable verdict on %s", keys.RESULTS_CHANNEL)
            return False
        future = self.waiting.get(verdict.command_id)
        if future is not None and not future.done():
            future.set_result(verdict)
            return True
        return False
