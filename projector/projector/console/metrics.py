"""The console's metrics (``/metrics`` on its port; docs/metrics.md is generated)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter


class ConsoleMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.actions = Counter(
            "orders_console_actions_total",
            "Operator actions by kind and how they ended (requested, done, failed, refused)",
            ["action", "outcome"],
            registry=registry,
        )
        self.upstream_errors = Counter(
            "orders_console_upstream_errors_total",
            "Calls the console could not complete, by what it called (query_api, decider, "
            "kafka, redis)",
            ["upstream"],
            registry=registry,
        )
