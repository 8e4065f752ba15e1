"""Replays that finish on a quiet log: no new command arrives after the reset or the
replay, every transaction ends with a commit marker (an offset never delivered), and
there are more partitions than orders, so some partitions are empty.

* Kafka's own tool resets the stopped projector's group to the earliest offsets after a
  view was deleted: the restarted projector rebuilds into generation 2 and switches to
  it by itself, the view is back, and every partition reports lag 0.
* ``orders replay --to-earliest --blue-green`` and ``orders replay --until T`` finish,
  and the live projector follows the blue/green switch on every partition.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from tests.support.events import orders
from tests.support.kafka_infra import KafkaBroker
from tests.support.read_side import append, get_json, start_read_side, wait_verified
from tests.support.redis_infra import RedisBroker
from tests.support.replays import kafka_reset, orders_cli, until_ok
from tests.support.services import Services, isolated_settings
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

PARTITIONS = 8
ORDERS = 3  # fewer orders than partitions: at least five partitions stay empty
LAG_METRIC = re.compile(r'^orders_projector_lag_events\{partition="(\d+)"\} (\S+)$', re.M)


@pytest.fixture
def quiet_env(kafka: KafkaBroker, redis_server: RedisBroker, tmp_path: Path) -> dict[str, str]:
    return isolated_settings(kafka, redis_server, tmp_path / "state", partitions=PARTITIONS)


@pytest.fixture
def quiet_services(quiet_env: dict[str, str], tmp_path: Path) -> Iterator[Services]:
    started = Services(quiet_env, tmp_path / "logs")
    try:
        yield started
    finally:
        started.stop_all()
        print(started.log_report(30))  # shown only when the test fails


def _fill(env: Mapping[str, str]) -> None:
    append(env["ORDERS_KAFKA_BOOTSTRAP"], env["ORDERS_EVENTS_TOPIC"], orders(ORDERS, "a"))
    wait_verified(env)


def _lag_zero_everywhere(query: Any, projector: Any, generation: str) -> None:
    """``GET /projection`` and the lag gauge: every partition caught up, lag 0."""
    last: list[Any] = []

    def settled() -> bool:
        body = get_json(query.url("/projection"))
        metrics = httpx.get(projector.url("/metrics"), timeout=10).text
        gauges = {int(p): float(v) for p, v in LAG_METRIC.findall(metrics)}
        last[:] = [body, gauges]
        parts = body["partitions"]
        return (
            body["generation"] == generation
            and len(parts) == PARTITIONS
            and all(p["caught_up"] and p["lag"] == 0 for p in parts)
            and gauges == dict.fromkeys(range(PARTITIONS), 0.0)
        )

    try:
        wait_until(settled, 30, interval=0.5, message="lag never reached 0 everywhere")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{last}") from None


def _empty_partitions(env: Mapping[str, str]) -> int:
    with redis.Redis.from_url(env["ORDERS_REDIS_URL"]) as client:
        current = (client.get("views:current") or b"").decode()
        checkpoints = client.hgetall(f"v:{current}:checkpoints")
    nonempty = {int(p) for p, o in checkpoints.items() if int(o) > 0}
    return PARTITIONS - len(nonempty)


def test_kafka_tool_reset_finishes_on_a_quiet_log(
    quiet_services: Services, quiet_env: Mapping[str, str]
) -> None:
    projector, query = start_read_side(quiet_services)
    _fill(quiet_env)
    assert _empty_partitions(quiet_env) >= PARTITIONS - ORDERS
    client = redis.Redis.from_url(quiet_env["ORDERS_REDIS_URL"])
    assert client.get("views:current") == b"1"

    projector.terminate()
    client.delete("v:1:order:a1")  # behind the projector's back
    assert httpx.get(query.url("/orders/a1"), timeout=10).status_code == 404
    done = until_ok(lambda: kafka_reset(quiet_env, "--to-earliest"))
    assert "NEW-OFFSET" in done.stdout, done.stdout

    projector = quiet_services("projector")  # and no new command from here on
    wait_until(lambda: client.get("views:current") == b"2", 60,
               message="generation 2 never became current on a quiet log")  # fmt: skip
    assert get_json(query.url("/orders/a1"))["order_id"] == "a1"
    verified = orders_cli(quiet_env, "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    _lag_zero_everywhere(query, projector, "2")
    client.close()


def test_replays_finish_on_a_quiet_log(
    quiet_services: Services, quiet_env: Mapping[str, str]
) -> None:
    projector, query = start_read_side(quiet_services)
    _fill(quiet_env)
    _lag_zero_everywhere(query, projector, "1")

    done = orders_cli(quiet_env, "replay", "--to-earliest", "--blue-green", timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "generation 2 is current (was 1)" in done.stdout, done.stdout
    assert "did not report" not in done.stdout, done.stdout  # it followed on every partition
    _lag_zero_everywhere(query, projector, "2")

    until = datetime.now(UTC).isoformat()
    bounded = orders_cli(quiet_env, "replay", "--until", until, timeout=120)
    assert bounded.returncode == 0, bounded.stdout + bounded.stderr
    assert "generation 3 holds the log as of" in bounded.stdout, bounded.stdout
    assert get_json(query.url("/stats"), generation="3")["orders"] == ORDERS
    verified = orders_cli(quiet_env, "verify", "--generation", "3")
    assert verified.returncode == 0, verified.stdout + verified.stderr
