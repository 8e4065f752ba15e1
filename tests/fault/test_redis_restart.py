"""G7 under load: Redis killed and restarted empty (no persistence) on the test's own server.

Redis holds only derived data — views, checkpoints, verdicts, idempotency fingerprints.
Losing it must not lose or duplicate a single acknowledged command (the log decides and
dedups by command id), and the projector must notice the empty Redis and rebuild every
view from the log by itself: no process is restarted.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.faults import MakeRun
from tests.support.kafka_infra import KafkaBroker
from tests.support.redis_infra import RedisBroker
from tests.support.services import isolated_settings

pytestmark = [pytest.mark.fault, pytest.mark.slow]

DOWN_S = 3.0


def test_redis_restarted_empty_under_load(
    fault_run: MakeRun, kafka: KafkaBroker, own_redis: RedisBroker, tmp_path: Path
) -> None:
    env = isolated_settings(kafka, own_redis, tmp_path / "state")
    run = fault_run(f"Redis kill -9, {DOWN_S:g} s down, back empty", env).start()
    with run.fault():
        own_redis.kill()
        run.hold(DOWN_S)
        own_redis.start()
        own_redis.wait_ready()
    run.finish()
    assert all(proc.alive for proc in run.procs.values()), "a service died with Redis"
