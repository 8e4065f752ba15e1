"""A replay killed mid-build (SIGKILL: no ``finally`` runs) leaves its half-built
generation in Redis; the next replay sweeps it once its heartbeat is
``ORDERS_REPLAY_ABANDONED_AFTER_S`` old, then builds and switches as usual: the killed
one's keys are gone, its registry entry too, and the views equal the fold."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis

from tests.support.replays import bulk_append, bulk_events, orders_cli
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

ORDERS = 12_000  # 60,000 events: a replay that builds for a second or more
ABANDONED_AFTER_S = 2


def _registry(client: redis.Redis) -> dict[str, dict[str, str]]:
    return {str(g): json.loads(d) for g, d in client.hgetall("views:generations").items()}


def _building(client: redis.Redis) -> str | None:
    """The generation a replay is building, once it has committed into it."""
    for generation, doc in _registry(client).items():
        if doc["state"] == "building" and client.hlen(f"v:{generation}:checkpoint"):
            return generation
    return None


def test_the_next_replay_sweeps_a_killed_replays_generation(
    settings_env: Mapping[str, str],
) -> None:
    env = {**settings_env, "ORDERS_REPLAY_ABANDONED_AFTER_S": str(ABANDONED_AFTER_S)}
    bulk_append(env["ORDERS_KAFKA_BOOTSTRAP"], env["ORDERS_EVENTS_TOPIC"], bulk_events(ORDERS))
    client = redis.Redis.from_url(env["ORDERS_REDIS_URL"], decode_responses=True)
    script = Path(sys.executable).with_name("orders")
    base = {k: v for k, v in os.environ.items() if not k.startswith("ORDERS_")}
    killed = subprocess.Popen(
        [str(script), "replay", "--to-earliest", "--blue-green"],
        env={**base, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: _building(client) is not None, 60, interval=0.01,
                   message="the replay never started building")  # fmt: skip
        killed.send_signal(signal.SIGKILL)
    finally:
        killed.kill()
        killed.wait(timeout=30)
    abandoned = _building(client)
    assert abandoned is not None, "the replay finished before it was killed"
    left = sum(1 for _ in client.scan_iter(match=f"v:{abandoned}:*", count=1000))
    assert left > 0  # what a killed replay leaves behind

    def heartbeat_stale() -> bool:
        beaten = datetime.fromisoformat(_registry(client)[abandoned]["heartbeat_at"])
        return datetime.now(UTC) - beaten > timedelta(seconds=ABANDONED_AFTER_S + 0.5)

    wait_until(heartbeat_stale, 30, interval=0.2, message="the heartbeat never aged")
    done = orders_cli(env, "replay", "--to-earliest", "--blue-green", timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"dropped abandoned generations {abandoned} " in done.stdout, done.stdout
    assert abandoned not in _registry(client)
    assert next(client.scan_iter(match=f"v:{abandoned}:*", count=1000), None) is None
    current = str(client.get("views:current"))
    assert current != abandoned
    assert _registry(client)[current]["state"] == "live"
    verified = orders_cli(env, "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    client.close()
