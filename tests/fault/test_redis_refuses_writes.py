"""G6 under load: Redis answers but refuses writes, for a few seconds.

* OOM: ``maxmemory`` below what Redis holds with ``noeviction`` (``CONFIG SET``), then
  restored. Every write is refused with ``OOM command not allowed``.
* READONLY: a failover and back. A second Redis is a replica of the test's Redis, is
  promoted, and the test's Redis becomes its replica (read-only; it resyncs from the new
  primary, so writes it took after the promotion are lost, as in a real failover — views
  and checkpoints together, as they are written in one script). Then the test's Redis is
  promoted again; the services never change their address.

The projector must not exit, must say why it is not ready on /readyz, must commit
nothing of a refused batch, and must go on by itself once Redis takes writes again. The
write side (verdicts, idempotency fingerprints in Redis) must ride it out too: nothing
acknowledged is lost, and commands are acknowledged again after the fault.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from tests.support.faults import MakeRun
from tests.support.kafka_infra import KafkaBroker
from tests.support.readiness import ReadyzWatch
from tests.support.redis_infra import RedisBroker, RedisServer
from tests.support.services import isolated_settings
from tests.support.waiting import wait_until

pytestmark = pytest.mark.fault

REFUSE_S = 6.0


def test_redis_out_of_memory_under_load(
    fault_run: MakeRun, kafka: KafkaBroker, own_redis: RedisBroker, tmp_path: Path
) -> None:
    env = isolated_settings(kafka, own_redis, tmp_path / "state")
    run = fault_run(f"Redis OOM (noeviction), {REFUSE_S:g} s", env).start()
    with own_redis.client() as r, ReadyzWatch(run.procs["projector"].url("/readyz")) as watch:
        r.config_set("maxmemory-policy", "noeviction")
        with run.fault():
            used = int(r.info("memory")["used_memory"])
            r.config_set("maxmemory", str(used // 2))
            try:
                with pytest.raises(redis.exceptions.OutOfMemoryError):
                    r.set("probe", "x")  # writes really are refused
                run.hold(REFUSE_S)
            finally:
                r.config_set("maxmemory", "0")
        wait_until(lambda: watch.ready_again_after(run.t_recovered) is not None, 60)
    run.finish()
    assert all(proc.alive for proc in run.procs.values()), "a service exited"
    reasons = [b["reason"] for b in watch.failing()]
    assert reasons, "the projector never said it was failing"
    assert all("OutOfMemoryError" in reason for reason in reasons), reasons


@pytest.mark.slow
def test_redis_read_only_after_a_failover_and_back(
    fault_run: MakeRun, kafka: KafkaBroker, own_redis: RedisBroker, tmp_path: Path
) -> None:
    env = isolated_settings(kafka, own_redis, tmp_path / "state")
    other = RedisServer(tmp_path / "other-redis")
    other.start()
    try:
        other.wait_ready()
        run = fault_run(f"Redis READONLY (failover and back), {REFUSE_S:g} s", env).start()
        with (
            own_redis.client() as primary,
            other.client() as replica,
            ReadyzWatch(run.procs["projector"].url("/readyz")) as watch,
        ):
            replica.replicaof(own_redis.host, str(own_redis.port))
            wait_until(lambda: replica.info("replication")["master_link_status"] == "up", 30)
            with run.fault():
                replica.replicaof("NO", "ONE")
                primary.replicaof(other.host, str(other.port))
                try:
                    with pytest.raises(redis.exceptions.ReadOnlyError):
                        primary.set("probe", "x")
                    run.hold(REFUSE_S)
                finally:
                    primary.replicaof("NO", "ONE")
            wait_until(lambda: watch.ready_again_after(run.t_recovered) is not None, 60)
        run.finish()
    finally:
        other.close()
    assert all(proc.alive for proc in run.procs.values()), "a service exited"
    reasons = [str(b["reason"]) for b in watch.failing()]
    assert reasons, "the projector never said it was failing"
    assert any("ReadOnlyError" in reason for reason in reasons), reasons
