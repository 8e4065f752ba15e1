"""The query API's fast lane answers ``GET /orders/{id}`` exactly as FastAPI's route does:
the same status, headers and bytes for every kind of request, and it really is the one
answering the plain reads (and not the others)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import SecretStr
from redis.exceptions import ConnectionError as RedisConnectionError

from ordersource.settings import Settings
from query_service.app import create_app
from query_service.fastlane import FastReads
from query_service.memory import InMemoryViewStore
from tests.support.events import lifecycle, placed

pytestmark = pytest.mark.unit

TOKENS = {"reader": [SecretStr("r-token")], "writer": [SecretStr("w-token")],
          "admin": [SecretStr("a-token")]}  # fmt: skip


class FlakyStore(InMemoryViewStore):
    """Redis away for the orders named ``down-*``."""

    async def order_json(self, order_id: str) -> bytes | None:
        if order_id.startswith("down-"):
            raise RedisConnectionError("connection refused")
        return await super().order_json(order_id)


def lane(app: FastAPI) -> FastReads:
    node: Any = app.middleware_stack
    while node is not None and not isinstance(node, FastReads):
        node = getattr(node, "app", None)
    assert node is not None, "no fast lane in the middleware stack"
    return node


@pytest.fixture(params=[True, False], ids=["tokens", "open"])
def pair(request: pytest.FixtureRequest) -> Iterator[tuple[TestClient, TestClient]]:
    store = FlakyStore()
    store.apply([*lifecycle("o1"), placed("o:2.x_y-z")])
    settings = Settings(auth_tokens=TOKENS if request.param else {})
    with (
        TestClient(create_app(settings, store=store)) as fast,
        TestClient(create_app(settings, store=store, fast_lane=False)) as slow,
    ):
        yield fast, slow


READER = {"Authorization": "Bearer r-token"}
CASES: list[tuple[str, dict[str, str], bool]] = [
    # (path, headers, whether the fast lane takes it)
    ("/orders/o1", READER, True),
    ("/orders/o1", {"Authorization": "Bearer a-token"}, True),
    ("/orders/o1", {"Authorization": "bearer   r-token  "}, True),
    ("/orders/o:2.x_y-z", READER, True),
    ("/orders/o1", {"Authorization": "Bearer w-token"}, True),  # 403
    ("/orders/o1", {"Authorization": "Bearer nope"}, True),  # 401
    ("/orders/o1", {"Authorization": "Basic r-token"}, True),  # 401
    ("/orders/o1", {"Authorization": "Bearer"}, True),  # 401
    ("/orders/o1", {}, True),  # 401
    ("/orders/o1", {**READER, "If-None-Match": '"4"'}, True),  # 304
    ("/orders/o1", {**READER, "If-None-Match": '"1", "4"'}, True),  # 304
    ("/orders/o1", {**READER, "If-None-Match": '"3"'}, True),  # 200
    ("/orders/o1", {**READER, "If-None-Match": '"' + "9" * 300 + '"'}, False),  # 422
    ("/orders/nope", READER, True),  # 404
    ("/orders/down-1", READER, True),  # 503
    ("/orders/" + "x" * 65, READER, False),
    ("/orders/a%20b", READER, False),
    ("/orders/o1?min_version=1", READER, False),
    ("/orders/o1?at_version=1", READER, False),
    ("/orders/o1/history", READER, False),
    ("/orders/", READER, False),
]


@pytest.mark.parametrize(("path", "headers", "fast"), CASES)
def test_the_fast_lane_answers_as_the_route_does(
    pair: tuple[TestClient, TestClient], path: str, headers: dict[str, str], fast: bool
) -> None:
    fast_client, slow_client = pair
    served = lane(fast_client.app).served  # type: ignore[arg-type]
    got, want = fast_client.get(path, headers=headers), slow_client.get(path, headers=headers)
    assert (got.status_code, got.content) == (want.status_code, want.content)
    assert got.headers.multi_items() == want.headers.multi_items()
    assert lane(fast_client.app).served == served + fast  # type: ignore[arg-type]


def test_a_fast_read_is_measured_under_the_routes_label(
    pair: tuple[TestClient, TestClient],
) -> None:
    fast_client, _ = pair
    assert fast_client.get("/orders/o1", headers=READER).status_code == 200
    metrics = fast_client.get("/metrics").text
    assert 'route="/orders/{order_id}",status="200"' in metrics


def test_a_literal_orders_route_would_be_shadowed_and_is_refused() -> None:
    from fastapi import APIRouter

    from query_service.fastlane import check_not_shadowing

    router = APIRouter()

    @router.get("/orders/summary")
    async def summary() -> dict[str, str]:
        return {}

    @router.get("/orders/{order_id}/history")
    async def history(order_id: str) -> dict[str, str]:
        return {}

    with pytest.raises(RuntimeError, match="/orders/summary"):
        check_not_shadowing(router.routes)
    check_not_shadowing(router.routes[1:])  # a deeper path is not the lane's
