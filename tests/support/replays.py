"""Helpers for replay tests and the replay benchmark: bulk events, the ``orders`` CLI.

``bulk_append`` writes the way the decider does (transactional producer, key = order id,
the shared codec and headers) but in big transactions, so 100,000 events take seconds.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping
from datetime import timedelta
from pathlib import Path

from kafka import KafkaProducer

from ordersource.codec import encode_event, event_headers
from ordersource.domain import Event
from tests.support.events import T0, modified, paid, placed, shipped
from tests.support.kafka_infra import KAFKA_BIN
from tests.support.waiting import wait_until

EVENTS_PER_ORDER = 5


def five_events(order_id: str, customer_id: str, at: timedelta) -> list[Event]:
    """placed (5 x 100) -> modified (6) -> modified (7) -> paid 700 -> shipped."""
    start = T0 + at
    return [
        placed(order_id, customer_id, at=start),
        modified(order_id, 2, 6, at=start + timedelta(seconds=1)),
        modified(order_id, 3, 7, at=start + timedelta(seconds=2)),
        paid(order_id, 4, 700, at=start + timedelta(seconds=3)),
        shipped(order_id, 5, at=start + timedelta(seconds=4)),
    ]


def order_ids(count: int, prefix: str = "o") -> list[str]:
    return [f"{prefix}{i}" for i in range(count)]


def bulk_events(count: int, prefix: str = "o") -> Iterator[Event]:
    """``count`` orders x 5 events, in order per order (customers c0..c99)."""
    for i, order_id in enumerate(order_ids(count, prefix)):
        yield from five_events(order_id, f"c{i % 100}", timedelta(milliseconds=i))


def bulk_append(bootstrap: str, topic: str, events: Iterator[Event], chunk: int = 20_000) -> int:
    producer = KafkaProducer(
        bootstrap_servers=bootstrap,
        transactional_id=f"bulk-{os.getpid()}-{id(object())}",
        acks="all",
        linger_ms=20,
        batch_size=512 * 1024,
        max_request_size=8 * 1024 * 1024,
    )
    written = 0
    try:
        producer.init_transactions()
        pending = True
        while pending:
            producer.begin_transaction()
            sent = 0
            for event in events:
                producer.send(
                    topic,
                    key=event.order_id.encode(),
                    value=encode_event(event),
                    headers=event_headers(event),
                )
                sent += 1
                if sent == chunk:
                    break
            else:
                pending = False
            producer.commit_transaction()
            written += sent
    finally:
        producer.close()
    return written


def orders_cli(
    env: Mapping[str, str], *args: str, timeout: float = 600
) -> subprocess.CompletedProcess[str]:
    """Run ``orders ARGS`` as a user would, with the test's settings."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("ORDERS_")}
    script = Path(sys.executable).with_name("orders")  # the console script users run
    argv = [str(script), *args]
    return subprocess.run(
        argv,
        env={**base, **env, "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def until_ok(
    run: Callable[[], subprocess.CompletedProcess[str]], timeout: float = 60.0
) -> subprocess.CompletedProcess[str]:
    """Run until exit 0: a group whose member just left may still look live for a moment."""
    last: list[subprocess.CompletedProcess[str]] = []

    def ok() -> bool:
        last[:] = [run()]
        return last[0].returncode == 0

    try:
        wait_until(ok, timeout, interval=0.5, message="command never succeeded")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{last[0].stdout}\n{last[0].stderr}") from None
    return last[0]


def kafka_reset(env: Mapping[str, str], *how: str) -> subprocess.CompletedProcess[str]:
    """``kafka-consumer-groups --reset-offsets <how> --execute`` on the projector's group."""
    argv = [
        str(KAFKA_BIN / "kafka-consumer-groups"),
        "--bootstrap-server", env["ORDERS_KAFKA_BOOTSTRAP"],
        "--group", env["ORDERS_PROJECTOR_GROUP"],
        "--topic", env["ORDERS_EVENTS_TOPIC"],
        "--reset-offsets", *how, "--execute",
    ]  # fmt: skip
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
