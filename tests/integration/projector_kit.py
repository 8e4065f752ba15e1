"""Helpers for projector integration tests: write events the way the decider does.

The decider appends with a transactional producer (key = order_id, the shared codec,
type/schema_version headers); tests do the same so the projector sees real transactions,
including aborted ones.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable

from kafka import KafkaProducer

from ordersource.codec import encode_event, event_headers
from ordersource.domain import Event

_ids = itertools.count()


def transactional_producer(bootstrap: str) -> KafkaProducer:
    producer = KafkaProducer(
        bootstrap_servers=bootstrap,
        transactional_id=f"test-projector-{next(_ids)}-{id(object())}",
        acks="all",
        linger_ms=5,
    )
    producer.init_transactions()
    return producer


def append(
    bootstrap: str, topic: str, events: Iterable[Event], *, abort: bool = False, chunk: int = 500
) -> None:
    """Append events in transactions of ``chunk`` records; ``abort`` aborts every one."""
    producer = transactional_producer(bootstrap)
    try:
        batch = list(events)
        for start in range(0, len(batch), chunk):
            producer.begin_transaction()
            for event in batch[start : start + chunk]:
                producer.send(
                    topic,
                    key=event.order_id.encode(),
                    value=encode_event(event),
                    headers=event_headers(event),
                )
            producer.flush()
            if abort:
                producer.abort_transaction()
            else:
                producer.commit_transaction()
    finally:
        producer.close()


def append_raw(bootstrap: str, topic: str, key: bytes | None, value: bytes | None) -> None:
    """A record written without the codec (poison), outside any transaction."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    try:
        producer.send(topic, key=key, value=value).get(timeout=10)
    finally:
        producer.close()
