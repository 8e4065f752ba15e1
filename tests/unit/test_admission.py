"""Admission control (``ordersource.admission``) around a tiny ASGI app whose handler waits
for the test: the request over the limit is refused at once (503, Retry-After, a problem
document), health paths still pass, a freed slot admits again, and the in-flight count
comes back down however a request ends. Both API apps install it in the right place."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import httpx
import pytest
from prometheus_client import CollectorRegistry
from starlette.types import Message, Receive, Scope, Send

from command_service.api.app import create_app as command_app
from ordersource.admission import HEALTH_PATHS, MIN_ADMITTED, Admission, LoopLag
from ordersource.limits import BodyGuard
from ordersource.metrics import RequestMetrics, requests_in_flight, requests_shed
from ordersource.ops import serve_ops
from ordersource.settings import Settings
from query_service.app import create_app as query_app
from query_service.memory import InMemoryViewStore

pytestmark = pytest.mark.unit

DEADLINE_S = 5.0
SHED = "orders_command_api_requests_shed_total"
IN_FLIGHT = "orders_command_api_requests_in_flight"


class Handler:
    """``/block/<name>`` signals that it is in, then waits until released; ``/boom`` raises;
    anything else answers 200 at once."""

    def __init__(self) -> None:
        self.entered: dict[str, asyncio.Event] = {}
        self.release = asyncio.Event()

    def arrived(self, name: str) -> asyncio.Event:
        return self.entered.setdefault(name, asyncio.Event())

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "http"
        path: str = scope["path"]
        if path == "/boom":
            raise RuntimeError("the handler failed")
        if path.startswith("/block/"):
            self.arrived(path.removeprefix("/block/")).set()
            await self.release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


class Stack:
    def __init__(
        self, limit: int = 2, retry_after_s: int = 3, max_lag_s: float | None = None
    ) -> None:
        self.registry = CollectorRegistry()
        self.handler = Handler()
        self.admission = Admission(
            self.handler,
            limit=limit,
            retry_after_s=retry_after_s,
            exempt=HEALTH_PATHS,
            shed_counter=requests_shed(self.registry, "command_api"),
            in_flight_gauge=requests_in_flight(self.registry, "command_api"),
            note="Not taken.",
            max_lag_s=max_lag_s,
        )
        self.client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.admission), base_url="http://test"
        )

    def value(self, name: str) -> float | None:
        return self.registry.get_sample_value(name)

    async def blocked(self, name: str) -> asyncio.Task[httpx.Response]:
        """A request that is in flight (inside the handler) when this returns."""
        task = asyncio.create_task(self.client.get(f"/block/{name}"))
        await asyncio.wait_for(self.handler.arrived(name).wait(), DEADLINE_S)
        return task


def run(scenario: Callable[[Stack], Awaitable[None]], **kwargs: float) -> None:
    async def main() -> None:
        stack = Stack(**kwargs)  # type: ignore[arg-type]
        async with stack.client:
            await scenario(stack)

    asyncio.run(main())


def test_over_the_limit_is_refused_at_once_and_health_still_answers() -> None:
    async def scenario(stack: Stack) -> None:
        first, second = await stack.blocked("1"), await stack.blocked("2")
        assert stack.value(IN_FLIGHT) == 2

        refused = await asyncio.wait_for(stack.client.post("/orders", json={}), DEADLINE_S)
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "3"
        assert refused.headers["content-type"] == "application/problem+json"
        body = refused.json()
        assert body["status"] == 503
        assert body["title"] == "Overloaded"
        assert body["type"] == "/problems/overloaded"
        assert "retry after 3 s" in body["detail"]
        assert body["detail"].endswith("Not taken.")
        assert stack.value(SHED) == 1
        assert stack.value(IN_FLIGHT) == 2  # the refusal was never counted in

        for path in sorted(HEALTH_PATHS):  # exempt: through while full, and not counted
            assert (await asyncio.wait_for(stack.client.get(path), DEADLINE_S)).status_code == 200
        assert stack.value(SHED) == 1

        stack.handler.release.set()
        assert (await asyncio.wait_for(first, DEADLINE_S)).status_code == 200
        assert (await asyncio.wait_for(second, DEADLINE_S)).status_code == 200
        assert stack.value(IN_FLIGHT) == 0
        assert stack.admission.in_flight == 0

        again = await asyncio.wait_for(stack.client.get("/orders/o1"), DEADLINE_S)
        assert again.status_code == 200
        assert stack.value(SHED) == 1

    run(scenario)


def test_a_freed_slot_admits_the_next_request() -> None:
    async def scenario(stack: Stack) -> None:
        first = await stack.blocked("1")
        assert (await stack.client.get("/x")).status_code == 503
        first.cancel()  # the client goes away: its request stops counting
        with pytest.raises(asyncio.CancelledError):
            await first
        assert stack.admission.in_flight == 0
        assert stack.value(IN_FLIGHT) == 0
        assert (await stack.client.get("/x")).status_code == 200
        assert stack.value(SHED) == 1

    run(scenario, limit=1)


def test_the_in_flight_count_comes_back_down_when_the_handler_raises() -> None:
    async def scenario(stack: Stack) -> None:
        with pytest.raises(RuntimeError, match="the handler failed"):
            await stack.client.get("/boom")
        assert stack.admission.in_flight == 0
        assert stack.value(IN_FLIGHT) == 0
        assert (await stack.client.get("/x")).status_code == 200
        assert stack.value(SHED) == 0

    run(scenario, limit=1)


def test_lifespan_and_websocket_scopes_pass_uncounted() -> None:
    seen: list[str] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        seen.append(scope["type"])

    async def receive() -> Message:
        return {"type": "lifespan.startup"}

    async def send(message: Message) -> None:
        raise AssertionError("nothing is sent")

    registry = CollectorRegistry()
    admission = Admission(
        app,
        limit=1,
        retry_after_s=1,
        exempt=HEALTH_PATHS,
        shed_counter=requests_shed(registry, "query_api"),
        in_flight_gauge=requests_in_flight(registry, "query_api"),
    )

    async def main() -> None:
        await admission({"type": "lifespan"}, receive, send)
        await admission({"type": "websocket", "path": "/ws"}, receive, send)
        await admission({"type": "websocket", "path": "/ws"}, receive, send)

    asyncio.run(main())
    assert seen == ["lifespan", "websocket", "websocket"]
    assert admission.in_flight == 0
    assert registry.get_sample_value("orders_query_api_requests_shed_total") == 0


def test_limit_and_retry_after_must_be_positive() -> None:
    registry = CollectorRegistry()
    with pytest.raises(ValueError, match="at least 1"):
        Admission(
            Handler(),
            limit=0,
            retry_after_s=1,
            exempt=HEALTH_PATHS,
            shed_counter=requests_shed(registry, "command_api"),
            in_flight_gauge=requests_in_flight(registry, "command_api"),
        )


def test_both_apps_shed_inside_request_metrics_and_outside_everything_else() -> None:
    # Starlette's user_middleware lists the outermost first.
    settings = Settings(command_api_max_in_flight=7, query_api_max_in_flight=9)
    command, query = command_app(settings), query_app(settings, store=InMemoryViewStore())
    outer: list[object] = [m.cls for m in command.user_middleware]
    assert outer == [RequestMetrics, Admission, BodyGuard]
    outer = [m.cls for m in query.user_middleware]
    assert outer[:2] == [RequestMetrics, Admission]
    assert command.user_middleware[1].kwargs["limit"] == 7
    assert query.user_middleware[1].kwargs["limit"] == 9


class FixedLag:
    """A loop lag monitor that reports what the test says (the real one measures this
    machine, whose loop may run late for a moment under a busy CI run)."""

    def __init__(self) -> None:
        self.lag_s = 0.0

    def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass


def test_a_late_event_loop_sheds_beyond_the_few_always_admitted() -> None:
    async def scenario(stack: Stack) -> None:
        lag = FixedLag()
        stack.admission.lag = lag  # type: ignore[assignment]
        admitted = [await stack.blocked(str(n)) for n in range(MIN_ADMITTED)]
        extra = await stack.blocked("extra")  # on time: the in-flight bound (100) decides
        lag.lag_s = 0.5  # the loop now runs half a second late
        refused = await asyncio.wait_for(stack.client.get("/x"), DEADLINE_S)
        assert refused.status_code == 503
        assert stack.value(SHED) == 1
        health = await asyncio.wait_for(stack.client.get("/healthz"), DEADLINE_S)
        assert health.status_code == 200  # exempt, however late the loop
        lag.lag_s = 0.0
        assert (await asyncio.wait_for(stack.client.get("/x"), DEADLINE_S)).status_code == 200
        stack.handler.release.set()
        for task in [*admitted, extra]:
            assert (await asyncio.wait_for(task, DEADLINE_S)).status_code == 200

    run(scenario, limit=100, max_lag_s=0.05)


async def until(condition: Callable[[], bool]) -> None:
    """Checks ``condition`` on every lag tick, up to DEADLINE_S."""
    async with asyncio.timeout(DEADLINE_S):
        while not condition():  # noqa: ASYNC110 - the monitor has no event to wait on
            await asyncio.sleep(0.01)


def test_the_loop_lag_monitor_sees_a_standing_lag_and_not_a_blip() -> None:
    async def scenario() -> None:
        lag = LoopLag(interval_s=0.01, window_s=0.1)
        lag.start()
        await asyncio.sleep(0.05)
        assert lag.lag_s < 0.05
        time.sleep(0.05)  # noqa: ASYNC251 - a blip: one late tick, within the window
        assert lag.lag_s < 0.03
        time.sleep(0.3)  # noqa: ASYNC251 - held past the window: as late as it is
        assert lag.lag_s >= 0.25
        await until(lambda: lag.lag_s <= 0.02)  # on time again: the standing lag is gone
        for _ in range(20):  # busy, but each tick only a little late: no standing lag
            time.sleep(0.005)  # noqa: ASYNC251
            await asyncio.sleep(0)
        assert lag.lag_s < 0.05
        await lag.stop()

    asyncio.run(scenario())


def test_the_ops_healthz_says_stalled_once_the_loop_runs_no_timer() -> None:
    lag = LoopLag()
    assert lag.alive()  # not started yet: nothing to judge
    lag.last_tick = time.monotonic() - 60  # the loop's last timer, a minute ago
    server = serve_ops("127.0.0.1", 0, CollectorRegistry(), alive=lag.alive)
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        assert httpx.get(f"{url}/healthz", timeout=5).status_code == 503
        lag.last_tick = time.monotonic()
        assert httpx.get(f"{url}/healthz", timeout=5).status_code == 200
        assert httpx.get(f"{url}/readyz", timeout=5).status_code == 404  # no readiness
    finally:
        server.shutdown()
        server.server_close()
