"""A real Redis for the tests: the system ``redis-server`` on a free loopback port, or a
testcontainers one with ``ORDERS_TEST_INFRA=containers``."""

from __future__ import annotations

import os
import time
from abc import ABC, abstractmethod
from pathlib import Path

import redis

from tests.support.net import free_port
from tests.support.processes import Supervised, infra_mode


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

    def __init__(self, workdir: Path, appendonly: bool = False) -> None:
        """``appendonly``: persist like ``make run``'s Redis (AOF, fsync every second)."""
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        self.port = free_port()
        argv = [
            "redis-server",
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(workdir),
            "--save", "",
            "--appendonly", "yes" if appendonly else "no",
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
