"""What the console talks to, built once per process and closed at shutdown.

Kafka (kafka-python, synchronous): one admin client, one read_committed reader (dead
letters, the audit trail) and one producer (the audit trail), used one call at a time
on the console's one Kafka thread (``kafka``: the clients are not thread-safe). They
are connected in the background with back-off, so the console starts, and says on
``/readyz``, while Kafka is away. Redis: an asyncio client for ``/readyz`` and a
synchronous one for the status reads (on the Kafka thread). HTTP: one pooled client to
the query API and the deciders. The jobs open clients for their run, as the ``orders``
tool does: a blue/green replay runs on a thread with an event loop, a Redis client and
a Kafka admin client of its own; a verify reads the log with its own reader.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from tenacity import AsyncRetrying, retry_if_exception_type, wait_exponential

from ordersource.connections import (
    NetworkClients,
    async_redis_client,
    kafka_options,
    redis_client,
)
from ordersource.kafka_read import committed_reader
from ordersource.settings import Settings
from ordersource.topics import TopicMisconfigured, ensure_topics
from projector.console.audit import AuditTrail

T = TypeVar("T")
CONNECT_BACKOFF_MAX_S = 10.0
log = logging.getLogger(__name__)


KAFKA_QUEUE = 8
"""Kafka calls that may wait for the clients at once."""


class KafkaUnavailable(RuntimeError):
    pass


class KafkaBusy(RuntimeError):
    pass


@dataclass
class KafkaParts:
    admin: Any
    reader: Any
    producer: Any
    audit: AuditTrail

    def close(self) -> None:
        for client in (self.producer, self.reader, self.admin):
            try:
                client.close()
            except Exception:  # closing what may never have connected
                log.debug("closing %r", client, exc_info=True)


def audit_topic_spec(settings: Settings) -> dict[str, dict[str, Any]]:
    """One partition (the trail in one order), kept forever."""
    return {
        settings.audit_topic: {
            "num_partitions": 1,
            "replication_factor": settings.replication_factor,
            "configs": {"retention.ms": "-1", "cleanup.policy": "delete"},
        }
    }


def _connect_kafka(settings: Settings) -> KafkaParts:
    """One attempt (the caller retries): every client, or none left behind."""
    from kafka import KafkaProducer
    from kafka.admin import KafkaAdminClient

    network = NetworkClients()
    options = {**kafka_options(settings), "kafka_client": network}
    try:
        admin = KafkaAdminClient(**options, client_id="orders-console", request_timeout_ms=15_000)
        found = ensure_topics(settings, audit_topic_spec(settings), "orders-console", admin=admin)
        partitions = found[settings.audit_topic]
        if partitions not in (None, 1):  # the trail is read, in order, from partition 0
            raise TopicMisconfigured(
                f"topic {settings.audit_topic} has {partitions} partitions; the audit trail "
                "needs exactly 1 (recreate it, or name another ORDERS_AUDIT_TOPIC)"
            )
        reader = committed_reader(settings, "orders-console", kafka_client=network)
        producer = KafkaProducer(
            **options, client_id="orders-console-audit", acks="all", linger_ms=0
        )
    except BaseException:
        network.close()
        raise
    return KafkaParts(admin, reader, producer, AuditTrail(settings.audit_topic, producer, reader))


class ConsoleClients:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.http = httpx.AsyncClient(
            timeout=httpx.Timeout(15.0, connect=2.0),
            limits=httpx.Limits(max_connections=32, max_keepalive_connections=8),
        )
        self.redis = async_redis_client(settings, timeout_s=30)
        self.sync_redis = redis_client(settings, timeout_s=10)
        self._kafka: KafkaParts | None = None
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="console-kafka")
        self._queued = 0
        self._connecting: asyncio.Task[None] | None = None

    @property
    def kafka_ready(self) -> bool:
        return self._kafka is not None

    def start(self) -> None:
        self._connecting = asyncio.create_task(self._connect(), name="console-kafka-connect")

    async def _connect(self) -> None:
        # Any failure is retried (a refusing broker, an ACL, a topic not created yet): the
        # console keeps serving and says why on /readyz and in its log, never exits.
        retrying = AsyncRetrying(
            retry=retry_if_exception_type(Exception),
            wait=wait_exponential(multiplier=0.5, max=CONNECT_BACKOFF_MAX_S),
            before_sleep=lambda state: log.warning(
                "cannot connect to Kafka yet (%r); attempt %d, retrying",
                state.outcome.exception() if state.outcome else None,
                state.attempt_number,
            ),
        )
        async for attempt in retrying:
            with attempt:
                self._kafka = await asyncio.to_thread(_connect_kafka, self.settings)
        log.info("connected to Kafka at %s", self.settings.kafka_bootstrap)

    async def kafka(self, call: Callable[[KafkaParts], T], *, queue: bool = True) -> T:
        """Run ``call`` with the Kafka clients on the console's one Kafka thread (the
        clients are not thread-safe; one thread needs no lock). A request's read waits in
        line only while fewer than ``KAFKA_QUEUE`` do (else ``KafkaBusy``); the audit
        trail and the jobs pass ``queue=False``: they are never refused for a crowd."""
        parts = self._kafka
        if parts is None:
            raise KafkaUnavailable("Kafka is not connected yet")
        if queue and self._queued >= KAFKA_QUEUE:
            raise KafkaBusy(f"{self._queued} Kafka reads are already waiting")
        self._queued += queue
        try:
            return await asyncio.get_running_loop().run_in_executor(self._thread, call, parts)
        finally:
            self._queued -= queue

    async def close(self) -> None:
        if self._connecting is not None and not self._connecting.done():
            self._connecting.cancel()
            try:
                await self._connecting
            except BaseException:  # cancelled, or the last attempt's error
                log.debug("Kafka connect ended", exc_info=True)
        await self.http.aclose()
        await self.redis.aclose()
        self.sync_redis.close()
        if self._kafka is not None:
            await asyncio.get_running_loop().run_in_executor(self._thread, self._kafka.close)
        self._thread.shutdown(wait=False, cancel_futures=True)
