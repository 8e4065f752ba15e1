"""G1 across a broker crash: the only Kafka node killed -9 under load, restarted later.

While the broker is down the command API must say so — 503 (not acknowledged, retry
with the same key is safe) — rather than hang or acknowledge. After the restart every
process must find the broker again by itself (nothing is restarted but Kafka), commands
are acknowledged again, nothing acknowledged before, during or after is lost or
duplicated, and the views converge to the log. Runs on the test's own broker, so the
session broker is not disturbed. Part of the quick subset of ``make test``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.faults import MakeRun
from tests.support.history import UNAVAILABLE, classify
from tests.support.kafka_infra import KafkaBroker
from tests.support.redis_infra import RedisBroker
from tests.support.services import isolated_settings

pytestmark = pytest.mark.fault

DOWN_S = 8.0  # longer than the API's 5 s send timeout, so 503s must show


def test_broker_kill_9_then_restart(
    fault_run: MakeRun, own_kafka: KafkaBroker, redis_server: RedisBroker, tmp_path: Path
) -> None:
    env = isolated_settings(own_kafka, redis_server, tmp_path / "state")
    run = fault_run(f"kill -9 broker ({DOWN_S:g} s down)", env).start()
    with run.fault():
        own_kafka.kill()
        run.hold(DOWN_S)
        own_kafka.start()
        own_kafka.wait_ready(120)
    run.finish()

    during = [
        status
        for op in run.load.history.ops
        for sent, _, status in op.attempts
        if run.t_fault <= sent < run.t_recovered
    ]
    assert any(classify(s) == UNAVAILABLE for s in during), f"no 503 while down: {during}"
    assert all(run.procs[name].alive for name in run.procs), "a service died with the broker"
