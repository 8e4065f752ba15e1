"""The projector's Prometheus metrics, in a registry of its own (one per app instance):
by default a ``process_registry()``, the one the projector serves on /metrics.

Lag is not computed here per batch: the progress reporter sets it, because a batch only
knows the offsets it saw, not how much is still waiting in Kafka.
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from ordersource.metrics import process_registry
from projector.core.plan import BatchPlan


class ProjectorMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry = process_registry() if registry is None else registry
        self.applied = Counter(
            "orders_projector_events_applied_total", "Events folded into views", registry=registry
        )
        self.skipped = Counter(
            "orders_projector_events_skipped_total",
            "Re-delivered events skipped (offset below checkpoint or version already applied)",
            registry=registry,
        )
        self.parked = Counter(
            "orders_projector_events_parked_total",
            "Events parked on a version gap",
            registry=registry,
        )
        self.dead_letters = Counter(
            "orders_projector_dead_letters_total", "Records sent to the DLQ", registry=registry
        )
        self.rebuilds = Counter(
            "orders_projector_rebuilds_total",
            "Rebuilds after Redis lost the views",
            registry=registry,
        )
        self.gaps = Counter(
            "orders_projector_gaps_total",
            "Batches not applied because records before them were never committed"
            " (the partitions are re-read from their checkpoints)",
            registry=registry,
        )
        self.batch_failures = Counter(
            "orders_projector_batch_failures_total",
            "Failed attempts to project a batch (retried), by exception class",
            ["reason"],
            registry=registry,
        )
        self.ready = Gauge(
            "orders_projector_ready",
            "1 while batches go through, 0 during a streak of failed attempts"
            " (the reason is on /readyz)",
            registry=registry,
        )
        self.ready.set(1)
        self.batch_seconds = Histogram(
            "orders_projector_batch_seconds", "Time to project one batch", registry=registry
        )
        self.lag = Gauge(
            "orders_projector_lag_events",
            "Committed events not yet applied, per partition",
            ["partition"],
            registry=registry,
        )
        self.newest_event_age = Gauge(
            "orders_projector_newest_event_age_seconds",
            "Age of the newest applied event (its occurred_at); 0 before the first one",
            registry=registry,
        )
        self.newest_event_ts = 0.0
        self.newest_event_age.set_function(self._newest_event_age)

    def _newest_event_age(self) -> float:
        return time.time() - self.newest_event_ts if self.newest_event_ts else 0.0

    def observe(self, plan: BatchPlan) -> None:
        self.applied.inc(plan.applied)
        self.skipped.inc(plan.skipped)
        self.parked.inc(len(plan.parked))
        self.dead_letters.inc(len(plan.dead))
        if plan.newest_event_at is not None:
            self.newest_event_ts = max(self.newest_event_ts, plan.newest_event_at.timestamp())
