"""What the command gateway and the verdict waiter need from the outside, as Protocols:
the command log, the verdicts and the few Redis calls they make.

The real clients (``CommandLog``, ``VerdictWaiter``, ``redis.asyncio.Redis``, built once
per process in ``app.py``) fit them, and so do the fakes of ``tests/support/write_side.py``:
the gateway and the waiter are unit-tested without Kafka or Redis.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, Protocol

from command_service.verdicts import Verdict
from ordersource.domain import Command


class LogRefused(Exception):
    """The event log did not take the command (broker away, refused, or too slow)."""


class CommandSink(Protocol):
    """``orders.commands``: ``send`` raises ``LogRefused`` if the broker did not take it."""

    async def send(self, command: Command) -> None: ...
    async def ready(self) -> bool: ...


class Verdicts(Protocol):
    """Where the gateway waits for a command's verdict (``VerdictWaiter``)."""

    @property
    def subscribed(self) -> asyncio.Event: ...
    def expect(self, command_id: str) -> object: ...
    def forget(self, command_id: str) -> None: ...
    async def wait(self, command_id: str, budget_s: float) -> Verdict | None: ...
    async def lookup(self, command_id: str) -> Verdict | None: ...


class KeyValue(Protocol):
    """The Redis calls of the gateway (idempotency records, pending markers, /readyz)."""

    def set(
        self, name: str, value: bytes, *, ex: int | None = None, nx: bool = False, get: bool = False
    ) -> Any: ...
    def exists(self, *names: str) -> Any: ...
    def ping(self) -> Any: ...


class VerdictStore(Protocol):
    """The Redis calls of the verdict waiter: ``result:{id}`` reads and the pub/sub."""

    def get(self, name: str) -> Any: ...
    def mget(self, keys: Sequence[str]) -> Any: ...
    def pubsub(self) -> Any: ...
