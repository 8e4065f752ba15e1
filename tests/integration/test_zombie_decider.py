"""The zombie hazard: a decider that lost its partitions while stuck mid-batch, then wakes
up and carries on producing. Its transaction must be fenced and its events never seen.

The stall is made deterministic through the decider's injected clock, which blocks the
first decision of decider A until the test lets it go. Whoever then owns the order's
partition (B, or A's replacement writer if the group gives A the partition back)
decides the command once; the stalled batch must never become visible.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import UTC, datetime

import pytest

from command_service.decider.loop import Decider
from ordersource import codec
from ordersource.settings import Settings
from tests.support.commands import modify, place
from tests.support.eventlog import assert_contiguous, read_log
from tests.support.read_side import settings_from
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration


def settings_for(env: Mapping[str, str], instance: str) -> Settings:
    """Two deciders in one process: each its own instance (its own transactional.id)."""
    return settings_from(
        {
            **env,
            "ORDERS_DECIDER_MAX_POLL_INTERVAL_MS": "4000",
            "ORDERS_DECIDER_INSTANCE_ID": instance,
        }
    )


def run(decider: Decider) -> threading.Thread:
    thread = threading.Thread(target=decider.run, daemon=True)
    thread.start()
    return thread


def test_a_stalled_decider_is_fenced_and_its_events_stay_invisible(
    settings_env: Mapping[str, str],
) -> None:
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=settings_env["ORDERS_KAFKA_BOOTSTRAP"])

    def send(command: object) -> None:
        producer.send(
            settings_env["ORDERS_COMMANDS_TOPIC"],
            key=b"z-1",
            value=codec.encode_command(command),  # type: ignore[arg-type]
        ).get(timeout=10)

    stalled, release = threading.Event(), threading.Event()

    def stalling_clock() -> datetime:
        # Only the first decision stalls: a writer that replaces the stuck one (and may
        # decide the command, if the group gives A its partition back) runs normally.
        if not stalled.is_set():
            stalled.set()
            release.wait(timeout=60)
        return datetime.now(UTC)

    a = Decider(settings_for(settings_env, "a"), clock=stalling_clock)
    thread_a = run(a)
    wait_until(a.is_ready, timeout=30, message="decider A never got its partitions")
    send(place("z-1"))
    wait_until(stalled.is_set, timeout=30, message="decider A never started deciding")

    # A is stuck mid-transaction; it stops polling, so the group gives its work to B.
    b = Decider(settings_for(settings_env, "b"))
    thread_b = run(b)
    wait_until(
        lambda: [e.event.version for e in read_log(settings_env)] == [1],
        timeout=60,
        interval=0.2,
        message="nobody decided the command after A stalled",
    )
    send(modify({"sku": "apple", "quantity": 6}, order_id="z-1"))
    wait_until(
        lambda: len(read_log(settings_env)) == 2, timeout=60, interval=0.2, message="B stalled"
    )

    release.set()  # A wakes up and tries to commit what it decided long ago.
    wait_until(lambda: a.fenced_batches >= 1, timeout=60, message="A's stale batch was committed")

    logged = read_log(settings_env)
    assert_contiguous(logged)
    assert [e.event.type for e in logged] == ["OrderPlaced", "OrderModified"]
    assert len({e.event.command_id for e in logged}) == 2
    for decider, thread in ((a, thread_a), (b, thread_b)):
        decider.stop()
        thread.join(timeout=30)
        decider.close()
    producer.close()
