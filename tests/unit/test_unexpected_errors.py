"""An unexpected exception is a 500 problem document on both APIs, with nothing about the
exception in the body (the service log has the traceback); a Redis outage on the query
API is a 503, not a 500."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from redis.exceptions import ConnectionError as RedisConnectionError

from command_service.api.app import create_app as command_app
from command_service.api.routes import gateway
from ordersource.settings import Settings
from query_service.app import create_app as query_app
from query_service.memory import InMemoryViewStore
from tests.support.http import place_body

pytestmark = pytest.mark.unit

SECRET = "password=hunter2 at /srv/internal/module.py"


class Broken(InMemoryViewStore):
    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.error = error

    async def order(self, order_id: str) -> dict[str, Any] | None:
        raise self.error


def _assert_opaque_500(app: FastAPI, request: Any, caplog: pytest.LogCaptureFixture) -> None:
    with TestClient(app, raise_server_exceptions=False) as client:
        got = request(client)
    assert got.status_code == 500
    assert got.headers["content-type"] == "application/problem+json"
    body = got.json()
    assert body["status"] == 500
    assert body["title"] == "Internal error"
    assert set(body) == {"type", "title", "status", "detail"}
    assert "hunter2" not in got.text
    assert "Traceback" not in got.text
    logged = [r for r in caplog.records if r.getMessage().startswith("unexpected error")]
    assert logged
    assert logged[0].exc_info is not None
    assert "hunter2" in str(logged[0].exc_info[1])


def test_query_api_answers_an_unexpected_error_with_a_500_problem(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = query_app(Settings(), store=Broken(RuntimeError(SECRET)))
    _assert_opaque_500(app, lambda c: c.get("/orders/o1"), caplog)


def test_command_api_answers_an_unexpected_error_with_a_500_problem(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = command_app(Settings())
    app.router.lifespan_context = _no_lifespan  # nothing to connect to

    async def broken() -> Any:
        raise KeyError(SECRET)

    app.dependency_overrides[gateway] = broken
    _assert_opaque_500(app, lambda c: c.post("/orders", json=place_body()), caplog)


def test_a_redis_outage_is_a_503_not_a_500() -> None:
    app = query_app(Settings(), store=Broken(RedisConnectionError("refused")))
    with TestClient(app) as client:  # raises if the error reached the server as a 500
        got = client.get("/orders/o1")
    assert got.status_code == 503
    assert got.headers["content-type"] == "application/problem+json"
    assert got.headers["retry-after"] == "1"


def test_every_operation_documents_the_500() -> None:
    for app in (query_app(Settings(), store=InMemoryViewStore()), command_app(Settings())):
        spec = app.openapi()
        for path in spec["paths"].values():
            for operation in path.values():
                internal = operation["responses"]["500"]["content"]
                assert list(internal) == ["application/problem+json"]
                errors = [s for s in operation["responses"] if s[0] in "45"]
                for status in errors:
                    content = operation["responses"][status]["content"]
                    assert list(content) == ["application/problem+json"], status


@asynccontextmanager
async def _no_lifespan(_: Any) -> AsyncIterator[None]:
    yield
