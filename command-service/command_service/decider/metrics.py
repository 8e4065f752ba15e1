"""Prometheus metrics of the decider."""

from prometheus_client import Counter, Gauge, Histogram

DECIDED = Counter("orders_decider_commands_total", "Commands decided", ["outcome"])
CATCHUP_EVENTS = Counter("orders_decider_catchup_events_total", "Events folded while catching up")
CATCHUP_SECONDS = Histogram("orders_decider_catchup_seconds", "Time to catch up a partition")
COMMIT_SECONDS = Histogram(
    "orders_decider_commit_seconds",
    "Time to commit one transaction",
    buckets=(0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
PARTITIONS = Gauge("orders_decider_partitions", "Partitions this decider owns")
