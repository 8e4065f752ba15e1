"""Run load-generator processes side by side and merge their results.

Generators are separate processes (``python -m bench.openloop``): their CPU is their own
and never steals from the bench's bookkeeping, and one Python process that cannot keep a
schedule is replaced by two, each at half the rate.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

from bench.stats import merge

PER_PROCESS = 1000.0
"""Highest rate one generator process is asked to keep (aiohttp on one core)."""


def drive(
    url: str,
    kind: str,
    *,
    rate: float = 0.0,
    seconds: float,
    concurrency: int = 0,
    procs: int = 0,
    orders: int = 1,
    probe_redis: str = "",
    token: str = "",
    connections: int = 0,
) -> dict[str, Any]:
    """Open loop at ``rate`` (split over processes), or closed loop with ``concurrency``.

    ``connections``: most requests in flight at once, over all processes (default: the
    generator's own, 256 each); an overload run needs more than the API admits, or the
    excess would queue in the generator instead of reaching the API.
    """
    procs = procs or max(1, int(-(-rate // PER_PROCESS)))
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        outs = [Path(tmp) / f"{i}.json" for i in range(procs)]
        running: list[subprocess.Popen[bytes]] = []
        try:
            for i, out in enumerate(outs):
                argv = [sys.executable, "-m", "bench.openloop", "--url", url, "--kind", kind]
                argv += ["--seconds", str(seconds), "--orders", str(orders), "--out", str(out)]
                argv += ["--rate", str(rate / procs)]
                if concurrency:
                    argv += ["--concurrency", str(max(1, concurrency // procs))]
                if token:
                    argv += ["--token", token]
                if connections:
                    argv += ["--connections", str(max(1, connections // procs))]
                if probe_redis and i == 0:
                    argv += ["--probe-redis", probe_redis]
                running.append(
                    subprocess.Popen(argv, stdout=subprocess.DEVNULL, start_new_session=True)
                )
            for proc in running:
                if proc.wait(timeout=seconds + 90) != 0:
                    raise RuntimeError(f"load generator exited {proc.returncode}")
        finally:
            for proc in running:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
        return merge([json.loads(out.read_text()) for out in outs])
