"""Every client of one decider process, built in this one place and passed in.

``DeciderClients(settings)`` opens the group consumer of ``orders.commands`` and the
courier's Redis client at once; the writer's producer and the catch-ups' readers are made
on demand by ``producer`` and ``event_reader``, on their own threads: their constructors
connect and can block, and the poll loop must keep polling (and the consumer's IO thread
heartbeating) meanwhile. Tests pass fakes that fit ``ports.WriterClients`` instead.

kafka-python's client metrics are off (``metrics_enabled``): nothing reads them, and
their sensors cost measurable CPU per request on the write path.
"""

from __future__ import annotations

import socket
from typing import Any

import redis
from kafka import KafkaConsumer, KafkaProducer

from command_service.decider import snapshots
from ordersource.connections import NetworkClients, kafka_options, redis_client
from ordersource.kafka_read import committed_reader
from ordersource.settings import Settings

TXN_RETRY_BACKOFF_MS = 10
"""Back-to-back transactions: the broker answers the next one's AddPartitionsToTxn with
CONCURRENT_TRANSACTIONS while it still writes the previous one's markers, and
kafka-python 3.0.12 sleeps its whole ``retry_backoff_ms`` (100 ms by default) before each
retry — the Java client waits 20 ms there. Measured on loopback, one writer committing
back to back: p50/p90/p99 per transaction 14/209/217 ms at 100 ms, 10/24/38 ms at 10 ms."""

LINGER_MS = 100
"""A transaction's events wait in the producer's buffer until its commit flushes them
(the commit does not wait for the linger): they leave in one produce request per broker
instead of one per partition batch, which costs the decider and the broker less CPU."""

BOOTSTRAP_TIMEOUT_MS = 5000
"""One attempt to reach Kafka at start-up (``__main__`` retries with back-off): short, so
that SIGTERM ends a decider waiting for Kafka within about two of them."""

REDIS_TIMEOUT_S = 2
"""Only the courier's thread uses Redis: a paused Redis costs it this per attempt."""


class DeciderClients:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.kafka: dict[str, Any] = {
            **kafka_options(settings),
            "client_id": "orders-decider",
            "metrics_enabled": False,
        }
        network_clients = NetworkClients()
        try:
            self.consumer = self._group_consumer(settings, network_clients)
        except BaseException:
            network_clients.close()  # a failed start must not leave its IO thread behind
            raise
        self.redis: redis.Redis = redis_client(settings, timeout_s=REDIS_TIMEOUT_S)

    def _group_consumer(self, settings: Settings, network_client: Any) -> KafkaConsumer:
        return KafkaConsumer(
            **self.kafka,
            kafka_client=network_client,
            group_id=settings.decider_group,
            bootstrap_timeout_ms=BOOTSTRAP_TIMEOUT_MS,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
            max_poll_records=500,
            session_timeout_ms=settings.decider_session_timeout_ms,
            heartbeat_interval_ms=max(1000, settings.decider_session_timeout_ms // 5),
            max_poll_interval_ms=settings.decider_max_poll_interval_ms,
            # Static membership (KIP-345): a restarted decider takes its partitions back
            # at once instead of waiting out its dead predecessor's session; the old
            # member, if it still lives, is fenced (FENCED_INSTANCE_ID), and so are its
            # transactions (same transactional.id, and the group metadata they carry).
            group_instance_id=self.instance,
        )

    @property
    def instance(self) -> str:
        """Stable across restarts of this decider, unique among the live ones
        (``ORDERS_DECIDER_INSTANCE_ID``, default host and port)."""
        instance = self.settings.decider_instance_id
        if instance is None:
            instance = f"{socket.gethostname()}-{self.settings.decider_port}"
        return instance

    @property
    def transactional_id(self) -> str:
        """``<group>-<instance>``: the producer's, and the name of the state directory."""
        return f"{self.settings.decider_group}-{self.instance}"

    def snapshot_reader(self) -> Any:
        """A reader for point reads: snapshot headers and chunks, an event at a tip. Small
        fetches (a chunk is 512 KiB): a read of one record does not pull megabytes of
        the records after it."""
        return committed_reader(
            self.settings,
            "orders-decider-snapshots",
            max_partition_fetch_bytes=1024 * 1024,
            fetch_max_bytes=1024 * 1024,
            metrics_enabled=False,
        )

    def snapshot_producer(self) -> Any:
        """A plain (idempotent, not transactional) producer for the snapshots: they are
        a cache, validated when read, and never wait for the writer's transactions."""
        return snapshots.new_producer(self.settings, "orders-decider-snapshots")

    def producer(self) -> Any:
        """The process's one transactional producer, for every partition it owns; a new
        one with the same ``transactional.id`` fences the old one."""
        return KafkaProducer(
            **self.kafka,
            transactional_id=self.transactional_id,
            transaction_timeout_ms=self.settings.decider_transaction_timeout_ms,
            acks="all",
            linger_ms=LINGER_MS,
            retry_backoff_ms=TXN_RETRY_BACKOFF_MS,
        )

    def event_reader(self) -> Any:
        """A reader only for one catch-up (closed after it: an idle client would keep a
        network thread busy)."""
        return committed_reader(
            self.settings,
            "orders-decider",
            # 2 MiB, not 8: the same rate, and half the peak memory of a catch-up (500k
            # events: 11,436 events/s and 176 MiB against 10,593 and 329 MiB).
            max_partition_fetch_bytes=2 * 1024 * 1024,
            metrics_enabled=False,
        )
