"""``python -m ordersource.healthagent``: an HTTP API's ops port, served by a small process
of its own (started by ``ordersource.ops.api_ops``; standard library only, so it starts
in a few tens of milliseconds and holds about 20 MiB).

Why a process and not a thread of the API: under overload the API's event loop holds the
GIL nearly all the time, and on a machine whose cores are all busy the operating system
also deschedules the loop's thread *while it holds the GIL*. A thread answering probes
then waits, a dozen times per probe, for a GIL holder that is not even running: measured
on the 2-core machine at 3x command overload, /healthz from a thread of the command API
had p99 93 ms, from a process beside it 8.8 ms.

It is still a liveness check of the API, not of itself:

- ``/healthz``: 200 while the API's event loop keeps writing to the heartbeat pipe (a
  task on that loop writes a byte every ``ops.HEARTBEAT_S``), 503 ``stalled`` once it has
  written nothing for ``--stalled-after`` seconds.
- ``/metrics``: the API's own registry, fetched from the API's internal metrics listener
  (a thread on the loopback port ``--metrics-port``) and relayed; 503 if the API does
  not answer in time.
- When the API process dies, even by SIGKILL, the pipe's write end closes: the agent
  sees end-of-file and exits at once, freeing the port for the API's restart. That is
  the only way it stops (SIGINT and SIGTERM are ignored; SIGKILL still works).

The listening socket is bound by the API (so a port in use fails the API's start-up, as
before) and handed over as an inherited file descriptor.
"""

from __future__ import annotations

import argparse
import http.client
import os
import signal
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

NOT_FOUND = b'{"status":404,"title":"Not Found"}'
METRICS_TIMEOUT_S = 5.0


class ProbeHandler(BaseHTTPRequestHandler):
    """The ops listeners' handler base (the agent's and ``ordersource.ops.serve_ops``):
    each reply whole in one ``answer``, and no access log (probes would drown it). A
    connection that sends nothing is dropped after ``timeout`` seconds (each holds a
    thread)."""

    timeout = 5

    def answer(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class Heartbeat:
    """When the API last wrote to the pipe; ``gone`` once its write end closed."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.last = time.monotonic()
        self.gone = threading.Event()

    def follow(self) -> None:
        """Read the pipe until end-of-file (run on a thread)."""
        while True:
            try:
                data = os.read(self.fd, 4096)
            except InterruptedError:
                continue
            except OSError:
                break
            if not data:
                break
            self.last = time.monotonic()
        self.gone.set()

    def age(self) -> float:
        return time.monotonic() - self.last


def scrape(port: int) -> tuple[bytes, str]:
    """The API's /metrics from its internal listener on this loopback ``port``."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=METRICS_TIMEOUT_S)
    try:
        connection.request("GET", "/metrics")
        got = connection.getresponse()
        if got.status != 200:
            raise http.client.HTTPException(f"status {got.status}")
        return got.read(), got.getheader("Content-Type", "text/plain")
    finally:
        connection.close()


def make_server(
    listening: socket.socket, heartbeat: Heartbeat, metrics_port: int, stalled_after_s: float
) -> ThreadingHTTPServer:
    class Handler(ProbeHandler):
        def do_GET(self) -> None:
            if self.path == "/healthz":
                if heartbeat.age() < stalled_after_s:
                    self.answer(200, b'{"status":"ok"}', "application/json")
                else:
                    self.answer(503, b'{"status":"stalled"}', "application/json")
            elif self.path == "/metrics":
                try:
                    body, kind = scrape(metrics_port)
                except (OSError, http.client.HTTPException):
                    self.answer(503, b'{"status":"metrics unavailable"}', "application/json")
                    return
                self.answer(200, body, kind)
            else:
                self.answer(404, NOT_FOUND, "application/problem+json")

    server = ThreadingHTTPServer(listening.getsockname()[:2], Handler, bind_and_activate=False)
    server.socket.close()
    server.socket = listening
    server.daemon_threads = True
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen-fd", type=int, required=True)
    parser.add_argument("--heartbeat-fd", type=int, required=True)
    parser.add_argument("--metrics-port", type=int, required=True)
    parser.add_argument("--stalled-after", type=float, required=True)
    args = parser.parse_args()
    # A signal to the whole process group (Ctrl-C, a supervisor's SIGTERM) is the API's to
    # act on: the agent goes when the API closes the heartbeat, so it never dies before
    # the API and is never started again during the API's shutdown.
    for stop in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop, signal.SIG_IGN)
    listening = socket.socket(fileno=args.listen_fd)
    heartbeat = Heartbeat(args.heartbeat_fd)
    server = make_server(listening, heartbeat, args.metrics_port, args.stalled_after)
    threading.Thread(target=server.serve_forever, name="ops-http", daemon=True).start()
    heartbeat.follow()  # until the API is gone (or closed the pipe to stop us)
    # Free the port at once (a restarted API binds it next); nothing else needs cleaning
    # up, and serve_forever's shutdown would take up to its 0.5 s poll.
    listening.close()
    os._exit(0)


if __name__ == "__main__":
    main()
