"""What every process shares for Prometheus: one registry per process and the HTTP APIs'
request metrics (latency, admission control).

Every metric of ours is named ``orders_<process>_<what>_<unit>`` (process: ``decider``,
``projector``, ``command_api``, ``query_api``). Each process serves one registry of its own
(``process_registry()``): its ``orders_`` metrics plus the standard ``process_*`` and
``python_*`` collectors of prometheus_client, nothing else. docs/metrics.md lists them all.

Imports prometheus_client only (Starlette just for type names), so that the projector and
the decider can use it without FastAPI.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
)

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUEST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.5, 1, 5, 10)


def process_registry() -> CollectorRegistry:
    """A new registry with the standard process, platform and GC collectors in it."""
    registry = CollectorRegistry()
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    GCCollector(registry=registry)
    return registry


def _api(process: str) -> str:
    return process.removesuffix("_api").replace("_", " ").capitalize()


def request_seconds(registry: CollectorRegistry, process: str) -> Histogram:
    """The request-latency histogram of one HTTP API (``command_api`` or ``query_api``)."""
    api = _api(process)
    return Histogram(
        f"orders_{process}_request_seconds",
        f"{api} API request latency by route template and status",
        ["route", "status"],
        registry=registry,
        buckets=REQUEST_BUCKETS,
    )


def requests_shed(registry: CollectorRegistry, process: str) -> Counter:
    """Requests one HTTP API refused at once with 503 (``ordersource.admission``)."""
    return Counter(
        f"orders_{process}_requests_shed_total",
        f"{_api(process)} API requests refused with 503 Overloaded because the limit of "
        "requests in flight was reached (admission control)",
        registry=registry,
    )


def requests_in_flight(registry: CollectorRegistry, process: str) -> Gauge:
    """HTTP requests one API is working on right now (health and metrics not counted)."""
    return Gauge(
        f"orders_{process}_requests_in_flight",
        f"{_api(process)} API requests being handled right now (admission control; "
        "/healthz, /readyz and /metrics not counted)",
        registry=registry,
    )


class RequestMetrics:
    """Plain ASGI middleware observing ``seconds`` per request (much cheaper on the hot path
    than Starlette's BaseHTTPMiddleware). ``route`` is the matched route's path template
    (bounded cardinality), ``unmatched`` if none matched; ``status`` the response status,
    500 if the app raised before answering."""

    def __init__(self, app: ASGIApp, seconds: Histogram) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start, status = time.perf_counter(), 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            route: Any = scope.get("route")
            name = getattr(route, "path", "unmatched")
            self.seconds.labels(name, str(status)).observe(time.perf_counter() - start)
