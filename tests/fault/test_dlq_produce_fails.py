"""G6 under load: a poison record reaches the projector while the DLQ refuses records.

The DLQ topic is deleted (the brokers do not create topics on demand) for the fault's
length and then created again, while a record no reader can decode is written to the
events topic: a produce to the DLQ waits for a topic that is not there. The batch holding it
cannot be committed before its dead letter is acknowledged (G6: a dead letter is never
lost), so the projector retries it — saying why on /readyz — until the DLQ takes it,
then goes on by itself. Before this, the failed produce escaped the agent: Faust
restarted it, the batch in flight was dropped and the next one moved the checkpoint
past it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from kafka import KafkaProducer

from projector.runtime.deadletters import DLQ_SEND_TIMEOUT_S
from tests.support.faults import MakeRun
from tests.support.kafka_infra import KafkaBroker
from tests.support.read_side import read_topic
from tests.support.readiness import ReadyzWatch
from tests.support.redis_infra import RedisBroker
from tests.support.services import isolated_settings
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.fault, pytest.mark.slow]

REFUSE_S = DLQ_SEND_TIMEOUT_S + 3.0  # longer than one produce may wait: attempts fail


def delete_topic(kafka: KafkaBroker, topic: str) -> None:
    with kafka.admin() as admin:
        admin.delete_topics([topic])

        def gone() -> bool:
            return topic not in admin.list_topics()

        wait_until(gone, 30, message=f"{topic} not deleted")


def test_dlq_refuses_while_a_poison_record_is_in_the_batch(
    fault_run: MakeRun, kafka: KafkaBroker, own_redis: RedisBroker, tmp_path: Path
) -> None:
    env = isolated_settings(kafka, own_redis, tmp_path / "state")
    events, dlq = env["ORDERS_EVENTS_TOPIC"], env["ORDERS_DLQ_TOPIC"]
    run = fault_run(f"DLQ refuses produces ({REFUSE_S:g} s), poison in the batch", env)
    run.start()
    producer = KafkaProducer(bootstrap_servers=kafka.bootstrap, acks="all")
    try:
        with ReadyzWatch(run.procs["projector"].url("/readyz")) as watch:
            with run.fault():
                delete_topic(kafka, dlq)
                try:
                    poison = producer.send(events, key=b"poison", value=b"\xff{not json")
                    sent = poison.get(timeout=10)
                    run.poison.add((sent.partition, sent.offset))
                    run.hold(REFUSE_S)
                finally:
                    kafka.create_topics([dlq], partitions=int(env["ORDERS_PARTITIONS"]))
            wait_until(lambda: watch.ready_again_after(run.t_recovered) is not None, 60)
    finally:
        producer.close()
    run.finish()
    assert all(proc.alive for proc in run.procs.values()), "a service exited"
    reasons = [str(b["reason"]) for b in watch.failing()]
    assert reasons, "the projector never said it was failing"
    assert all("TimeoutError" in reason for reason in reasons), reasons
    # The dead letter is there, with its origin.
    dead = read_topic(kafka.bootstrap, dlq, 1)
    headers = {k: v.decode() for k, v in dead[0].headers}
    assert (headers["source_partition"], headers["source_offset"]) == (
        str(sent.partition),
        str(sent.offset),
    )
    assert "not JSON" in headers["reason"]
