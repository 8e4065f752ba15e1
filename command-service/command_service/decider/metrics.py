"""Prometheus metrics of the decider, in the registry its ops server serves on /metrics."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from ordersource.metrics import process_registry


class DeciderMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.decided = Counter(
            "orders_decider_commands_total",
            "Commands decided, by outcome (accepted or rejected)",
            ["outcome"],
            registry=registry,
        )
        for outcome in ("accepted", "rejected"):  # both series exist (at 0) from the start
            self.decided.labels(outcome)
        self.catchup_events = Counter(
            "orders_decider_catchup_events_total",
            "Events folded while catching up",
            registry=registry,
        )
        self.catchup_seconds = Histogram(
            "orders_decider_catchup_seconds", "Time to catch up a partition", registry=registry
        )
        self.commit_seconds = Histogram(
            "orders_decider_commit_seconds",
            "Time to commit one transaction",
            buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=registry,
        )
        self.batch_commands = Histogram(
            "orders_decider_batch_commands",
            "Commands decided in one transaction (group commit across partitions)",
            buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000),
            registry=registry,
        )
        self.partitions = Gauge(
            "orders_decider_partitions", "Partitions this decider owns", registry=registry
        )
        self.undelivered = Gauge(
            "orders_decider_undelivered_verdicts",
            "Verdicts decided but not yet delivered to Redis (waiting for it to come back)",
            registry=registry,
        )
        self.verdicts_dropped = Counter(
            "orders_decider_verdicts_dropped_total",
            "Undelivered verdicts given up, by reason (expired: past their TTL; overflow: "
            "more waiting than ORDERS_DECIDER_UNDELIVERED_VERDICTS_MAX)",
            ["reason"],
            registry=registry,
        )
        for reason in ("expired", "overflow"):
            self.verdicts_dropped.labels(reason)
        self.redis_up = Gauge(
            "orders_decider_redis_up",
            "1 while the decider reaches Redis (its last probe or delivery worked), else 0",
            registry=registry,
        )
        self.snapshots_written = Counter(
            "orders_decider_snapshots_written_total",
            "Partition state snapshots written to the snapshots topic",
            registry=registry,
        )
        self.snapshots_ignored = Counter(
            "orders_decider_snapshots_ignored_total",
            "Snapshots not restored, by reason (corrupt: unreadable, incomplete or checksum "
            "mismatch; schema: another state schema; tip: its last event is not in the "
            "committed log, e.g. written by a fenced writer or before the topic was recreated)",
            ["reason"],
            registry=registry,
        )
        for reason in ("corrupt", "schema", "tip"):
            self.snapshots_ignored.labels(reason)
        self.snapshot_failures = Counter(
            "orders_decider_snapshot_failures_total",
            "Snapshot attempts that failed (Kafka refused or did not answer; retried with "
            "back-off, deciding goes on)",
            registry=registry,
        )
        self.snapshots_failing = Gauge(
            "orders_decider_snapshots_failing",
            "1 while the snapshotter's last attempt failed (also on /readyz under snapshots)",
            registry=registry,
        )
        self.snapshot_restores = Counter(
            "orders_decider_snapshot_restores_total",
            "Partition states restored from a snapshot",
            registry=registry,
        )
        self.snapshot_seconds = Histogram(
            "orders_decider_snapshot_seconds",
            "Time to write one snapshot to Kafka",
            buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
            registry=registry,
        )
        self.snapshot_bytes = Gauge(
            "orders_decider_snapshot_bytes",
            "Size of the last snapshot written",
            registry=registry,
        )


REGISTRY = process_registry()
_METRICS = DeciderMetrics(REGISTRY)
DECIDED = _METRICS.decided
CATCHUP_EVENTS = _METRICS.catchup_events
CATCHUP_SECONDS = _METRICS.catchup_seconds
COMMIT_SECONDS = _METRICS.commit_seconds
BATCH_COMMANDS = _METRICS.batch_commands
PARTITIONS = _METRICS.partitions
UNDELIVERED = _METRICS.undelivered
VERDICTS_DROPPED = _METRICS.verdicts_dropped
REDIS_UP = _METRICS.redis_up
SNAPSHOTS_WRITTEN = _METRICS.snapshots_written
SNAPSHOTS_IGNORED = _METRICS.snapshots_ignored
SNAPSHOT_FAILURES = _METRICS.snapshot_failures
SNAPSHOTS_FAILING = _METRICS.snapshots_failing
SNAPSHOT_RESTORES = _METRICS.snapshot_restores
SNAPSHOT_SECONDS = _METRICS.snapshot_seconds
SNAPSHOT_BYTES = _METRICS.snapshot_bytes
