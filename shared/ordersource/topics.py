"""The topics a service needs, created when missing (idempotent, like
``deploy/local/create-topics``), and what it found of those that existed.

Each caller checks what it needs of the layout (the projector: the events topic has
exactly ``ORDERS_PARTITIONS`` partitions; the decider: the snapshots topic at least as
many) and stops with ``TopicMisconfigured`` naming the fix.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from ordersource.connections import kafka_options
from ordersource.settings import Settings

log = logging.getLogger(__name__)

UNKNOWN_TOPIC = 3
"""Kafka's error code for a topic that does not exist."""


class TopicMisconfigured(RuntimeError):
    """A topic exists with a layout the service cannot work with."""


def ensure_topics(
    settings: Settings,
    specs: Mapping[str, Mapping[str, Any]],
    client_id: str,
    admin: Any = None,
) -> dict[str, int | None]:
    """Create the missing topics of ``specs`` (name -> ``num_partitions``,
    ``replication_factor``, ``configs``). Returns, by name, the partition count of each
    topic that already existed, None for one created now. ``admin``: a kafka-python
    admin client to use (else one is made for this call)."""
    from kafka.admin import KafkaAdminClient

    own = admin is None
    if own:
        admin = KafkaAdminClient(**kafka_options(settings), client_id=client_id)
    try:
        described = {t["name"]: t for t in admin.describe_topics(list(specs))}
        missing = {
            name: dict(spec)
            for name, spec in specs.items()
            if described[name]["error_code"] == UNKNOWN_TOPIC
        }
        if missing:
            log.warning("creating missing topics %s", sorted(missing))
            admin.create_topics(missing, raise_errors=False, wait_for_metadata=True)
        return {
            name: None if name in missing else len(described[name]["partitions"]) for name in specs
        }
    finally:
        if own:
            admin.close()
