"""A real Kafka broker for the tests: a KRaft node from the Maven-fetched jars
(``deploy/local/bin/kafka-server``) on free loopback ports, or a testcontainers one with
``ORDERS_TEST_INFRA=containers``."""

from __future__ import annotations

import os
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from kafka import KafkaAdminClient
from kafka.errors import NodeNotReadyError, UnknownBrokerIdError

from tests.support.net import free_port, free_ports, port_open
from tests.support.processes import REPO_ROOT, Supervised, infra_mode, log_tail
from tests.support.waiting import wait_until

KAFKA_BIN = REPO_ROOT / "deploy" / "local" / "bin"


class KafkaBroker(ABC):
    """What the tests need from a Kafka broker, whatever runs it."""

    @property
    @abstractmethod
    def bootstrap(self) -> str: ...

    @abstractmethod
    def start(self) -> None:
        """Start (or start again after kill/stop) without waiting."""

    @abstractmethod
    def kill(self) -> None:
        """Kill abruptly (kill -9): no controlled shutdown, unflushed data is at risk."""

    @abstractmethod
    def stop(self) -> None:
        """Graceful shutdown (SIGTERM); ``start``/``restart`` may follow."""

    @abstractmethod
    def close(self) -> None:
        """Stop for good and release everything (end of the session)."""

    @abstractmethod
    def describe(self) -> str:
        """Where to look when it misbehaves (log tail, exit status)."""

    def is_running(self) -> bool:
        return True

    def restart(self, timeout: float = 120.0) -> None:
        """Graceful stop if running, start again on the same ports and data, wait ready."""
        self.stop()
        self.start()
        self.wait_ready(timeout)

    def admin(self, **configs: Any) -> Any:
        """A kafka-python ``KafkaAdminClient``; close it (or use ``with``)."""
        configs.setdefault("request_timeout_ms", 10_000)
        configs.setdefault("bootstrap_timeout_ms", 10_000)
        return KafkaAdminClient(bootstrap_servers=self.bootstrap, client_id="tests", **configs)

    def wait_ready(self, timeout: float = 120.0) -> None:
        """Until metadata requests succeed and every existing partition has a leader."""
        deadline = time.monotonic() + timeout
        host, port = self.bootstrap.rsplit(":", 1)
        last_error: BaseException | None = None
        while time.monotonic() < deadline:
            if not self.is_running():
                raise RuntimeError(f"Kafka is not running.\n{self.describe()}")
            # A cheap TCP probe first: kafka-python logs errors for refused bootstraps.
            if port_open(int(port), host):
                try:
                    remaining_ms = max(1000, int((deadline - time.monotonic()) * 1000))
                    with self.admin(bootstrap_timeout_ms=min(remaining_ms, 5000)) as admin:
                        topics = admin.list_topics()
                        if topics:
                            admin.wait_for_topics(topics, timeout_ms=remaining_ms)
                    return
                except Exception as exc:
                    last_error = exc
            time.sleep(0.2)
        raise TimeoutError(
            f"Kafka at {self.bootstrap} not ready after {timeout:g}s "
            f"(last error: {last_error!r}).\n{self.describe()}"
        )

    def create_topics(
        self,
        names: Iterable[str],
        partitions: int,
        configs: Mapping[str, Mapping[str, str]] | None = None,
        replication_factor: int = 1,
    ) -> None:
        """Create topics (already existing ones are an error) and wait for their leaders.

        ``configs`` maps a topic name to its topic configs, e.g.
        ``{"x.orders.events": {"retention.ms": "-1"}}``.
        """
        configs = configs or {}
        spec = {
            name: {
                "num_partitions": partitions,
                "replication_factor": replication_factor,
                "configs": dict(configs.get(name, {})),
            }
            for name in names
        }

        # The dict form: kafka-python 3.x deprecates the list-of-NewTopic form.
        def create() -> bool:
            try:
                with self.admin() as admin:
                    admin.create_topics(spec, wait_for_metadata=True)
            except (UnknownBrokerIdError, NodeNotReadyError):
                return False  # not sent: this admin's metadata lags the cluster's; again
            return True

        wait_until(create, 30, 0.5, message=f"could not create {sorted(spec)}")


class KafkaServer(KafkaBroker):
    """A single KRaft node from ``deploy/local/bin/kafka-server`` on free ports."""

    def __init__(
        self, workdir: Path, heap: str = "512m", sasl_users: Mapping[str, str] | None = None
    ) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        self.port, self.controller_port, self.sasl_port = free_ports(3)
        argv = [
            str(KAFKA_BIN / "kafka-server"),
            str(workdir / "state"),
            str(self.port),
            str(self.controller_port),
        ]
        env = {**os.environ, "KAFKA_HEAP": heap}
        if sasl_users:
            env["KAFKA_EXTRA_PROPERTIES"] = self._sasl_properties(sasl_users)
        self._proc = Supervised(argv, workdir / "kafka.log", env)

    def _sasl_properties(self, users: Mapping[str, str]) -> str:
        """A SASL_PLAINTEXT listener with PLAIN users, beside the PLAINTEXT one (which the
        fixtures' admin client and the broker itself keep using)."""
        plain, sasl = f"127.0.0.1:{self.port}", f"127.0.0.1:{self.sasl_port}"
        accounts = " ".join(f'user_{name}="{secret}"' for name, secret in users.items())
        return "\n".join(
            [
                f"listeners=PLAINTEXT://{plain},CONTROLLER://127.0.0.1:{self.controller_port},"
                f"SASL_PLAINTEXT://{sasl}",
                f"advertised.listeners=PLAINTEXT://{plain},SASL_PLAINTEXT://{sasl}",
                "listener.security.protocol.map="
                "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT",
                "sasl.enabled.mechanisms=PLAIN",
                "listener.name.sasl_plaintext.plain.sasl.jaas.config="
                f"org.apache.kafka.common.security.plain.PlainLoginModule required {accounts};",
            ]
        )

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def sasl_bootstrap(self) -> str:
        """The SASL_PLAINTEXT listener (only with ``sasl_users``)."""
        return f"127.0.0.1:{self.sasl_port}"

    @property
    def pid(self) -> int:
        return self._proc.pid

    def is_running(self) -> bool:
        return self._proc.alive

    def start(self) -> None:
        self._proc.start()

    def kill(self) -> None:
        self._proc.kill()

    def stop(self, timeout: float = 30.0) -> None:
        self._proc.terminate(timeout)

    def close(self) -> None:
        self.stop()

    def describe(self) -> str:
        server_log = self.workdir / "state" / "logs" / "server.log"
        return (
            f"exit code: {self._proc.returncode}\n"
            f"--- {self._proc.log_path} ---\n{self._proc.tail(30)}\n"
            f"--- {server_log} ---\n{log_tail(server_log, 30)}"
        )


class KafkaContainerServer(KafkaBroker):
    """``apache/kafka`` in Docker via testcontainers, KRaft single node.

    testcontainers-python's own ``KafkaContainer`` only drives Confluent images, so this
    follows what testcontainers-java does for ``apache/kafka``: the container waits for a
    start script that exports the advertised listener (known only once the port is
    mapped). The host port is fixed up front so the address survives a container restart.
    """

    IMAGE = os.environ.get("ORDERS_TEST_KAFKA_IMAGE", "apache/kafka:4.0.2")
    _SCRIPT = "/tmp/orders-start.sh"
    _READY_FLAG = "/tmp/orders-start.ready"

    def __init__(self, workdir: Path, heap: str = "512m") -> None:
        from testcontainers.core.container import DockerContainer

        self.workdir = workdir
        self.port = free_port()
        wait_then_run = (
            f"while [ ! -f {self._READY_FLAG} ]; do sleep 0.1; done; exec bash {self._SCRIPT}"
        )
        self._container = (
            DockerContainer(self.IMAGE)
            .with_bind_ports(9092, self.port)
            .with_command(["sh", "-c", wait_then_run])
            .with_envs(
                CLUSTER_ID="4L6g3nShT-eMCtK--X86sw",
                KAFKA_NODE_ID="1",
                KAFKA_PROCESS_ROLES="broker,controller",
                KAFKA_LISTENERS="PLAINTEXT://:9092,BROKER://:9093,CONTROLLER://:9094",
                KAFKA_LISTENER_SECURITY_PROTOCOL_MAP=(
                    "BROKER:PLAINTEXT,PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT"
                ),
                KAFKA_INTER_BROKER_LISTENER_NAME="BROKER",
                KAFKA_CONTROLLER_LISTENER_NAMES="CONTROLLER",
                KAFKA_CONTROLLER_QUORUM_VOTERS="1@localhost:9094",
                KAFKA_NUM_PARTITIONS="6",
                KAFKA_AUTO_CREATE_TOPICS_ENABLE="false",
                KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS="0",
                KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR="1",
                KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR="1",
                KAFKA_TRANSACTION_STATE_LOG_MIN_ISR="1",
                KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR="1",
                KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR="1",
                KAFKA_BROKER_HEARTBEAT_INTERVAL_MS="500",
                KAFKA_BROKER_SESSION_TIMEOUT_MS="3000",
                KAFKA_HEAP_OPTS=f"-Xmx{heap}",
            )
        )
        self._created = False
        self._host = "127.0.0.1"

    @property
    def bootstrap(self) -> str:
        return f"{self._host}:{self.port}"

    def start(self) -> None:
        if self._created:  # restart the same container: same data, same script, same port
            self._container.get_wrapped_container().start()
            return
        self._container.start()
        self._created = True
        self._host = self._container.get_container_host_ip()
        mapped = self._container.get_exposed_port(9092)
        script = (
            "#!/bin/bash\n"
            f"export KAFKA_ADVERTISED_LISTENERS=PLAINTEXT://{self._host}:{mapped},"
            "BROKER://$(hostname):9093\n"
            "exec /etc/kafka/docker/run\n"
        )
        self._container.copy_into_container(script.encode(), self._SCRIPT, 0o755)
        # Flag written after the script is complete, so the waiting loop never runs half a file.
        self._container.copy_into_container(b"", self._READY_FLAG)

    def is_running(self) -> bool:
        if not self._created:
            return False
        wrapped = self._container.get_wrapped_container()
        wrapped.reload()
        return bool(wrapped.status == "running")

    def kill(self) -> None:
        self._container.get_wrapped_container().kill()

    def stop(self) -> None:
        if self.is_running():
            self._container.get_wrapped_container().stop(timeout=30)

    def close(self) -> None:
        if self._created:
            self._container.stop()
            self._created = False

    def describe(self) -> str:
        if not self._created:
            return "(container not created)"
        stdout, stderr = self._container.get_logs()
        text = (stdout + stderr).decode(errors="replace")
        return "--- container log ---\n" + "\n".join(text.splitlines()[-50:])


def new_kafka(workdir: Path) -> KafkaBroker:
    if infra_mode() == "containers":
        return KafkaContainerServer(workdir)
    return KafkaServer(workdir)
