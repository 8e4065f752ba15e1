"""The decider's own small HTTP server: /healthz, /readyz and /metrics.

The standard library's threaded server, on purpose: the decider is a process of threads
with no event loop, and three GET routes that answer from memory do not need an ASGI
server. /readyz has the body every process has (``ordersource.readiness``)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from command_service.decider.metrics import REGISTRY
from ordersource import codec
from ordersource.readiness import Readiness


def serve_ops(host: str, port: int, readiness: Callable[[], Readiness]) -> ThreadingHTTPServer:
    """``readiness()`` gives /readyz's answer (``ordersource.readiness``: one shape for
    every process)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/healthz":
                self._send(200, b'{"status":"ok"}', "application/json")
            elif self.path == "/readyz":
                ready = readiness()
                self._send(ready.http_status, codec.dumps(ready.body()), "application/json")
            elif self.path == "/metrics":
                self._send(200, generate_latest(REGISTRY), CONTENT_TYPE_LATEST)
            else:
                self._send(404, b'{"status":404,"title":"Not Found"}', "application/problem+json")

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass  # health probes would drown the log

    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, name="ops-http", daemon=True).start()
    return server
