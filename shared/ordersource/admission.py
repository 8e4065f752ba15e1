"""Admission control (load shedding) for the HTTP APIs: at most ``limit`` requests in
flight per process; the next one gets 503 Overloaded at once, with ``Retry-After``.

Under open-loop overload (clients that keep sending whatever the answers) a server that
admits everything only queues: every request waits longer, until clients time out and
retry, adding load. Refusing the excess at once keeps the admitted requests fast and
tells the rest when to come back. Health and metrics paths are never refused and not
counted, so a loaded process still answers its probes and scrapes.

A bound on requests in flight alone does not protect a process whose CPU is the
bottleneck: when admitted requests finish quickly, the bound is never reached while the
event loop falls behind, requests wait unread in socket buffers and even /healthz times
out. So admission also watches the event loop's standing lag (how late a 20 ms timer
fires, at best, over the last 200 ms): while it is over ``max_lag_s``, new requests
beyond ``MIN_ADMITTED`` in flight are refused too, which takes the excess off the loop
until it is on time again.

A pure ASGI middleware (no BaseHTTPMiddleware): it must cost next to nothing per request.
The count is per process and needs no lock: one event loop, one thread. The lag monitor
runs from the first request to the lifespan's shutdown.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from typing import TYPE_CHECKING

from ordersource.metrics import RequestMetrics, request_seconds, requests_in_flight, requests_shed
from ordersource.web import problem_response

if TYPE_CHECKING:
    from fastapi import FastAPI
    from prometheus_client import CollectorRegistry, Counter, Gauge
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEALTH_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
"""Never refused, not counted: probes and scrapes must get through a full process."""
MIN_ADMITTED = 64
"""Requests always admitted, however late the loop: the process keeps making progress,
and a loop that lags for another reason (the machine busy with other processes) does not
starve a pipeline whose bottleneck is elsewhere."""
LAG_INTERVAL_S = 0.02
LAG_WINDOW_S = 0.2
STALLED_AFTER_S = 10.0
"""An event loop that ran no timer for this long is stalled: the ops /healthz says 503."""


class LoopLag:
    """How late the event loop runs a timer due every ``interval_s``: the work queued ahead
    of anything new. ``lag_s`` is the *standing* lag, the least lateness over the last
    ``window_s`` (as CoDel judges a queue): one late tick (a GC pause, the OS running
    another process for a moment, a burst of requests parsed at once) does not count, a
    loop that stays behind does; so does a tick overdue by more than the window."""

    def __init__(self, interval_s: float = LAG_INTERVAL_S, window_s: float = LAG_WINDOW_S) -> None:
        self.interval_s, self.window_s = interval_s, window_s
        self.samples: deque[tuple[float, float]] = deque()  # (when, how late)
        self._due: float | None = None
        self._task: asyncio.Task[None] | None = None
        self.last_tick: float | None = None
        """``time.monotonic()`` of the last tick (read from other threads)."""

    def alive(self, stalled_after_s: float = STALLED_AFTER_S) -> bool:
        """The loop ran a timer in the last ``stalled_after_s`` (any thread may ask)."""
        return self.last_tick is None or time.monotonic() - self.last_tick < stalled_after_s

    @property
    def lag_s(self) -> float:
        if self._due is None:
            return 0.0
        now = asyncio.get_running_loop().time()
        while self.samples and self.samples[0][0] < now - self.window_s:
            self.samples.popleft()
        standing = min((late for _, late in self.samples), default=0.0)
        overdue = now - self._due  # no tick for a whole window: as late as it is
        return max(standing, overdue if overdue > self.window_s else 0.0)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="loop-lag")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
            self._due = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            self._due = loop.time() + self.interval_s
            await asyncio.sleep(self.interval_s)
            now = loop.time()
            self.samples.append((now, max(0.0, now - self._due)))
            while self.samples[0][0] < now - self.window_s:
                self.samples.popleft()  # bounded: a window's worth of ticks
            self.last_tick = time.monotonic()


class Admission:
    """Refuses an HTTP request with 503 while ``limit`` others are in flight.

    ``exempt`` paths pass untouched (and uncounted); lifespan and websocket scopes too.
    A request stops counting when the app returns, raises, or the client goes away.
    ``note`` is appended to the 503's detail (e.g. what a refusal means for a command).
    ``max_lag_s``: also refuse (beyond ``MIN_ADMITTED`` in flight) while the event loop
    runs later than this (measured by ``lag``, which the app may share with its ops
    listener's liveness check); None: the in-flight bound only.
    """

    def __init__(
        self,
        app: ASGIApp,
        limit: int,
        retry_after_s: int,
        exempt: frozenset[str],
        shed_counter: Counter,
        in_flight_gauge: Gauge,
        note: str = "",
        max_lag_s: float | None = None,
        lag: LoopLag | None = None,
    ) -> None:
        if limit < 1 or retry_after_s < 1:
            raise ValueError("limit and retry_after_s must be at least 1")
        self.app = app
        self.limit = limit
        self.exempt = exempt
        self.shed_counter = shed_counter
        self.in_flight_gauge = in_flight_gauge
        self.in_flight = 0
        self.max_lag_s = max_lag_s
        self.lag = lag or LoopLag()
        detail = f"too many requests in flight; retry after {retry_after_s} s"
        # Built once: a refusal only sends these bytes (its headers copied per answer).
        self._refusal = problem_response(
            503,
            "Overloaded",
            f"{detail} {note}".strip(),
            {"Retry-After": str(retry_after_s)},
        )

    def overloaded(self) -> bool:
        if self.in_flight >= self.limit:
            return True
        return (
            self.max_lag_s is not None
            and self.in_flight >= MIN_ADMITTED
            and self.lag.lag_s > self.max_lag_s
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan" and self.max_lag_s is not None:
            await self.app(scope, self._watch_shutdown(receive), send)
            return
        if scope["type"] != "http" or scope["path"] in self.exempt:
            await self.app(scope, receive, send)
            return
        if self.max_lag_s is not None:
            self.lag.start()
        if self.overloaded():
            self.shed_counter.inc()
            await send(
                {
                    "type": "http.response.start",
                    "status": 503,
                    "headers": list(self._refusal.raw_headers),
                }
            )
            await send({"type": "http.response.body", "body": self._refusal.body})
            return
        self.in_flight += 1
        self.in_flight_gauge.inc()
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1
            self.in_flight_gauge.dec()

    def _watch_shutdown(self, receive: Receive) -> Receive:
        async def watched() -> Message:
            message = await receive()
            if message["type"] == "lifespan.shutdown":
                await self.lag.stop()
            return message

        return watched


def install(
    app: FastAPI,
    registry: CollectorRegistry,
    service: str,
    *,
    limit: int,
    retry_after_s: int,
    max_lag_s: float,
    note: str = "",
) -> LoopLag:
    """Admission control for an API (``service``: its metrics name), outside everything
    added before and inside ``RequestMetrics`` (added here last, so outermost: the 503
    Overloaded answers are measured too). Returns the loop's lag monitor, for the ops
    listener's liveness check (``ordersource.ops.api_ops``)."""
    lag = LoopLag()
    app.add_middleware(
        Admission,
        limit=limit,
        retry_after_s=retry_after_s,
        exempt=HEALTH_PATHS,
        shed_counter=requests_shed(registry, service),
        in_flight_gauge=requests_in_flight(registry, service),
        max_lag_s=max_lag_s,
        lag=lag,
        note=note,
    )
    app.add_middleware(RequestMetrics, seconds=request_seconds(registry, service))
    return lag
