"""The command API's app factory: middleware, access control, routes, health and metrics.

``create_app(settings)`` builds the app; its lifespan builds the process's clients (one
Redis pool, one command producer, one verdict waiter) and closes them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import redis.asyncio as aioredis
from fastapi import Depends, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from command_service.api.commandlog import CommandLog
from command_service.api.gateway import CommandGateway
from command_service.api.ports import KeyValue
from command_service.api.routes import router
from command_service.api.waiter import VerdictWaiter
from ordersource import admission, tracing
from ordersource.auth import Role, TokenRegistry
from ordersource.connections import redis_options
from ordersource.limits import BodyGuard
from ordersource.metrics import (
    process_registry,
)
from ordersource.ops import api_ops
from ordersource.readiness import readiness
from ordersource.settings import Settings
from ordersource.web import NO_TELEMETRY, install_problem_handlers, require


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # A blocking pool: under a burst, requests wait briefly for a connection instead
        # of failing with "Too many connections".
        pool = aioredis.BlockingConnectionPool.from_url(
            settings.redis_url,
            max_connections=64,
            timeout=2,
            socket_timeout=2,
            **redis_options(settings),
        )
        client = aioredis.Redis(connection_pool=pool)
        commands = CommandLog(settings)
        waiter = VerdictWaiter(client)
        await asyncio.gather(commands.start(), waiter.start())
        app.state.gateway = CommandGateway(settings, client, commands, waiter)
        try:
            async with api_ops(settings.command_api_host, settings.command_api_ops_port,
                               registry, lag):  # fmt: skip
                yield
        finally:
            await waiter.stop()
            await commands.close()
            await client.aclose()

    app = FastAPI(
        title="Ordersource command API",
        version="0.1.0",
        description="Place and change orders. Every change becomes an event in the log.",
        lifespan=lifespan,
        telemetry=NO_TELEMETRY,
    )
    # The last added is the outermost: RequestMetrics, then Admission, then BodyGuard.
    app.add_middleware(BodyGuard, max_bytes=settings.max_body_bytes)
    registry = process_registry()
    # Sheds before anything else runs (a refusal must be cheap); measured all the same.
    lag = admission.install(
        app,
        registry,
        "command_api",
        limit=settings.command_api_max_in_flight,
        retry_after_s=settings.overload_retry_after_s,
        max_lag_s=settings.overload_max_loop_lag_ms / 1000,
        note="The command was not taken (never sent to the event log): a retry with the "
        "same Idempotency-Key is safe.",
    )
    if tracing.enabled():  # added last: outermost, the span covers the whole request
        app.add_middleware(tracing.TraceRequests)
    install_problem_handlers(app)
    writers = require(TokenRegistry(settings.auth_tokens), Role.WRITER)
    app.include_router(router, dependencies=[Depends(writers)])

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz(request: Request) -> JSONResponse:
        gateway: CommandGateway = request.app.state.gateway
        checks = {
            "redis": await _redis_ok(gateway.redis),
            "kafka": await gateway.commands.ready(),
            "verdicts": gateway.waiter.subscribed.is_set(),
        }
        ready = readiness(checks, dependencies=["redis", "kafka"])
        return JSONResponse(ready.body(), status_code=ready.http_status)

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return app


async def _redis_ok(client: KeyValue) -> bool:
    try:
        return bool(await client.ping())
    except aioredis.RedisError:
        return False
