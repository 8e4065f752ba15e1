"""The console's HTTP side: the page and its assets, and the JSON API the page calls.

Everything is same-origin under ``/console/``; every response carries a strict
Content-Security-Policy (scripts, styles and requests from this origin only, no inline
code, Trusted Types required so no string can become markup). The page and its assets
hold no data and are served to anyone; every ``/console/api/`` route needs a bearer
token of the same ``ORDERS_AUTH_TOKENS`` the APIs use: ``reader`` (or ``admin``) to look,
``admin`` to act. The page keeps the token in the tab's ``sessionStorage`` and sends it
as ``Authorization: Bearer``, never as a cookie, so no other site can make a browser act
with it (no CSRF). Reads of orders and of the projector's reports go through the query
API with the caller's own token (``/console/api/query/...``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.responses import FileResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ordersource import codec
from ordersource.auth import Role, TokenRegistry
from ordersource.limits import BodyGuard
from ordersource.metrics import process_registry
from ordersource.readiness import readiness
from ordersource.settings import Settings
from ordersource.web import install_problem_handlers, require
from projector.console import routes
from projector.console.clients import ConsoleClients
from projector.console.metrics import ConsoleMetrics

STATIC = Path(__file__).parent / "static"
MAX_BODY_BYTES = 1024
CSP = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
        "require-trusted-types-for 'script'",
        "trusted-types 'none'",
    ]
)
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cache-control", b"no-store"),
]

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class SecurityHeaders:
    """Adds ``SECURITY_HEADERS`` to every HTTP response (errors and 404s included)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in SECURITY_HEADERS if k not in names]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, with_headers)


def create_app(settings: Settings, *, clients: ConsoleClients | None = None) -> FastAPI:
    registry = process_registry()
    metrics = ConsoleMetrics(registry)
    tokens = TokenRegistry(settings.auth_tokens)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        made = clients or ConsoleClients(settings)
        console = routes.Console(settings, made, metrics)
        app.state.console = console
        made.start()
        try:
            yield
        finally:
            await console.jobs.close()
            await made.close()

    app = FastAPI(
        title="Ordersource console",
        lifespan=lifespan,
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
    )
    # The checks run before FastAPI reads a body (and before auth): no token is needed to
    # send one, so none may be large; the console's own bodies are a few bytes.
    app.add_middleware(BodyGuard, max_bytes=MAX_BODY_BYTES)
    app.add_middleware(SecurityHeaders)  # added last: outermost, on every answer
    install_problem_handlers(app)
    readers = Depends(require(tokens, Role.READER))
    admins = Depends(require(tokens, Role.ADMIN))
    app.include_router(routes.reading, prefix="/console/api", dependencies=[readers])
    app.include_router(routes.acting, prefix="/console/api", dependencies=[admins])
    app.mount("/console/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    async def root() -> Response:
        return RedirectResponse("/console/", status_code=308)

    @app.get("/console", include_in_schema=False)
    async def no_slash() -> Response:
        return RedirectResponse("/console/", status_code=308)

    @app.get("/console/", include_in_schema=False)
    async def page() -> Response:
        return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8")

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> Response:
        return Response(codec.dumps({"status": "ok"}), media_type="application/json")

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> Response:
        console: routes.Console = app.state.console
        ready = readiness(
            {"kafka": console.clients.kafka_ready, "redis": await console.redis_ok()},
            dependencies=["kafka", "redis"],
        )
        return Response(codec.dumps(ready.body()), ready.http_status, media_type="application/json")

    @app.get("/metrics", include_in_schema=False)
    async def metrics_page() -> Response:
        return Response(generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST})

    return app
