"""Real infrastructure for the tests: a Kafka broker, a Redis server, service processes.

By default Kafka runs from the Maven-fetched jars (``deploy/local/bin/kafka-server``) and
Redis is the system ``redis-server``, each on free loopback ports in a temp dir. With
``ORDERS_TEST_INFRA=containers`` the same interface is backed by testcontainers
(needs a Docker engine). Nothing here sleeps without a deadline: every wait polls.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import redis
from kafka import KafkaAdminClient
from kafka.errors import NodeNotReadyError, UnknownBrokerIdError

REPO_ROOT = Path(__file__).resolve().parents[2]
KAFKA_BIN = REPO_ROOT / "deploy" / "local" / "bin"

T = TypeVar("T")


def infra_mode() -> str:
    """``local`` (processes on this machine) or ``containers`` (testcontainers)."""
    return os.environ.get("ORDERS_TEST_INFRA", "local")


def free_ports(count: int) -> list[int]:
    """Ports that are free on 127.0.0.1 right now (all distinct: sockets held until done)."""
    with contextlib.ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind(("127.0.0.1", 0))
            ports.append(int(sock.getsockname()[1]))
        return ports


def free_port() -> int:
    return free_ports(1)[0]


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
        return True
    return False


def wait_until(
    predicate: Callable[[], T],
    timeout: float,
    interval: float = 0.05,
    message: str = "condition not met",
) -> T:
    """Poll ``predicate`` until it returns something truthy (which is returned).

    Raises AssertionError with ``message`` and the last value once ``timeout`` seconds
    have passed. Exceptions from the predicate propagate: catch them inside it if a
    failure means "not yet".
    """
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() >= deadline:
            raise AssertionError(f"{message} (waited {timeout:g}s; last value: {result!r})")
        time.sleep(interval)


def log_tail(path: Path, lines: int = 50) -> str:
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return f"({path} does not exist)"
    return "\n".join(text.splitlines()[-lines:])


class Supervised:
    """A child process in its own process group, output appended to a log file.

    The group lets kill/terminate reach everything the child started and keeps the
    child out of the terminal's Ctrl-C.
    """

    def __init__(
        self,
        argv: list[str],
        log_path: Path,
        env: Mapping[str, str] | None = None,
        cwd: Path = REPO_ROOT,
    ) -> None:
        self.argv = argv
        self.log_path = log_path
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        if self.alive:
            raise RuntimeError(f"already running: {self.argv}")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=self.cwd,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        if self._proc is None:
            raise RuntimeError("not started")
        return self._proc.pid

    @property
    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def returncode(self) -> int | None:
        return None if self._proc is None else self._proc.poll()

    def _signal_group(self, sig: signal.Signals) -> None:
        # Only while the leader is alive (or an unreaped zombie): after it has been reaped
        # its pid, which is the group id, may belong to somebody else.
        if self._proc is not None and self._proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self._proc.pid, sig)

    def kill(self) -> None:
        """SIGKILL (like kill -9): no clean-up runs in the process."""
        if self._proc is not None:
            self._signal_group(signal.SIGKILL)
            self._proc.wait()

    def terminate(self, timeout: float = 15.0) -> int | None:
        """SIGTERM, wait up to ``timeout`` s, then SIGKILL. Returns the exit code."""
        if self._proc is None:
            return None
        if self._proc.poll() is None:
            self._signal_group(signal.SIGTERM)
            try:
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return self._proc.returncode

    def tail(self, lines: int = 50) -> str:
        return log_tail(self.log_path, lines)


# --------------------------------------------------------------------------- Kafka


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


# --------------------------------------------------------------------------- Redis


class RedisBroker(ABC):
    """What the tests need from a Redis server, whatever runs it."""

    port: int
    host: str = "127.0.0.1"

    @property
    def url(self) -> str:
        return f"redis://{self.host}:{self.port}/0"

    def client(self) -> redis.Redis:
        return redis.Redis(host=self.host, port=self.port, socket_timeout=5)

    @abstractmethod
    def start(self) -> None: ...

    @abstractmethod
    def kill(self) -> None: ...

    @abstractmethod
    def stop(self) -> None: ...

    @abstractmethod
    def close(self) -> None: ...

    @abstractmethod
    def describe(self) -> str: ...

    def is_running(self) -> bool:
        return True

    def restart(self, timeout: float = 30.0) -> None:
        """Stop and start again on the same port. Without persistence it comes back empty."""
        self.stop()
        self.start()
        self.wait_ready(timeout)

    def ping(self) -> bool:
        probe = redis.Redis(
            host=self.host, port=self.port, socket_connect_timeout=1, socket_timeout=1
        )
        try:
            return bool(probe.ping())
        except redis.exceptions.RedisError:
            return False
        finally:
            probe.close()

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.ping():
            if not self.is_running():
                raise RuntimeError(f"Redis is not running.\n{self.describe()}")
            if time.monotonic() >= deadline:
                raise TimeoutError(f"Redis not ready after {timeout:g}s.\n{self.describe()}")
            time.sleep(0.05)

    def flushall(self) -> None:
        with self.client() as r:
            r.flushall()


class RedisServer(RedisBroker):
    """The system ``redis-server`` on a free port; no persistence, so a restart empties it."""

    def __init__(self, workdir: Path) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        self.port = free_port()
        argv = [
            "redis-server",
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(workdir),
            "--save", "",
            "--appendonly", "no",
        ]  # fmt: skip
        self._proc = Supervised(argv, workdir / "redis.log")

    @property
    def pid(self) -> int:
        return self._proc.pid

    def is_running(self) -> bool:
        return self._proc.alive

    def start(self) -> None:
        self._proc.start()

    def kill(self) -> None:
        self._proc.kill()

    def stop(self, timeout: float = 15.0) -> None:
        self._proc.terminate(timeout)

    def close(self) -> None:
        self.stop()

    def describe(self) -> str:
        return f"exit code: {self._proc.returncode}\n{self._proc.tail(30)}"


class RedisContainerServer(RedisBroker):
    """Redis in Docker via testcontainers; fixed host port so a restart keeps the address."""

    IMAGE = os.environ.get("ORDERS_TEST_REDIS_IMAGE", "redis:7")

    def __init__(self, workdir: Path) -> None:
        from testcontainers.core.container import DockerContainer

        self.workdir = workdir
        self.port = free_port()
        self._container = (
            DockerContainer(self.IMAGE)
            .with_bind_ports(6379, self.port)
            .with_command(["redis-server", "--save", "", "--appendonly", "no"])
        )
        self._created = False

    def start(self) -> None:
        if self._created:
            self._container.get_wrapped_container().start()
            return
        self._container.start()
        self._created = True
        self.host = self._container.get_container_host_ip()

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
            self._container.get_wrapped_container().stop(timeout=15)

    def close(self) -> None:
        if self._created:
            self._container.stop()
            self._created = False

    def describe(self) -> str:
        if not self._created:
            return "(container not created)"
        stdout, stderr = self._container.get_logs()
        return (stdout + stderr).decode(errors="replace")[-4000:]


def new_redis(workdir: Path) -> RedisBroker:
    if infra_mode() == "containers":
        return RedisContainerServer(workdir)
    return RedisServer(workdir)


# --------------------------------------------------------------------------- services


SERVICE_MODULES = {
    "decider": "command_service.decider",
    "command-api": "command_service",
    "projector": "projector",
    "query-api": "query_service",
}
SERVICE_PORT_VARS = {
    "decider": "ORDERS_DECIDER_PORT",
    "command-api": "ORDERS_COMMAND_API_PORT",
    "projector": "ORDERS_PROJECTOR_PORT",
    "query-api": "ORDERS_QUERY_API_PORT",
}


def http_status(url: str, timeout: float = 2.0) -> int | None:
    """The HTTP status of a GET, or None if nothing answered."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except (OSError, ValueError):  # refused, reset, timed out, half-started server
        return None


class ServiceProcess:
    """One project process (``python -m <module>``) with its own environment and log."""

    def __init__(self, name: str, module: str, env: Mapping[str, str], log_path: Path) -> None:
        self.name = name
        self.module = module
        self.env = dict(env)
        self.log_path = log_path
        self._proc = Supervised([sys.executable, "-m", module], log_path, self.env)

    def start(self) -> ServiceProcess:
        self._proc.start()
        return self

    @property
    def pid(self) -> int:
        return self._proc.pid

    @property
    def alive(self) -> bool:
        return self._proc.alive

    @property
    def returncode(self) -> int | None:
        return self._proc.returncode

    def dump_stacks(self, timeout: float = 5.0) -> None:
        """``kill -USR1``: the process writes every thread's stack to its log."""
        if not self.alive:
            return
        size = self.log_path.stat().st_size if self.log_path.exists() else 0
        os.kill(self.pid, signal.SIGUSR1)
        with contextlib.suppress(AssertionError):
            wait_until(lambda: self.log_path.stat().st_size > size, timeout)

    def url(self, path: str = "") -> str:
        port = self.env[SERVICE_PORT_VARS[self.name]]
        return f"http://127.0.0.1:{port}{path}"

    def wait_http_ok(self, url: str, timeout: float = 60.0) -> None:
        """Until ``url`` answers 200; fails early (with the log) if the process dies."""
        deadline = time.monotonic() + timeout
        last: int | None = None
        while True:
            if not self.alive:
                raise AssertionError(
                    f"{self.name} exited with {self.returncode} before {url} answered 200\n"
                    f"--- {self.log_path} ---\n{self.tail()}"
                )
            last = http_status(url, timeout=1.0)
            if last == 200:
                return
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"{url} did not answer 200 within {timeout:g}s (last status: {last})\n"
                    f"--- {self.log_path} ---\n{self.tail()}"
                )
            time.sleep(0.1)

    def kill(self) -> None:
        self._proc.kill()

    def terminate(self, timeout: float = 15.0) -> int | None:
        return self._proc.terminate(timeout)

    def tail(self, lines: int = 50) -> str:
        return self._proc.tail(lines)


def service_environment(settings_env: Mapping[str, str]) -> dict[str, str]:
    """The process environment for a service: ours, minus stray ORDERS_* from the shell."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("ORDERS_")}
    return {**base, **settings_env}


class Services:
    """Starts project processes by name for one test; ``stop_all`` ends them."""

    def __init__(self, settings_env: Mapping[str, str], log_dir: Path) -> None:
        self.settings_env = dict(settings_env)
        self.log_dir = log_dir
        self.started: list[ServiceProcess] = []

    def __call__(
        self,
        name: str,
        *,
        env: Mapping[str, str] | None = None,
        wait: bool = True,
        ready_path: str = "/readyz",
        timeout: float = 60.0,
    ) -> ServiceProcess:
        """Start ``name`` (decider, command-api, projector, query-api).

        ``env`` overrides settings (e.g. another port for a second instance); with
        ``wait`` it returns once the process answers 200 on ``ready_path``.
        """
        if name not in SERVICE_MODULES:
            raise ValueError(f"unknown service {name!r}; known: {sorted(SERVICE_MODULES)}")
        merged = {**service_environment(self.settings_env), **(env or {})}
        count = sum(1 for p in self.started if p.name == name)
        log_path = self.log_dir / (f"{name}.log" if count == 0 else f"{name}-{count + 1}.log")
        proc = ServiceProcess(name, SERVICE_MODULES[name], merged, log_path).start()
        self.started.append(proc)
        if wait:
            proc.wait_http_ok(proc.url(ready_path), timeout)
        return proc

    def stop_all(self) -> None:
        for proc in reversed(self.started):
            proc.terminate()

    def log_report(self, lines: int = 50) -> str:
        parts = []
        for p in self.started:
            parts.append(f"===== {p.name} (pid {p.pid}, exit {p.returncode}) {p.log_path} =====")
            parts.append(p.tail(lines))
        return "\n".join(parts)


def isolated_settings(
    kafka: KafkaBroker,
    redis_server: RedisBroker,
    state_dir: Path,
    partitions: int = 3,
    replication_factor: int = 1,
    topic_configs: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """ORDERS_* settings private to one test: own topics (created here), consumer groups,
    free HTTP ports and state dir, on the given Kafka and Redis (which is flushed).
    ``topic_configs`` go to all three topics (e.g. ``min.insync.replicas`` on a cluster)."""
    prefix = f"t{uuid.uuid4().hex[:12]}"
    commands, events, dlq = (
        f"{prefix}.orders.commands",
        f"{prefix}.orders.events",
        f"{prefix}.orders.events.dlq",
    )
    command_port, query_port, projector_port, decider_port = free_ports(4)
    redis_server.flushall()
    common = dict(topic_configs or {})
    kafka.create_topics(
        [commands, events, dlq],
        partitions=partitions,
        configs={
            commands: common,
            events: {**common, "retention.ms": "-1", "cleanup.policy": "delete"},
            dlq: common,
        },
        replication_factor=replication_factor,
    )
    return {
        "ORDERS_KAFKA_BOOTSTRAP": kafka.bootstrap,
        "ORDERS_COMMANDS_TOPIC": commands,
        "ORDERS_EVENTS_TOPIC": events,
        "ORDERS_DLQ_TOPIC": dlq,
        "ORDERS_PARTITIONS": str(partitions),
        "ORDERS_REPLICATION_FACTOR": str(replication_factor),
        "ORDERS_DECIDER_GROUP": f"{prefix}-decider",
        "ORDERS_PROJECTOR_GROUP": f"{prefix}-projector",
        "ORDERS_REDIS_URL": redis_server.url,
        "ORDERS_COMMAND_API_PORT": str(command_port),
        "ORDERS_QUERY_API_PORT": str(query_port),
        "ORDERS_PROJECTOR_PORT": str(projector_port),
        "ORDERS_DECIDER_PORT": str(decider_port),
        "ORDERS_STATE_DIR": str(state_dir),
    }
