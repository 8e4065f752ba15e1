"""G1 on a replicated log: kill -9 the leader of the busiest events partition under load.

A three-node cluster, every topic with replication factor 3 and min.insync.replicas=2,
no unclean leader election. With acks=all an acknowledged write is on at least two
replicas, so losing the leader must lose nothing: a follower in the ISR takes over and
the services follow the new leader by themselves. The killed node is restarted
afterwards and must rejoin the ISR. Three JVMs and the services share two cores, so the
load stays modest and the deadlines are generous.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from tests.support.cluster import KafkaCluster
from tests.support.faults import MakeRun
from tests.support.redis_infra import RedisBroker
from tests.support.services import isolated_settings
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.fault, pytest.mark.slow]


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[KafkaCluster]:
    nodes = KafkaCluster(tmp_path / "cluster")
    try:
        nodes.start()
        nodes.wait_ready()
        yield nodes
    finally:
        nodes.close()


def describe(cluster: KafkaCluster, topic: str) -> list[dict[str, Any]]:
    """Partition metadata, or [] while the cluster cannot answer (a node just died and
    metadata still points at it): "not yet" for the waits below."""
    try:
        return cluster.partitions(topic)
    except KafkaError:
        return []


def busiest_partition(bootstrap: str, topic: str) -> int:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        tps = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        ends = consumer.end_offsets(tps)
        return int(max(tps, key=lambda tp: ends[tp]).partition)
    finally:
        consumer.close()


def test_kill_9_leader_of_busiest_partition(
    fault_run: MakeRun, cluster: KafkaCluster, redis_server: RedisBroker, tmp_path: Path
) -> None:
    env = isolated_settings(
        cluster, redis_server, tmp_path / "state", replication_factor=3,
        topic_configs={"min.insync.replicas": "2"},
    )  # fmt: skip
    run = fault_run("kill -9 leader of busiest partition (3 nodes, RF 3)", env).start()
    events = env["ORDERS_EVENTS_TOPIC"]
    partition = busiest_partition(cluster.bootstrap, events)
    leader = cluster.partitions(events)[partition]["leader_id"]
    with run.fault():
        cluster.nodes[leader].kill()
        # Under way without it: a new leader for the partition, from the old ISR.
        wait_until(
            lambda: any(
                p["leader_id"] not in (leader, -1)
                for p in describe(cluster, events)[partition : partition + 1]
            ),
            60,
            interval=0.5,
            message="no new leader elected",
        )
    stalled = []  # reported with the row by finish(), not raised before it
    try:
        run.wait_acks(100, run.t_recovered, 120, "no acks with one node down")
    except AssertionError as exc:
        stalled.append(str(exc))
    cluster.nodes[leader].start()
    run.finish(clean_timeout=180, violations=stalled)
    wait_until(
        lambda: [len(p["isr_nodes"]) for p in describe(cluster, events)] == [3, 3, 3],
        120,
        interval=1.0,
        message=f"node {leader} did not rejoin the ISR",
    )
