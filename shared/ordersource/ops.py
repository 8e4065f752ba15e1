"""A process's ops listener: /healthz, /readyz and /metrics on a port of their own, served
by a thread of the standard library's threaded HTTP server.

The decider (a process of threads with no event loop) serves its probes this way. Each
HTTP API also opens one beside its main port: under overload the API's event loop is busy
with the requests it admits and the ones it refuses, and a probe on the main port waits
in line with them. A thread needs only the GIL, which the loop hands over every millisecond
(``OPS_SWITCH_INTERVAL_S``), so the ops port answers within milliseconds however loaded the API is.
Its /healthz is a real liveness check all the same: it asks ``alive()`` (for an API:
has the event loop run a timer in the last seconds).
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import AsyncIterator, Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from ordersource import codec
from ordersource.admission import LoopLag
from ordersource.readiness import Readiness

NOT_FOUND = b'{"status":404,"title":"Not Found"}'
OPS_SWITCH_INTERVAL_S = 0.001
"""The GIL hand-over interval of an API process with an ops listener (CPython's default:
5 ms). A probe takes the GIL a dozen times (wake, accept, its thread, each read and
write), each time waiting for the saturated event loop to hand it over; at 5 ms a wait
the probe's p99 under overload was 70-120 ms. While the ops thread sleeps in ``select``
nobody asks for the GIL, so the shorter interval costs the event loop nothing then."""


def serve_ops(
    host: str,
    port: int,
    registry: CollectorRegistry,
    readiness: Callable[[], Readiness] | None = None,
    alive: Callable[[], bool] = lambda: True,
) -> ThreadingHTTPServer:
    """Start the listener on its own thread; ``server.shutdown()`` stops it.

    ``readiness()`` gives /readyz's answer (``ordersource.readiness``: one shape for every
    process); without it /readyz is not served here (an API answers it on its main port,
    where its checks run). ``alive()``: /healthz says 200 while it is true, else 503.
    """

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/healthz":
                if alive():
                    self._send(200, b'{"status":"ok"}', "application/json")
                else:
                    self._send(503, b'{"status":"stalled"}', "application/json")
            elif self.path == "/readyz" and readiness is not None:
                ready = readiness()
                self._send(ready.http_status, codec.dumps(ready.body()), "application/json")
            elif self.path == "/metrics":
                self._send(200, generate_latest(registry), CONTENT_TYPE_LATEST)
            else:
                self._send(404, NOT_FOUND, "application/problem+json")

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # health probes would drown the log

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="ops-http", daemon=True).start()
    return server


@contextlib.asynccontextmanager
async def api_ops(
    host: str, port: int, registry: CollectorRegistry, lag: LoopLag
) -> AsyncIterator[None]:
    """For an HTTP API's lifespan: its event loop's lag monitor (shared with admission
    control) and its ops listener (``port`` 0: none), whose /healthz is the loop's
    liveness (``LoopLag.alive``)."""
    lag.start()
    server = serve_ops(host, port, registry, alive=lag.alive) if port else None
    switch = sys.getswitchinterval()
    if server is not None:
        sys.setswitchinterval(OPS_SWITCH_INTERVAL_S)
    try:
        yield
    finally:
        sys.setswitchinterval(switch)
        if server is not None:
            server.shutdown()
            server.server_close()
        await lag.stop()
