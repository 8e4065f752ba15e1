"""Ceilings measured in the same run, on the same machine and stack as our figures:
Kafka's own producer perf test, a raw kafka-python consume, redis-benchmark, and a
no-op endpoint on our HTTP stack driven by the same load generator.
"""

from __future__ import annotations

import csv
import re
import shutil
import sys
from typing import Any

from bench.drive import drive
from bench.env import Stack, python_json, run_child
from tests.support.kafka_infra import KAFKA_BIN
from tests.support.net import free_port, http_status
from tests.support.processes import Supervised
from tests.support.waiting import wait_until

_PERF = re.compile(r"(\d+) records sent, ([\d.]+) records/sec \(([\d.]+) MB/sec\), ([\d.]+) ms avg")


def kafka_producer(stack: Stack, records: int, record_size: int) -> dict[str, Any]:
    """kafka-producer-perf-test, acks=all, records the size of our events."""
    topic = "bench.perf"
    stack.kafka.create_topics([topic], partitions=6)
    argv = [str(KAFKA_BIN / "kafka-producer-perf-test"), "--topic", topic]
    argv += ["--num-records", str(records), "--record-size", str(record_size)]
    argv += ["--throughput", "-1", "--producer-props", f"bootstrap.servers={stack.kafka.bootstrap}"]
    argv += ["acks=all", "linger.ms=5", "batch.size=262144"]
    out = run_child(argv, timeout=300).stdout
    found = _PERF.findall(out)
    if not found:
        raise RuntimeError(f"unexpected kafka-producer-perf-test output:\n{out[-2000:]}")
    sent, rate, mb, avg = found[-1]
    return {"records": int(sent), "rate": float(rate), "mb_per_s": float(mb),
            "avg_latency_ms": float(avg), "record_size": record_size}  # fmt: skip


def kafka_consume(stack: Stack) -> dict[str, Any]:
    args = ["--bootstrap", stack.kafka.bootstrap, "--topic", stack.env["ORDERS_EVENTS_TOPIC"]]
    result: dict[str, Any] = python_json("bench.rawconsume", args, timeout=700)
    return result


def redis_benchmark(stack: Stack, requests: int) -> dict[str, Any]:
    """Pipelined SET/GET (16 per round trip, 50 clients) against the bench's Redis."""
    if shutil.which("redis-benchmark") is None:
        return {"missing": "redis-benchmark (Debian package redis-tools)"}
    argv = ["redis-benchmark", "-h", "127.0.0.1", "-p", str(stack.redis.port)]
    argv += ["-t", "set,get", "-n", str(requests), "-P", "16", "-d", "300", "--csv"]
    rows = list(csv.DictReader(run_child(argv, timeout=300).stdout.splitlines()))
    stack.redis.flushall()  # its keys would skew the memory figures
    return {row["test"].lower(): float(row["rps"]) for row in rows}


def noop_http(stack: Stack, seconds: float, rates: list[float], workers: int) -> dict[str, Any]:
    """The same generator against a no-op FastAPI/uvicorn route: max rate and fixed rates."""
    port = free_port()
    argv = [sys.executable, "-m", "bench.noop", "--port", str(port)]
    server = Supervised(argv, stack.tmp / "logs" / "noop.log")
    server.start()
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: http_status(url + "/noop") == 200, 30, message="noop server")
        closed = drive(url, "noop", seconds=seconds, concurrency=workers, procs=2)
        fixed = {str(r): drive(url, "noop", rate=r, seconds=seconds) for r in rates}
    finally:
        server.terminate()
    return {"closed_loop": closed, "max_rate": closed["achieved_rate"], "fixed": fixed}
