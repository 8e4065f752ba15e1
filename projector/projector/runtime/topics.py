"""Start-up check of the topics the projector reads and writes.

Faust is told not to declare topics (it would create them with its own defaults, e.g.
without ``retention.ms=-1``). Missing topics are created here with the settings the
architecture prescribes (idempotent, like ``deploy/local/create-topics``); an events
topic with another partition count than ``ORDERS_PARTITIONS`` stops the projector with
a clear message, because per-partition checkpoints would not mean what they say.
"""

from __future__ import annotations

from typing import Any

from ordersource.settings import Settings
from ordersource.topics import TopicMisconfigured, ensure_topics

__all__ = ["TopicMisconfigured", "ensure_projector_topics", "topic_specs"]


def topic_specs(settings: Settings) -> dict[str, dict[str, Any]]:
    base = {
        "num_partitions": settings.partitions,
        "replication_factor": settings.replication_factor,
    }
    forever = {"retention.ms": "-1", "cleanup.policy": "delete"}
    return {
        settings.events_topic: {**base, "configs": forever},
        settings.dlq_topic: {**base, "configs": forever},
    }


def ensure_projector_topics(settings: Settings) -> None:
    found = ensure_topics(settings, topic_specs(settings), "orders-projector")
    partitions = found[settings.events_topic]
    if partitions is not None and partitions != settings.partitions:
        raise TopicMisconfigured(
            f"topic {settings.events_topic} has {partitions} partitions but "
            f"ORDERS_PARTITIONS={settings.partitions}; fix the setting or the topic"
        )
