"""Admission control (load shedding) for the HTTP APIs: at most ``limit`` requests in
flight per process; the next one gets 503 Overloaded at once, with ``Retry-After``.

Under open-loop overload (clients that keep sending whatever the answers) a server that
admits everything only queues: every request waits longer, until clients time out and
retry, adding load. Refusing the excess at once keeps the admitted requests fast and
tells the rest when to come back. Health and metrics paths are never refused and not
counted, so a loaded process still answers its probes and scrapes.

A pure ASGI middleware (no BaseHTTPMiddleware): it must cost next to nothing per request.
The count is per process and needs no lock: one event loop, one thread.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ordersource.web import problem_response

if TYPE_CHECKING:
    from prometheus_client import Counter, Gauge
    from starlette.types import ASGIApp, Receive, Scope, Send

HEALTH_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
"""Never refused, not counted: probes and scrapes must get through a full process."""


class Admission:
    """Refuses an HTTP request with 503 while ``limit`` others are in flight.

    ``exempt`` paths pass untouched (and uncounted); lifespan and websocket scopes too.
    A request stops counting when the app returns, raises, or the client goes away.
    ``note`` is appended to the 503's detail (e.g. what a refusal means for a command).
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
    ) -> None:
        if limit < 1 or retry_after_s < 1:
            raise ValueError("limit and retry_after_s must be at least 1")
        self.app = app
        self.limit = limit
        self.exempt = exempt
        self.shed_counter = shed_counter
        self.in_flight_gauge = in_flight_gauge
        self.in_flight = 0
        detail = f"more than {limit} requests in flight; retry after {retry_after_s} s"
        # Built once: a refusal only sends these bytes (its headers copied per answer).
        self._refusal = problem_response(
            503,
            "Overloaded",
            f"{detail} {note}".strip(),
            {"Retry-After": str(retry_after_s)},
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.exempt:
            await self.app(scope, receive, send)
            return
        if self.in_flight >= self.limit:
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
