"""An HTTP API's ops port is a process of its own (``ordersource.ops.HealthAgent``): its
/healthz follows the API's heartbeat, its /metrics relays the API's registry, it is
started again when it dies, and it goes away with the API — even after a SIGKILL, so the
port is free for the API's restart."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client import CollectorRegistry, Counter

from ordersource.admission import LoopLag
from ordersource.ops import HealthAgent, api_ops, serve_ops
from tests.support.net import free_port
from tests.support.waiting import wait_until

pytestmark = pytest.mark.component


def status(url: str) -> int | None:
    try:
        return httpx.get(url, timeout=2).status_code
    except httpx.HTTPError:
        return None


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # a zombie of ours counts as gone: it no longer holds the port
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().split()[2] == "Z"


@pytest.fixture
def internal() -> Iterator[int]:
    """The API side's internal metrics listener (loopback, port 0), with one counter."""
    registry = CollectorRegistry()
    Counter("orders_probe_marker", "a sample only this registry has", registry=registry).inc()
    server = serve_ops("127.0.0.1", 0, registry)
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


def test_healthz_follows_the_heartbeat_and_metrics_are_relayed(internal: int) -> None:
    port = free_port()
    agent = HealthAgent("127.0.0.1", port, internal, stalled_after_s=0.5)
    agent.start()
    url = f"http://127.0.0.1:{port}"
    try:
        agent.beat()
        wait_until(lambda: status(f"{url}/healthz") == 200, 10, message="agent not serving")
        assert httpx.get(f"{url}/healthz").json() == {"status": "ok"}
        assert "orders_probe_marker_total 1.0" in httpx.get(f"{url}/metrics").text
        assert status(f"{url}/readyz") == 404  # the API's main port answers readiness

        # No heartbeat for longer than stalled_after: the loop counts as stalled.
        wait_until(lambda: status(f"{url}/healthz") == 503, 5, message="never stalled")
        assert httpx.get(f"{url}/healthz").json() == {"status": "stalled"}
        agent.beat()
        wait_until(lambda: status(f"{url}/healthz") == 200, 5, message="beat not seen")

        # An agent that dies is started again, on the same socket.
        assert agent.process is not None
        agent.process.kill()
        agent.process.wait(5)
        assert agent.revive()
        agent.beat()
        wait_until(lambda: status(f"{url}/healthz") == 200, 10, message="not revived")
        assert agent.starts == 2
        assert not agent.revive()  # alive: nothing to do
    finally:
        agent.stop()
    assert agent.process is not None
    assert agent.process.returncode is not None
    assert status(f"{url}/healthz") is None  # the port is closed


def test_the_agent_exits_when_its_api_is_killed(internal: int) -> None:
    port = free_port()
    parent = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(f"""
            import time
            from ordersource.ops import HealthAgent
            agent = HealthAgent("127.0.0.1", {port}, {internal})
            agent.start()
            print(agent.process.pid, flush=True)
            time.sleep(120)
        """)],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert parent.stdout is not None
        agent_pid = int(parent.stdout.readline())
        wait_until(lambda: status(f"http://127.0.0.1:{port}/healthz") == 200, 10)
        parent.send_signal(signal.SIGKILL)
        parent.wait(5)
        wait_until(lambda: gone(agent_pid), 5, message="the agent outlived its API")
        wait_until(lambda: status(f"http://127.0.0.1:{port}/healthz") is None, 5)
    finally:
        parent.kill()
        parent.wait(5)


def test_api_ops_beats_from_the_event_loop_and_revives_its_agent() -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/healthz"

    async def scenario() -> None:
        registry = CollectorRegistry()
        async with api_ops("127.0.0.1", port, registry, LoopLag(), stalled_after_s=0.5) as agent:
            assert agent is not None
            await asyncio.to_thread(wait_until, lambda: status(url) == 200, 10)

            # The event loop stalls: no heartbeat, and the agent says so (seen from a
            # thread while the loop is blocked until it has seen it).
            seen: list[bool] = []

            def probe() -> None:
                try:
                    seen.append(wait_until(lambda: status(url) == 503, 5))
                except AssertionError:
                    seen.append(False)

            prober = threading.Thread(target=probe)
            prober.start()
            deadline = time.monotonic() + 6
            while not seen and time.monotonic() < deadline:
                time.sleep(0.05)  # noqa: ASYNC251 - the loop stalls: that is the fault
            prober.join(5)
            assert seen == [True]
            await asyncio.to_thread(wait_until, lambda: status(url) == 200, 5)  # beating again

            # The agent dies: the heartbeat task starts it again.
            assert agent.process is not None
            agent.process.kill()
            await asyncio.to_thread(
                wait_until, lambda: agent.starts == 2 and status(url) == 200, 10
            )
        assert status(url) is None  # stopped with the lifespan: the port is closed

    asyncio.run(scenario())
