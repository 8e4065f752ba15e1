"""Replay speed: ``orders replay --to-earliest --blue-green`` (the operator's CLI) over
the generated log into an empty Redis, with its progress sampled from Redis (the
building generation's checkpoints) for the rate-over-time plot. It goes through the CLI
every operator uses. Its peak RSS comes from ``wait4``'s rusage.
"""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson

from bench.env import Stack
from bench.sampler import Sampler
from ordersource import keys

DONE = re.compile(r"(\d+) events in ([\d.]+)\s*s")


def _applied(client: Any) -> int:
    """Offsets applied so far by whichever generation is being built (0 before it exists)."""
    for generation, doc in client.hgetall(keys.GENERATIONS).items():
        if orjson.loads(doc).get("state") == "building":
            found = client.hgetall(keys.ViewKeys(generation.decode()).checkpoint)
            return sum(int(v) for v in found.values())
    return 0


def replay(stack: Stack, timeout: float = 1200) -> dict[str, Any]:
    orders_cli = str(Path(sys.executable).with_name("orders"))
    log = stack.tmp / "logs" / "replay.log"
    client = stack.redis.client()
    env = stack.child_env(COLUMNS="200")
    started = time.perf_counter()
    with log.open("wb") as out, Sampler(lambda: _applied(client), 0.5) as sampler:
        proc = subprocess.Popen(
            [orders_cli, "replay", "--to-earliest", "--blue-green"],
            stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True,
        )  # fmt: skip
        try:
            while True:
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    break
                if time.perf_counter() - started > timeout:
                    raise TimeoutError(f"replay not done after {timeout:g}s")
                time.sleep(0.1)
        except BaseException:
            proc.kill()
            proc.wait()
            raise
    client.close()
    wall = time.perf_counter() - started
    text = log.read_text(errors="replace")
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"orders replay failed:\n{text[-3000:]}")
    found = DONE.findall(text)
    events, seconds = (int(found[-1][0]), float(found[-1][1])) if found else (0, wall)
    series = [(t, n) for t, n in sampler.points]
    rates = [(t1, (n1 - n0) / (t1 - t0)) for (t0, n0), (t1, n1) in itertools.pairwise(series)]
    return {
        "events": events,
        "seconds": seconds,
        "rate": round(events / seconds, 0) if seconds else None,
        "wall_s": round(wall, 2),
        "peak_rss_bytes": usage.ru_maxrss * 1024,
        "rate_over_time": [(round(t, 2), round(r, 0)) for t, r in rates],
    }
