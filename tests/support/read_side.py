"""Helpers for projector integration tests: write events the way the decider does.

The decider appends with a transactional producer (key = order_id, the shared codec,
type/schema_version headers); tests do the same so the projector sees real transactions,
including aborted ones.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterable, Mapping
from typing import Any

import httpx
from kafka import KafkaConsumer, KafkaProducer

from ordersource.codec import encode_event, event_headers
from ordersource.domain import Event
from ordersource.settings import Settings
from projector.ops.verify import Difference, fold_log, verify
from tests.support.waiting import wait_until

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
    bootstrap: str,
    topic: str,
    events: Iterable[Event],
    *,
    abort: bool = False,
    chunk: int = 500,
    partition: int | None = None,
) -> list[int]:
    """Append events in transactions of ``chunk`` records; ``abort`` aborts every one.
    ``partition``: where they go (None: by key). Returns the records' offsets."""
    producer = transactional_producer(bootstrap)
    offsets: list[int] = []
    try:
        batch = list(events)
        for start in range(0, len(batch), chunk):
            producer.begin_transaction()
            futures = [
                producer.send(
                    topic,
                    key=event.order_id.encode(),
                    value=encode_event(event),
                    headers=event_headers(event),
                    partition=partition,
                )
                for event in batch[start : start + chunk]
            ]
            producer.flush()
            offsets += [int(f.get(timeout=10).offset) for f in futures]
            if abort:
                producer.abort_transaction()
            else:
                producer.commit_transaction()
    finally:
        producer.close()
    return offsets


def append_raw(bootstrap: str, topic: str, key: bytes | None, value: bytes | None) -> None:
    """A record written without the codec (poison), outside any transaction."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    try:
        producer.send(topic, key=key, value=value).get(timeout=10)
    finally:
        producer.close()


def settings_from(env: Mapping[str, str]) -> Settings:
    """The Settings a service started with ``env`` sees (without touching os.environ)."""
    values: dict[str, Any] = {k.removeprefix("ORDERS_").lower(): v for k, v in env.items()}
    for name, value in values.items():  # lists and maps come as JSON, as from the environment
        if isinstance(value, str) and value.startswith(("[", "{")):
            values[name] = json.loads(value)
    return Settings(**values)


def start_read_side(services: Any, **env: str) -> tuple[Any, Any]:
    """The projector and the query API, both ready."""
    return services("projector", env=env or None), services("query-api")


def get_json(url: str, **params: Any) -> Any:
    response = httpx.get(url, params=params, timeout=30)
    response.raise_for_status()
    return response.json()


def wait_verified(env: Mapping[str, str], timeout: float = 60.0) -> None:
    """Until the Redis views equal the fold of the log (``projector.ops.verify``)."""
    settings = settings_from(env)
    last: list[Difference] = []

    def equal() -> bool:
        nonlocal last
        last = verify(settings)
        return not last and bool(fold_log(settings).states)

    try:
        wait_until(equal, timeout, interval=0.5, message="views never equalled the log")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\nfirst differences: {last[:5]}") from None


def read_topic(bootstrap: str, topic: str, count: int, timeout: float = 30.0) -> list[Any]:
    """The first ``count`` records of a topic (fails if fewer arrive in time)."""
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
    )
    records: list[Any] = []
    deadline = time.monotonic() + timeout
    try:
        while len(records) < count and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=200).values():
                records += batch
    finally:
        consumer.close()
    assert len(records) >= count, f"only {len(records)} of {count} records on {topic}"
    return records
