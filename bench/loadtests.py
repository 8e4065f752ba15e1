"""Scenarios 1, 2 and 4: the command API at fixed arrival rates (with ack → visible
sampled in Redis and the projection lag sampled meanwhile), and the query API closed
loop (max rate) and at fixed rates.
"""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any

from bench.drive import drive
from bench.sampler import Sampler
from tests.support.services import ServiceProcess

DRAIN_S = 60.0


def projection_lag(query: ServiceProcess, token: str) -> dict[str, Any]:
    url = query.url("/projection")  # always http://127.0.0.1
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})  # noqa: S310
    with urllib.request.urlopen(request, timeout=2) as response:  # noqa: S310
        body = json.loads(response.read())
    return {"lag": body["lag"], "age_s": body["newest_event_age_s"]}


def _drain(query: ServiceProcess, token: str) -> float:
    """Until the projection has caught up with everything (bounded); returns seconds."""
    started = time.monotonic()
    while time.monotonic() - started < DRAIN_S:
        try:
            if projection_lag(query, token)["lag"] == 0:
                break
        except OSError:
            pass
        time.sleep(0.25)
    return round(time.monotonic() - started, 2)


def commands(
    command: ServiceProcess,
    query: ServiceProcess,
    redis_url: str,
    rates: list[float],
    seconds: float,
    tokens: dict[str, str],
) -> dict[str, Any]:
    """``tokens``: a bearer token per role (the stack runs with access control on)."""
    runs: dict[str, Any] = {}
    phases = []
    with Sampler(lambda: projection_lag(query, tokens["reader"]), 0.5) as lag:
        for rate in rates:
            began = time.monotonic() - lag.t0
            result = drive(
                command.url(),
                "place",
                rate=rate,
                seconds=seconds,
                probe_redis=redis_url,
                token=tokens["writer"],
            )
            result["drain_s"] = _drain(query, tokens["reader"])
            runs[str(int(rate))] = result
            phases.append({"rate": rate, "start": round(began, 2),
                           "end": round(time.monotonic() - lag.t0, 2)})  # fmt: skip
    return {"rates": runs, "lag_over_time": lag.points, "phases": phases}


def queries(
    query: ServiceProcess,
    orders: int,
    rates: list[float],
    seconds: float,
    workers: int,
    token: str,
) -> dict[str, Any]:
    url = query.url()
    closed = drive(
        url, "get", seconds=seconds, concurrency=workers, procs=2, orders=orders, token=token
    )
    fixed = {
        str(int(r)): drive(url, "get", rate=r, seconds=seconds, orders=orders, token=token)
        for r in rates
    }
    return {"closed_loop": closed, "max_rate": closed["achieved_rate"], "fixed": fixed}
