"""Scenarios 1, 2 and 4: the command API at fixed arrival rates (with ack → visible
sampled in Redis and the projection lag sampled meanwhile), and the query API closed
loop (max rate) and at fixed rates.

After the fixed rates, each API's capacity (``bench.stats.sustained``: the highest
offered rate with at least 99.9 % 200/201 answers) sets two more runs: half capacity
(latency with headroom) and three times capacity (overload: goodput, shedding, and the
API's /healthz probed meanwhile). Each of these runs twice, one after the other: with
``bench.openloop`` and with the independent tool vegeta (``bench.vegeta``).
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable
from functools import partial
from typing import Any

from bench import vegeta
from bench.drive import drive
from bench.health import HealthProbe, shed_total, wait_quiet
from bench.sampler import Sampler
from bench.stats import sustained
from tests.support.services import ServiceProcess

DRAIN_S = 60.0
WARMUP_RATE = {"place": 100.0, "get": 500.0}
"""Requests per second of the warm-up before each API's ladder: well below capacity."""
OVERLOAD = 3.0
"""The overload runs offer this many times the capacity."""
OVERLOAD_CONNECTIONS = 2048
"""Client connections of an overload run (over all generator processes): well above the
APIs' admission limit (256 in flight by default), so the excess reaches the API and is
shed there instead of queueing in the generator."""


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


def derived_rates(capacity: float, rates: list[float]) -> tuple[float, float]:
    """Half capacity and ``OVERLOAD`` times capacity; with no capacity (none sustained),
    half and ``OVERLOAD`` times the lowest rate tried."""
    base = capacity or min(rates)
    return round(base / 2, 1), round(OVERLOAD * base, 1)


def basis(capacity: float) -> str:
    """What the half-capacity and overload rates were derived from."""
    return "capacity" if capacity else "lowest rate tried (none sustained)"


def _process(kind: str) -> str:
    return "command_api" if kind == "place" else "query_api"


def counted(url: str, kind: str, run: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """``run()``'s result with ``api_shed``: how many 503 Overloaded the API itself counted
    meanwhile (its admission control; other 503s, e.g. Redis or Kafka away, are not)."""
    before = shed_total(url, _process(kind))
    result = run()
    after = shed_total(url, _process(kind))
    result["api_shed"] = None if before is None or after is None else int(after - before)
    return result


def pair(
    url: str,
    kind: str,
    rate: float,
    seconds: float,
    token: str,
    settle: Callable[[], float],
    *,
    overload: bool = False,
    orders: int = 1,
    probe_redis: str = "",
    health_url: str = "",
) -> dict[str, Any]:
    """The same run with ``bench.openloop`` then with vegeta (never at the same time;
    ``settle`` between and after, returning how long it waited). An overload run uses
    ``OVERLOAD_CONNECTIONS``; /healthz of ``health_url`` (the API's ops listener, as an
    orchestrator probes it; default ``url``) is probed meanwhile (``health``)."""
    out: dict[str, Any] = {"rate": rate}
    connections = OVERLOAD_CONNECTIONS if overload else 0
    health_url = health_url or url
    with HealthProbe(health_url) as health:
        ours = partial(drive, url, kind, rate=rate, seconds=seconds, orders=orders,
                       probe_redis=probe_redis, token=token, connections=connections)  # fmt: skip
        out["openloop"] = counted(url, kind, ours)
    out["openloop"]["health"] = health.summary()
    out["openloop"]["settle_s"] = settle()
    with HealthProbe(health_url) as health:
        theirs = partial(vegeta.attack, url, kind, rate=rate, seconds=seconds, token=token,
                         orders=orders)  # fmt: skip
        out["vegeta"] = counted(url, kind, theirs)
    out["vegeta"]["health"] = health.summary()
    out["vegeta"]["settle_s"] = settle()
    return out


def _vegeta_rung(
    url: str, kind: str, rate: float, seconds: float, token: str, orders: int = 1
) -> dict[str, Any]:
    """vegeta at one rate of the ladder (``bench.stats.sustained`` reads its summary too)."""
    run = partial(vegeta.attack, url, kind, rate=rate, seconds=seconds, token=token,
                  orders=orders)  # fmt: skip
    return counted(url, kind, run)


def commands(
    command: ServiceProcess,
    query: ServiceProcess,
    redis_url: str,
    rates: list[float],
    seconds: float,
    tokens: dict[str, str],
    *,
    vegeta_ladder: bool = False,
    warmup_s: float = 0.0,
) -> dict[str, Any]:
    """``tokens``: a bearer token per role (the stack runs with access control on).
    ``vegeta_ladder``: every rate of the ladder also with vegeta (``vegeta_rates``), right
    after bench.openloop's run; half capacity and overload always run with both.
    ``warmup_s``: commands at ``WARMUP_RATE`` first, not counted (``warmup``)."""
    runs: dict[str, Any] = {}
    theirs: dict[str, Any] = {}
    phases = []
    url, writer = command.url(), tokens["writer"]

    def drain() -> float:
        """Until the command API is quiet and the projection has caught up."""
        return wait_quiet(url, "command_api") + _drain(query, tokens["reader"])

    warm = warmup(url, "place", warmup_s, writer, drain)
    with Sampler(lambda: projection_lag(query, tokens["reader"]), 0.5) as lag:

        def phase(rate: float, label: str, began: float) -> None:
            phases.append({"rate": rate, "label": label, "start": round(began, 2),
                           "end": round(time.monotonic() - lag.t0, 2)})  # fmt: skip

        for rate in rates:
            began = time.monotonic() - lag.t0
            run = partial(drive, url, "place", rate=rate, seconds=seconds,
                          probe_redis=redis_url, token=writer)  # fmt: skip
            result = counted(url, "place", run)
            result["drain_s"] = drain()
            runs[str(int(rate))] = result
            if vegeta_ladder:
                theirs[str(int(rate))] = _vegeta_rung(url, "place", rate, seconds, writer)
                theirs[str(int(rate))]["drain_s"] = drain()
            phase(rate, "", began)
        capacity = sustained(runs)
        half_rate, over_rate = derived_rates(capacity, rates)
        began = time.monotonic() - lag.t0
        half = pair(url, "place", half_rate, seconds, writer, drain, probe_redis=redis_url,
                    health_url=command.ops_url())  # fmt: skip
        phase(half_rate, "half", began)
        began = time.monotonic() - lag.t0
        over = pair(url, "place", over_rate, seconds, writer, drain, overload=True,
                    health_url=command.ops_url())  # fmt: skip
        phase(over_rate, "3x", began)
    return {"rates": runs, "capacity": capacity, "basis": basis(capacity), "half": half,
            "overload": over, "vegeta_rates": theirs,
            "vegeta_capacity": sustained(theirs) if theirs else None,
            "lag_over_time": lag.points, "phases": phases, "warmup": warm}  # fmt: skip


def queries(
    query: ServiceProcess,
    orders: int,
    rates: list[float],
    seconds: float,
    workers: int,
    token: str,
    *,
    vegeta_ladder: bool = False,
    warmup_s: float = 0.0,
) -> dict[str, Any]:
    """``vegeta_ladder``, ``warmup_s``: as for ``commands``."""
    url = query.url()
    theirs: dict[str, Any] = {}

    def settle() -> float:
        return wait_quiet(url, "query_api")

    warm = warmup(url, "get", warmup_s, token, settle, orders=orders)
    closed = drive(
        url, "get", seconds=seconds, concurrency=workers, procs=2, orders=orders, token=token
    )
    closed["settle_s"] = settle()
    fixed = {}
    for r in rates:
        run = partial(drive, url, "get", rate=r, seconds=seconds, orders=orders, token=token)
        fixed[str(int(r))] = counted(url, "get", run)
        fixed[str(int(r))]["settle_s"] = settle()
        if vegeta_ladder:
            theirs[str(int(r))] = _vegeta_rung(url, "get", r, seconds, token, orders)
            theirs[str(int(r))]["settle_s"] = settle()
    capacity = sustained(fixed)
    half_rate, over_rate = derived_rates(capacity, rates)
    ops = query.ops_url()
    half = pair(url, "get", half_rate, seconds, token, settle, orders=orders, health_url=ops)
    over = pair(url, "get", over_rate, seconds, token, settle, overload=True, orders=orders,
                health_url=ops)  # fmt: skip
    return {"closed_loop": closed, "max_rate": closed["achieved_rate"], "fixed": fixed,
            "capacity": capacity, "basis": basis(capacity), "half": half,
            "overload": over, "vegeta_fixed": theirs,
            "vegeta_capacity": sustained(theirs) if theirs else None, "warmup": warm}  # fmt: skip


def warmup(
    url: str, kind: str, seconds: float, token: str, settle: Callable[[], float], orders: int = 1
) -> dict[str, Any] | None:
    """Load that is not measured, before the first measured run: the broker's JVM compiles
    its produce and transaction paths with C2 only once they are hot (a profile of a cold
    broker at 200 commands/s: its C2 compiler thread took 20-40 % of a core for the first
    minute), and the Python processes fill their caches. None when ``seconds`` is 0."""
    if seconds <= 0:
        return None
    result = drive(url, kind, rate=WARMUP_RATE[kind], seconds=seconds, orders=orders,
                   token=token)  # fmt: skip
    summary = {k: result.get(k) for k in ("offered_rate", "goodput", "ok_ratio", "p99_ms")}
    return {**summary, "seconds": seconds, "settle_s": settle()}
