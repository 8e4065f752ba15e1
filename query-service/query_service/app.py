"""The query API: FastAPI over the Redis read views. Reads Redis only, never Kafka.

``create_app(settings)`` builds the app; the lifespan opens the Redis client and closes
it. Tests pass ``store=`` (e.g. the in-memory fake) instead.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from redis.asyncio import BlockingConnectionPool, Redis

from ordersource import admission, codec, tracing
from ordersource.auth import Role, TokenRegistry
from ordersource.connections import redis_options
from ordersource.metrics import (
    process_registry,
)
from ordersource.ops import api_ops
from ordersource.readiness import readiness
from ordersource.settings import Settings
from ordersource.web import NO_TELEMETRY, require
from query_service import orders, overview, problems
from query_service.deps import StoreDep
from query_service.fastlane import FastReads, check_not_shadowing
from query_service.store import RedisViewStore, ViewStore


def create_app(
    settings: Settings, *, store: ViewStore | None = None, fast_lane: bool = True
) -> FastAPI:
    """``fast_lane=False``: every request through FastAPI's router (tests compare the two)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if store is not None:
            app.state.store = store
            yield
            return
        # A blocking pool: under a burst, requests wait briefly for a connection instead
        # of failing with "Too many connections".
        pool = BlockingConnectionPool.from_url(
            settings.redis_url,
            max_connections=64,
            timeout=2,
            socket_timeout=2,
            socket_connect_timeout=2,
            **redis_options(settings),
        )
        redis = Redis(connection_pool=pool)
        app.state.store = RedisViewStore(redis)
        try:
            async with api_ops(settings.query_api_host, settings.query_api_ops_port,
                               registry, lag):  # fmt: skip
                yield
        finally:
            await redis.aclose()

    app = FastAPI(
        title="Ordersource query API",
        lifespan=lifespan,
        openapi_url="/openapi.json",
        telemetry=NO_TELEMETRY,
    )
    registry = process_registry()
    tokens = TokenRegistry(settings.auth_tokens)
    if fast_lane:  # added first: innermost, inside the admission control and the metrics
        app.add_middleware(FastReads, tokens=tokens)
    lag = admission.install(
        app,
        registry,
        "query_api",
        limit=settings.query_api_max_in_flight,
        retry_after_s=settings.overload_retry_after_s,
        max_lag_s=settings.overload_max_loop_lag_ms / 1000,
    )
    if tracing.enabled():  # added last: outermost, the span covers the whole request
        app.add_middleware(tracing.TraceRequests)
    problems.install(app)
    readers = Depends(require(tokens, Role.READER))
    app.include_router(orders.router, dependencies=[readers])
    app.include_router(overview.router, dependencies=[readers])
    check_not_shadowing([*orders.router.routes, *overview.router.routes])

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> Response:
        return Response(codec.dumps({"status": "ok"}), media_type="application/json")

    @app.get("/readyz", include_in_schema=False)
    async def readyz(store: StoreDep) -> Response:
        try:
            ok = await store.ping()
        except Exception:  # any Redis failure means "not ready", reported, not raised
            ok = False
        ready = readiness({"redis": ok}, dependencies=["redis"])
        body = codec.dumps(ready.body())
        return Response(body, ready.http_status, media_type="application/json")

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    return app
