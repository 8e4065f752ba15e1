"""A process's ops listener: /healthz, /readyz and /metrics on a port of their own.

``serve_ops``: served by a thread of the standard library's threaded HTTP server. The
decider (a process of threads with no event loop) serves its probes this way.

``api_ops``: each HTTP API also opens an ops port beside its main port: under overload
the API's event loop is busy with the requests it admits and the ones it refuses, and a
probe on the main port waits in line with them. That port is served by a small process
of its own (``HealthAgent``, ``ordersource.healthagent``), not by a thread: a thread
needs the GIL, which a saturated loop holds nearly all the time (p99 93 ms against
8.8 ms for a process, measured at 3x command overload). Its /healthz is a real liveness
check all the same: the API's event loop writes a heartbeat to it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable
from http.server import ThreadingHTTPServer

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from ordersource import codec
from ordersource.admission import STALLED_AFTER_S, LoopLag
from ordersource.healthagent import NOT_FOUND, ProbeHandler
from ordersource.readiness import Readiness

HEARTBEAT_S = 0.1
"""How often an API's event loop tells its ops agent it is running."""
REVIVE_BACKOFF_S = 1.0
log = logging.getLogger(__name__)


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

    class Handler(ProbeHandler):
        def do_GET(self) -> None:
            if self.path == "/healthz":
                if alive():
                    self.answer(200, b'{"status":"ok"}', "application/json")
                else:
                    self.answer(503, b'{"status":"stalled"}', "application/json")
            elif self.path == "/readyz" and readiness is not None:
                ready = readiness()
                self.answer(ready.http_status, codec.dumps(ready.body()), "application/json")
            elif self.path == "/metrics":
                self.answer(200, generate_latest(registry), CONTENT_TYPE_LATEST)
            else:
                self.answer(404, NOT_FOUND, "application/problem+json")

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="ops-http", daemon=True).start()
    return server


class HealthAgent:
    """An API's ops port, served by a process of its own (``ordersource.healthagent``; why
    a process: see there). The API binds the port and hands the socket over; a task on
    the API's event loop writes the heartbeat; the agent relays /metrics from the
    API's internal listener on the loopback ``metrics_port``. An agent that dies is
    started again (``revive``)."""

    def __init__(
        self, host: str, port: int, metrics_port: int, stalled_after_s: float = STALLED_AFTER_S
    ) -> None:
        self.listening = socket.create_server((host, port))
        self.metrics_port, self.stalled_after_s = metrics_port, stalled_after_s
        self.process: subprocess.Popen[bytes] | None = None
        self._write = -1
        self.starts = 0

    def start(self) -> None:
        """Start the agent (raises OSError if it cannot: no pipe, no fork)."""
        read, write = os.pipe()
        try:
            os.set_blocking(write, False)
            fds = (self.listening.fileno(), read)
            self.process = subprocess.Popen(
                [sys.executable, "-m", "ordersource.healthagent",
                 "--listen-fd", str(fds[0]), "--heartbeat-fd", str(read),
                 "--metrics-port", str(self.metrics_port),
                 "--stalled-after", str(self.stalled_after_s)],
                pass_fds=fds,
            )  # fmt: skip
        except BaseException:
            os.close(write)
            raise
        finally:
            os.close(read)
        self._write = write
        self.starts += 1

    def beat(self) -> None:
        """Tell the agent the event loop is running (never blocks: a full pipe is fine)."""
        if self._write >= 0:
            with contextlib.suppress(BlockingIOError, BrokenPipeError):
                os.write(self._write, b".")

    def revive(self) -> bool:
        """Start the agent again if it died; True if it had to."""
        if self.process is not None and self.process.poll() is None:
            return False
        if self.process is not None:
            code = self.process.returncode
            log.warning("ops agent exited with %s; starting it again", code)
        self._close_heartbeat()
        self.process = None
        self.start()
        return True

    def _close_heartbeat(self) -> None:
        if self._write >= 0:
            os.close(self._write)
            self._write = -1

    def stop(self, timeout_s: float = 3.0) -> None:
        """Close the heartbeat (the agent exits on its end-of-file), then the socket."""
        self._close_heartbeat()
        if self.process is not None:
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.listening.close()


@contextlib.asynccontextmanager
async def api_ops(
    host: str,
    port: int,
    registry: CollectorRegistry,
    lag: LoopLag,
    *,
    stalled_after_s: float = STALLED_AFTER_S,
) -> AsyncIterator[HealthAgent | None]:
    """For an HTTP API's lifespan: its event loop's lag monitor (shared with admission
    control) and its ops port (``port`` 0: none), served by a ``HealthAgent`` (yielded)
    whose /healthz is the loop's liveness (the heartbeat a task of this loop writes;
    503 after ``stalled_after_s`` without one) and whose /metrics relays this process's
    ``registry`` (served on a loopback port by a thread)."""
    async with contextlib.AsyncExitStack() as stack:
        lag.start()
        stack.push_async_callback(lag.stop)
        if not port:
            yield None
            return
        internal = serve_ops("127.0.0.1", 0, registry, alive=lag.alive)
        stack.callback(internal.server_close)
        stack.callback(internal.shutdown)
        agent = HealthAgent(host, port, internal.server_address[1], stalled_after_s)
        stack.push_async_callback(asyncio.to_thread, agent.stop)
        agent.start()
        beating = asyncio.get_running_loop().create_task(_heartbeat(agent), name="ops-heartbeat")
        stack.push_async_callback(_cancel, beating)
        yield agent


async def _cancel(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _heartbeat(agent: HealthAgent) -> None:
    """Beat every ``HEARTBEAT_S``; start the agent again if it died (at most once per
    ``REVIVE_BACKOFF_S``). Never ends but by cancellation: a failure is logged and the
    beating goes on."""
    revive_after = 0.0
    while True:
        agent.beat()
        now = time.monotonic()
        if now >= revive_after:
            try:
                if agent.revive():
                    revive_after = now + REVIVE_BACKOFF_S  # one that keeps dying: not a loop
            except Exception:
                log.exception("cannot start the ops agent; trying again")
                revive_after = now + REVIVE_BACKOFF_S
        await asyncio.sleep(HEARTBEAT_S)
