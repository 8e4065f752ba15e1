"""Sends commands to ``orders.commands`` (key = order_id) and awaits the broker's ack.

aiokafka, not kafka-python, on purpose: its producer runs on the API's event loop, where
kafka-python's needs a thread hop per send and its own sender thread. Measured on this
project's machine (loopback broker, acks=all, one record per send, ~200 sends/s):
about 0.9 ms of CPU per command with aiokafka against 1.7 ms with kafka-python
(``python -m bench.producers``; ``docs/performance.md``). aiokafka is a dependency
already (Faust's Kafka client, the replay reader).

The producer connects in the background and keeps trying while the broker is away: the
API starts, /readyz says ``kafka`` is not ready, and commands get 503 meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiokafka import AIOKafkaProducer  # type: ignore[import-untyped]
from aiokafka.errors import KafkaError  # type: ignore[import-untyped]

from command_service.api.ports import LogRefused
from ordersource import codec, tracing
from ordersource.connections import aiokafka_options
from ordersource.domain import Command
from ordersource.settings import Settings

log = logging.getLogger(__name__)

CONNECT_RETRY_S = (0.5, 5.0)
"""Back-off between attempts to connect the producer (first, max)."""
READY_TIMEOUT_S = 2.0


class CommandLog:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.topic = settings.commands_topic
        self.timeout_s = settings.command_send_timeout_ms / 1000
        self.producer: AIOKafkaProducer | None = None
        self._connecting: asyncio.Task[None] | None = None

    def _new_producer(self) -> AIOKafkaProducer:
        return AIOKafkaProducer(
            **aiokafka_options(self.settings),
            client_id="orders-command-api",
            acks="all",
            # Not idempotent on purpose: a duplicated command record is harmless (the
            # decider recognises a command id it has decided).
            enable_idempotence=False,
            linger_ms=1,
            request_timeout_ms=self.settings.command_send_timeout_ms,
            retry_backoff_ms=100,
        )

    async def start(self) -> None:
        """Connect now if the broker answers, else go on trying in the background."""
        self._connecting = asyncio.create_task(self._connect(), name="command-log-connect")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._connecting), self.timeout_s)

    async def _connect(self) -> None:
        delay, longest = CONNECT_RETRY_S
        while True:
            producer = self._new_producer()
            try:
                await producer.start()
            except Exception as exc:  # whatever it is, keep trying: never give up silently
                log.warning("cannot reach the event log yet (%r); retrying", exc)
                with contextlib.suppress(Exception):
                    await producer.stop()
                await asyncio.sleep(delay)
                delay = min(delay * 2, longest)
                continue
            self.producer = producer
            return

    async def ready(self) -> bool:
        """Connected, and the broker knows the commands topic."""
        if self.producer is None:
            return False
        try:
            partitions = await asyncio.wait_for(
                self.producer.partitions_for(self.topic), READY_TIMEOUT_S
            )
        except (KafkaError, TimeoutError):
            return False
        return bool(partitions)

    async def send(self, command: Command) -> None:
        """Append the command; raises ``LogRefused`` if the broker did not take it within
        ``ORDERS_COMMAND_SEND_TIMEOUT_MS`` (a send that timed out may still arrive: the
        decider then decides it, and its verdict is readable as usual)."""
        if self.producer is None:
            raise LogRefused("not connected to the event log")
        key, value = command.order_id.encode(), codec.encode_command(command)
        headers: list[tuple[str, bytes]] | None = None
        if tracing.enabled():  # off: the record has no headers at all, as before
            headers = []
            tracing.inject(headers)
        try:
            async with asyncio.timeout(self.timeout_s):
                delivery = await self.producer.send(self.topic, value, key=key, headers=headers)
                delivery.add_done_callback(_retrieve)  # a late failure is not "unretrieved"
                await asyncio.shield(delivery)  # a timeout must not cancel aiokafka's
        except (KafkaError, TimeoutError) as exc:
            raise LogRefused(repr(exc)) from exc

    async def close(self) -> None:
        if self._connecting is not None and not self._connecting.done():
            self._connecting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._connecting
        if self.producer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.producer.stop(), 5)


def _retrieve(delivery: asyncio.Future[object]) -> None:
    if not delivery.cancelled():
        delivery.exception()
