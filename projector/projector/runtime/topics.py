"""Start-up check of the topics the projector reads and writes.

Faust is told not to declare topics (it would create them with its own defaults, e.g.
without ``retention.ms=-1``). Missing topics are created here with the settings the
architecture prescribes (idempotent, like ``deploy/local/create-topics``); an events
topic with another partition count than ``ORDERS_PARTITIONS`` stops the projector with
a clear message, because per-partition checkpoints would not mean what they say.
"""

from __future__ import annotations

import logging
from typing import Any

from kafka.admin import KafkaAdminClient

from ordersource.connections import kafka_options
from ordersource.settings import Settings

log = logging.getLogger(__name__)

UNKNOWN_TOPIC = 3


class TopicMisconfigured(RuntimeError):
    pass


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


def ensure_topics(settings: Settings) -> None:
    specs = topic_specs(settings)
    admin = KafkaAdminClient(**kafka_options(settings), client_id="orders-projector")
    try:
        described = {t["name"]: t for t in admin.describe_topics(list(specs))}
        missing = {n: s for n, s in specs.items() if described[n]["error_code"] == UNKNOWN_TOPIC}
        if missing:
            log.warning("creating missing topics %s", sorted(missing))
            admin.create_topics(missing, raise_errors=False, wait_for_metadata=True)
        events = described[settings.events_topic]
        found = len(events["partitions"])
        if settings.events_topic not in missing and found != settings.partitions:
            raise TopicMisconfigured(
                f"topic {settings.events_topic} has {found} partitions but "
                f"ORDERS_PARTITIONS={settings.partitions}; fix the setting or the topic"
            )
    finally:
        admin.close()
