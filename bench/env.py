"""The bench's own stack: Kafka, Redis and the project's processes on free loopback ports
in a temp dir (the test infrastructure's classes), so it never collides with ``make run``.

Everything started here is ended by ``Stack.close`` — also on Ctrl-C or a failure —
and child commands run through ``run_child``, which kills them on the way out.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from tests.support.kafka_infra import KafkaServer
from tests.support.redis_infra import RedisServer
from tests.support.services import Services, isolated_settings, service_environment

PARTITIONS = 6
KAFKA_HEAP = "512m"
"""As ``deploy/local/bin/kafka-server``'s default under ``make run``."""


class Stack:
    def __init__(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix="ordersource-bench-"))
        # As `make run` configures them: Kafka's 512 MiB heap, Redis with AOF on.
        self.kafka = KafkaServer(self.tmp / "kafka", heap=KAFKA_HEAP)
        self.appendonly = True
        self.redis = RedisServer(self.tmp / "redis", appendonly=self.appendonly)
        # Access control on, as under `make run`: one bearer token per role.
        self.tokens = {role: secrets.token_urlsafe(18) for role in ("writer", "reader", "admin")}
        self.env: dict[str, str] = {}
        self.services: Services | None = None

    def start(self) -> None:
        self.redis.start()
        self.kafka.start()
        self.redis.wait_ready()
        self.kafka.wait_ready(180)
        self.env = isolated_settings(
            self.kafka, self.redis, self.tmp / "state", partitions=PARTITIONS
        )
        self.env["ORDERS_LOG_LEVEL"] = "INFO"
        tokens = {role: [token] for role, token in self.tokens.items()}
        self.env["ORDERS_AUTH_TOKENS"] = json.dumps(tokens)
        self.services = Services(self.env, self.tmp / "logs")

    def describe(self) -> dict[str, Any]:
        """How this stack is configured (for the results), from the settings used above."""
        return {
            "like": "make run",
            "auth": "on" if self.tokens else "off",
            "redis_aof": self.appendonly,
            "kafka_heap": KAFKA_HEAP,
            "partitions": PARTITIONS,
        }

    def child_env(self, **extra: str) -> dict[str, str]:
        """The environment of a project process or CLI: ours only, no stray ORDERS_*."""
        return {**service_environment(self.env), **extra}

    def close(self) -> None:
        if self.services is not None:
            self.services.stop_all()
        self.kafka.close()
        self.redis.close()


def run_child(
    argv: list[str], timeout: float, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a command to completion within ``timeout`` s; killed if we stop first."""
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,  # our Ctrl-C reaches us, and we end it
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except BaseException:
        proc.kill()
        proc.communicate()
        raise
    if proc.returncode != 0:
        raise RuntimeError(f"{argv[:4]} exited {proc.returncode}:\n{err[-3000:]}")
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)


def python_json(
    module: str, args: list[str], timeout: float, env: dict[str, str] | None = None
) -> Any:
    """``python -m module args`` whose last stdout line is a JSON document."""
    done = run_child([sys.executable, "-m", module, *args], timeout, env)
    return json.loads(done.stdout.strip().splitlines()[-1])


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak RSS) of a process, in bytes (0 if it is gone)."""
    found = {"VmRSS": 0, "VmHWM": 0}
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return found
    for line in text.splitlines():
        name, _, value = line.partition(":")
        if name in found:
            found[name] = int(value.split()[0]) * 1024
    return found


def parallel_json(module: str, argsets: list[list[str]], timeout: float) -> list[Any]:
    """Several ``python -m module`` side by side; each one's last stdout line as JSON."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", module, *args],
            stdout=subprocess.PIPE,
            text=True,
            start_new_session=True,
        )
        for args in argsets
    ]
    try:
        outs = [p.communicate(timeout=timeout)[0] for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    if any(p.returncode != 0 for p in procs):
        raise RuntimeError(f"{module} failed: exit codes {[p.returncode for p in procs]}")
    return [json.loads(out.strip().splitlines()[-1]) for out in outs]
