"""The project's own processes under test (``python -m <module>``), and the isolated
``ORDERS_*`` settings (own topics, groups, ports, state dir) each test runs them with."""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path

from tests.support.kafka_infra import KafkaBroker
from tests.support.net import free_ports, http_status
from tests.support.processes import Supervised
from tests.support.redis_infra import RedisBroker
from tests.support.waiting import wait_until

SERVICE_MODULES = {
    "decider": "command_service.decider",
    "command-api": "command_service",
    "projector": "projector",
    "query-api": "query_service",
    "console": "projector.console",
}
SERVICE_PORT_VARS = {
    "decider": "ORDERS_DECIDER_PORT",
    "command-api": "ORDERS_COMMAND_API_PORT",
    "projector": "ORDERS_PROJECTOR_PORT",
    "query-api": "ORDERS_QUERY_API_PORT",
    "console": "ORDERS_CONSOLE_PORT",
}


OPS_PORT_VARS = {
    "command-api": "ORDERS_COMMAND_API_OPS_PORT",
    "query-api": "ORDERS_QUERY_API_OPS_PORT",
}


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

    def ops_url(self, path: str = "") -> str:
        """The API's ops port (``/healthz``, ``/metrics``, served by its ops agent process)."""
        port = self.env[OPS_PORT_VARS[self.name]]
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


@contextlib.contextmanager
def stopped_at_exit(services: Services, lines: int = 60) -> Iterator[Services]:
    """For module-scoped stacks: the processes stopped at the end, and their logs printed
    if starting them failed."""
    try:
        yield services
    except BaseException:
        print(services.log_report(lines))
        raise
    finally:
        services.stop_all()


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
        module: str | None = None,
    ) -> ServiceProcess:
        """Start ``name`` (decider, command-api, projector, query-api).

        ``env`` overrides settings (e.g. another port for a second instance); with
        ``wait`` it returns once the process answers 200 on ``ready_path``. ``module``
        runs another ``python -m`` module as that service (a test's wrapper of it).
        """
        if name not in SERVICE_MODULES:
            raise ValueError(f"unknown service {name!r}; known: {sorted(SERVICE_MODULES)}")
        merged = {**service_environment(self.settings_env), **(env or {})}
        count = sum(1 for p in self.started if p.name == name)
        log_path = self.log_dir / (f"{name}.log" if count == 0 else f"{name}-{count + 1}.log")
        proc = ServiceProcess(name, module or SERVICE_MODULES[name], merged, log_path).start()
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
    ports = free_ports(7)
    command_port, query_port, projector_port, decider_port, command_ops, query_ops = ports[:6]
    console_port = ports[6]
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
        "ORDERS_SNAPSHOTS_TOPIC": f"{prefix}.orders.decider-snapshots",  # the decider makes it
        "ORDERS_PARTITIONS": str(partitions),
        "ORDERS_REPLICATION_FACTOR": str(replication_factor),
        "ORDERS_DECIDER_GROUP": f"{prefix}-decider",
        "ORDERS_PROJECTOR_GROUP": f"{prefix}-projector",
        "ORDERS_REDIS_URL": redis_server.url,
        "ORDERS_COMMAND_API_PORT": str(command_port),
        "ORDERS_QUERY_API_PORT": str(query_port),
        "ORDERS_PROJECTOR_PORT": str(projector_port),
        "ORDERS_DECIDER_PORT": str(decider_port),
        "ORDERS_COMMAND_API_OPS_PORT": str(command_ops),
        "ORDERS_QUERY_API_OPS_PORT": str(query_ops),
        "ORDERS_STATE_DIR": str(state_dir),
        "ORDERS_AUDIT_TOPIC": f"{prefix}.orders.audit",  # the console makes it
        "ORDERS_CONSOLE_PORT": str(console_port),
        "ORDERS_CONSOLE_QUERY_API_URL": f"http://127.0.0.1:{query_port}",
        "ORDERS_CONSOLE_DECIDER_URLS": f'["http://127.0.0.1:{decider_port}"]',
    }
