"""The health probe beside an overload run: ``GET /healthz`` of the loaded API about
``PER_SECOND`` times a second from a thread of the bench (a fresh connection each, as a
load balancer's or an orchestrator's probe does), each bounded by ``TIMEOUT_S``.

A probe that fails or does not answer within ``TIMEOUT_S`` counts as a failure, and in
the percentiles as ``TIMEOUT_S`` (an orchestrator would have given up on it). The API
never sheds these paths (``ordersource.admission``), so this measures whether a process
under three times its capacity still answers its probes in time.
"""

from __future__ import annotations

import threading
import time
import urllib.request
from typing import Any

from bench.stats import percentile

PER_SECOND = 20.0
TIMEOUT_S = 2.0


class HealthProbe:
    """``with HealthProbe(url) as probe: ...`` then ``probe.summary()``."""

    def __init__(self, base_url: str, per_second: float = PER_SECOND) -> None:
        self.url = base_url.rstrip("/") + "/healthz"
        self.gap = 1.0 / per_second
        self.latencies_ms: list[float] = []
        self.failures = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="health-probe", daemon=True)

    def _once(self) -> None:
        started = time.perf_counter()
        try:
            with urllib.request.urlopen(self.url, timeout=TIMEOUT_S) as response:  # noqa: S310
                response.read()
                ok = response.status == 200
        except OSError:  # refused, reset, timed out, or an HTTP error status
            ok = False
        took = time.perf_counter() - started
        if ok and took <= TIMEOUT_S:
            self.latencies_ms.append(took * 1000)
        else:
            self.failures += 1

    def _run(self) -> None:
        due = time.perf_counter()
        while not self._stop.is_set():
            self._once()
            due += self.gap
            # A slow answer skips the slots it overran: one probe in flight at a time.
            now = time.perf_counter()
            if due < now:
                due = now
            self._stop.wait(due - now)

    def __enter__(self) -> HealthProbe:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(TIMEOUT_S + 1)

    def summary(self) -> dict[str, Any]:
        counted = self.latencies_ms + [TIMEOUT_S * 1000] * self.failures
        return {
            "probes": len(counted),
            "failures": self.failures,
            "p50_ms": percentile(counted, 50),
            "p99_ms": percentile(counted, 99),
            "max_ms": round(max(self.latencies_ms), 2) if self.latencies_ms else None,
        }


QUIET_MS = 50.0
QUIET_LIMIT_S = 30.0


def api_gauges(base_url: str, process: str) -> dict[str, float]:
    """The API's admission figures from its /metrics (never shed): ``in_flight`` and
    ``shed_total`` (503 Overloaded so far). ``process``: ``command_api`` or ``query_api``."""
    names = {f"orders_{process}_requests_in_flight": "in_flight",
             f"orders_{process}_requests_shed_total": "shed_total"}  # fmt: skip
    found: dict[str, float] = {}
    url = base_url.rstrip("/") + "/metrics"
    with urllib.request.urlopen(url, timeout=TIMEOUT_S) as response:  # noqa: S310
        for line in response.read().decode().splitlines():
            name, _, value = line.partition(" ")
            if name in names:
                found[names[name]] = float(value)
    return found


def shed_total(base_url: str, process: str) -> float | None:
    """The API's 503 Overloaded count so far (None if it cannot be read)."""
    try:
        return api_gauges(base_url, process).get("shed_total")
    except OSError:
        return None


def wait_quiet(base_url: str, process: str, limit_s: float = QUIET_LIMIT_S) -> float:
    """Until the API has no request in flight and answers /healthz within ``QUIET_MS``
    (bounded by ``limit_s``), so that one run's backlog does not weigh on the next one's
    figures; returns the seconds waited. ``process``: ``command_api`` or ``query_api``."""
    base_url = base_url.rstrip("/")
    started = time.monotonic()
    while time.monotonic() - started < limit_s:
        try:
            t0 = time.perf_counter()
            with urllib.request.urlopen(base_url + "/healthz", timeout=TIMEOUT_S) as response:  # noqa: S310
                response.read()
            fast = (time.perf_counter() - t0) * 1000 <= QUIET_MS
            if fast and api_gauges(base_url, process).get("in_flight") == 0:
                break
        except OSError:
            pass
        time.sleep(0.2)
    return round(time.monotonic() - started, 2)
