"""A local three-node KRaft cluster (combined broker + controller nodes) for fault tests.

Each node is ``deploy/local/bin/kafka-server`` with its own ports and data dir, one
static controller quorum, one cluster id, and the durability settings of a production
cluster: replication factor 3, ``min.insync.replicas=2``, no unclean leader election,
and the transaction and offsets topics replicated the same way. With one node down,
acks=all writes still succeed (2 in sync) and the quorum still has a majority.
"""

from __future__ import annotations

import base64
import os
from pathlib import Path
from typing import Any

from kafka import KafkaAdminClient

from tests.support.kafka_infra import KAFKA_BIN, KafkaBroker
from tests.support.net import free_ports, port_open
from tests.support.processes import REPO_ROOT, Supervised, log_tail
from tests.support.waiting import wait_until

DURABLE = REPO_ROOT / "deploy/local/kafka/cluster.properties"
"""The durability settings every node gets (the same file `make run-cluster` uses)."""


class KafkaCluster(KafkaBroker):
    def __init__(self, workdir: Path, heap: str = "384m") -> None:
        ports = free_ports(6)
        self.ports = dict(zip((1, 2, 3), ports[:3], strict=True))
        voters = ",".join(f"{n}@127.0.0.1:{p}" for n, p in zip((1, 2, 3), ports[3:], strict=True))
        cluster_id = base64.urlsafe_b64encode(b"ordersource-3nd\x00").decode().rstrip("=")
        env = {
            **os.environ,
            "KAFKA_HEAP": heap,
            "KAFKA_CLUSTER_ID": cluster_id,
            "KAFKA_EXTRA_PROPERTIES": DURABLE.read_text(),
        }
        self.nodes = {
            n: Supervised(
                [str(KAFKA_BIN / "kafka-server"), str(workdir / f"node{n}"), str(port),
                 str(ports[2 + n]), str(n), voters],
                workdir / f"node{n}.log",
                env,
            )
            for n, port in self.ports.items()
        }  # fmt: skip

    @property
    def bootstrap(self) -> str:
        return ",".join(f"127.0.0.1:{p}" for p in self.ports.values())

    def admin(self, **configs: Any) -> Any:
        # Bootstrap from live nodes only: a refused bootstrap fails the admin client.
        live = [f"127.0.0.1:{self.ports[n]}" for n, node in self.nodes.items() if node.alive]
        configs.setdefault("request_timeout_ms", 10_000)
        configs.setdefault("bootstrap_timeout_ms", 10_000)
        return KafkaAdminClient(bootstrap_servers=live, client_id="tests", **configs)

    def is_running(self) -> bool:
        return all(node.alive for node in self.nodes.values())

    def start(self) -> None:
        for node in self.nodes.values():
            if not node.alive:
                node.start()

    def kill(self) -> None:
        for node in self.nodes.values():
            node.kill()

    def stop(self) -> None:
        for node in self.nodes.values():
            node.terminate(30)

    def close(self) -> None:
        self.stop()

    def wait_ready(self, timeout: float = 180.0) -> None:
        """Every node listens, and metadata shows a leader for every partition."""
        # The base class probes one "host:port" bootstrap; this one is a list of three.
        for port in self.ports.values():
            wait_until(lambda p=port: port_open(p), timeout, 0.2, f"port {port} closed")  # type: ignore[misc]

        def leaders() -> bool:
            try:
                with self.admin() as admin:
                    # Every node registered and unfenced: an admin client that has not
                    # seen the controller yet cannot create topics.
                    brokers = admin.describe_cluster()["brokers"]
                    if sum(1 for b in brokers if not b.get("is_fenced")) < len(self.nodes):
                        return False
                    topics = admin.list_topics()
                    if topics:
                        admin.wait_for_topics(topics, timeout_ms=5000)
                return True
            except Exception:  # not yet: no controller, no leaders, timed-out request
                return False

        wait_until(leaders, timeout, 0.5, f"cluster not ready\n{self.describe()}")

    def describe(self) -> str:
        return "\n".join(
            f"--- node {n} (exit {node.returncode}) ---\n{node.tail(15)}\n"
            f"{log_tail(node.log_path.parent / f'node{n}' / 'logs' / 'server.log', 15)}"
            for n, node in self.nodes.items()
        )

    def partitions(self, topic: str) -> list[dict[str, Any]]:
        """Metadata of each partition of ``topic`` (leader_id, replica_nodes, isr_nodes …)."""
        with self.admin() as admin:
            (described,) = admin.describe_topics([topic])
        return sorted(described["partitions"], key=lambda p: p["partition_index"])
