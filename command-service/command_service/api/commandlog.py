"""Sends commands to ``orders.commands`` (key = order_id) and awaits the broker's ack."""

from __future__ import annotations

import asyncio
from typing import Any

from kafka import KafkaProducer
from kafka.errors import KafkaError

from ordersource import codec
from ordersource.connections import kafka_options
from ordersource.domain import Command
from ordersource.settings import Settings


class CommandLog:
    def __init__(self, settings: Settings) -> None:
        self.topic = settings.commands_topic
        self.topic_known = False
        self.producer = KafkaProducer(
            **kafka_options(settings),
            client_id="orders-command-api",
            metrics_enabled=False,  # nothing reads them; their sensors cost CPU per send
            acks="all",
            # Not idempotent on purpose: a duplicated command record is harmless (the
            # decider recognises a command id it has decided), while kafka-python 3.0's
            # idempotent producer can wedge for good after a delivery timeout during a
            # broker outage (its producer id is reset but never fetched again).
            enable_idempotence=False,
            linger_ms=1,
            # Fail fast while the broker is down: the client gets 503 and may retry safely.
            max_block_ms=settings.command_send_timeout_ms,
            request_timeout_ms=settings.command_send_timeout_ms,
            delivery_timeout_ms=settings.command_send_timeout_ms + 1000,
        )

    async def ready(self) -> bool:
        """The broker knows the commands topic (metadata fetched, or cached from a send)."""
        try:
            return bool(await asyncio.to_thread(self.producer.partitions_for, self.topic))
        except KafkaError:
            return False

    async def send(self, command: Command) -> None:
        """Append the command; raises a KafkaError if the broker did not take it."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[Any] = loop.create_future()

        def settle(outcome: Any, failed: bool) -> None:
            if done.done():
                return
            if failed:
                done.set_exception(outcome)
            else:
                done.set_result(outcome)

        key, value = command.order_id.encode(), codec.encode_command(command)
        if self.topic_known:
            # Metadata cached: send() only appends to the producer's buffer (bounded by
            # the API's in-flight limit), so a thread hop per command would cost more.
            sent = self.producer.send(self.topic, key=key, value=value)
        else:  # the first send may wait for metadata: not on the event loop
            sent = await asyncio.to_thread(self.producer.send, self.topic, key=key, value=value)
            self.topic_known = True
        sent.add_callback(lambda md: loop.call_soon_threadsafe(settle, md, False))
        sent.add_errback(lambda exc: loop.call_soon_threadsafe(settle, exc, True))
        await done

    def close(self) -> None:
        self.producer.close(timeout=5)
