"""The one path every command takes: idempotency check, append, wait for the verdict.

Idempotency-Key: the key, scoped to the caller (``Principal.scope``: the same key from two
tokens is two keys), names the command (``command_id_for_key``), so a retry is the same
command and the decider — which knows every command id in the log — answers it with the
original result and writes nothing. Redis keeps ``key -> request fingerprint`` as a fast
first check, so a key reused with another body is refused before anything is sent, even
across orders; the decider repeats that check durably from the log.

The gateway answers in its own terms — a ``Decided`` verdict (maybe replayed) or a
``Pending`` command, or it raises ``LogUnavailable`` or ``KeyReused`` — and
``responses.py`` turns those into HTTP. Its clients are handed in (``ports.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis.asyncio as aioredis

from command_service.api.ports import CommandSink, KeyValue, LogRefused, Verdicts
from command_service.verdicts import Verdict
from ordersource import codec, keys, logs, tracing
from ordersource.domain import Command
from ordersource.ids import command_id_for_key, new_id
from ordersource.settings import Settings

log = logging.getLogger(__name__)

PENDING_MARK_WAIT_S = 0.5
"""How long a 202 waits for its pending marker to be written."""

# Builds the command once the gateway has chosen its id: (command_id, request_hash) -> Command
CommandFactory = Callable[[str, str | None], Command]


@dataclass(frozen=True)
class Decided:
    """The command's verdict; ``replayed``: the stored one, for a retried key."""

    verdict: Verdict
    replayed: bool = False


@dataclass(frozen=True)
class Pending:
    """In the log, but not decided within the wait budget (its marker is written)."""

    command_id: str

    @property
    def location(self) -> str:
        return f"/commands/{self.command_id}"


Reply = Decided | Pending


class LogUnavailable(Exception):
    """The broker did not take the command: it was not accepted (a retry is safe)."""

    def __init__(self, command_id: str) -> None:
        super().__init__(command_id)
        self.command_id = command_id


class KeyReused(Exception):
    """The Idempotency-Key was already used with a different request."""


class CommandGateway:
    def __init__(
        self,
        settings: Settings,
        client: KeyValue,
        commands: CommandSink,
        waiter: Verdicts,
    ) -> None:
        self.settings = settings
        self.redis = client
        self.commands = commands
        self.waiter = waiter

    async def submit(
        self, make: CommandFactory, *, fingerprint: Any, idempotency_key: str | None
    ) -> Reply:
        """``idempotency_key`` already scoped to the caller (``Principal.scope``). Raises
        ``KeyReused`` (nothing sent) or ``LogUnavailable`` (not accepted)."""
        request_hash = None
        if idempotency_key is None:
            command_id = new_id()
        else:
            command_id = command_id_for_key(idempotency_key)
            request_hash = hashlib.sha256(codec.dumps(fingerprint)).hexdigest()
            replay = await self._claim(idempotency_key, command_id, request_hash)
            if replay is not None:
                return Decided(replay, replayed=True)
        command = make(command_id, request_hash)
        tracing.annotate(**{"orders.command_id": command_id, "orders.order_id": command.order_id})
        with logs.about(order_id=command.order_id, command_id=command_id):
            return await self._send_and_wait(command)

    async def _send_and_wait(self, command: Command) -> Reply:
        command_id = command.command_id
        self.waiter.expect(command_id)
        try:
            await self.commands.send(command)
        except LogRefused as exc:
            # Never marked pending: GET /commands/{id} says 404 (it was not accepted),
            # unless a send that timed out did reach the log and it gets decided.
            self.waiter.forget(command_id)
            log.warning("event log unavailable: %s", exc)
            raise LogUnavailable(command_id) from None
        verdict = await self.waiter.wait(command_id, self.settings.command_wait_ms / 1000)
        if verdict is None:
            # Only now, for the 202's Location (GET /commands/{id} must answer "pending"),
            # not on every command's path: most are decided within the wait. Bounded:
            # Redis may be away.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._mark_pending(command_id), PENDING_MARK_WAIT_S)
            return Pending(command_id)
        return Decided(verdict)

    async def status(self, command_id: str) -> tuple[str, Verdict | None]:
        verdict = await self.waiter.lookup(command_id)
        if verdict is not None:
            return ("accepted" if verdict.accepted else "rejected"), verdict
        if await self.redis.exists(keys.pending(command_id)):
            return "pending", None
        return "unknown", None

    async def _claim(self, key: str, command_id: str, request_hash: str) -> Verdict | None:
        """Record the key's fingerprint; on a retry return the original verdict if known."""
        record = codec.dumps({"request_hash": request_hash, "command_id": command_id})
        try:
            previous = await self.redis.set(
                keys.idempotency(key), record, nx=True, ex=self.settings.idempotency_ttl_s, get=True
            )
        except aioredis.RedisError as exc:
            log.warning("idempotency record unavailable (%s); relying on the decider", exc)
            return None
        if previous is None:
            return None
        if (
            not isinstance(previous, (bytes, str))
            or codec.loads(previous).get("request_hash") != request_hash
        ):
            raise KeyReused
        return await self.waiter.lookup(command_id)

    async def _mark_pending(self, command_id: str) -> None:
        try:
            await self.redis.set(
                keys.pending(command_id), b"1", ex=self.settings.command_result_ttl_s
            )
        except aioredis.RedisError as exc:
            log.warning("could not mark %s pending: %s", command_id, exc)
