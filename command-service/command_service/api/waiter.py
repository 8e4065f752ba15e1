"""Waits for verdicts: one Redis pub/sub subscription per API process, futures by command id.

A future is registered *before* the command is sent, so a fast verdict cannot slip past.
If the subscription missed it (reconnect), the verdict key in Redis is checked at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import redis.asyncio as aioredis

from command_service.verdicts import Verdict
from ordersource import keys

log = logging.getLogger(__name__)


class VerdictWaiter:
    def __init__(self, client: aioredis.Redis) -> None:
        self.client = client
        self.waiting: dict[str, asyncio.Future[Verdict]] = {}
        self.subscribed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._listen(), name="verdict-listener")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.subscribed.wait(), timeout=5)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def expect(self, command_id: str) -> asyncio.Future[Verdict]:
        future = self.waiting.get(command_id)
        if future is None:
            future = asyncio.get_running_loop().create_future()
            self.waiting[command_id] = future
        return future

    async def wait(self, command_id: str, budget_s: float) -> Verdict | None:
        future = self.expect(command_id)
        try:
            return await asyncio.wait_for(asyncio.shield(future), budget_s)
        except TimeoutError:
            return await self.lookup(command_id)
        finally:
            self.waiting.pop(command_id, None)

    async def lookup(self, command_id: str) -> Verdict | None:
        try:
            data = await self.client.get(keys.result(command_id))
        except aioredis.RedisError:
            return None
        return Verdict.from_bytes(data) if data else None

    async def _listen(self) -> None:
        while True:
            try:
                async with self.client.pubsub() as pubsub:
                    await pubsub.subscribe(keys.RESULTS_CHANNEL)
                    self.subscribed.set()
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            self._deliver(message["data"])
            except aioredis.RedisError as exc:
                self.subscribed.clear()
                log.warning("verdict subscription lost (%s); reconnecting", exc)
                await asyncio.sleep(0.5)

    def _deliver(self, data: bytes) -> None:
        try:
            verdict = Verdict.from_bytes(data)
        except ValueError:
            log.error("unreadable verdict on %s", keys.RESULTS_CHANNEL)
            return
        future = self.waiting.get(verdict.command_id)
        if future is not None and not future.done():
            future.set_result(verdict)
