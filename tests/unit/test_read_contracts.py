"""The query API's declared response schemas match what it really sends.

The routes return pre-serialised JSON for speed, so FastAPI does not check the bodies
against their ``response_model``: these tests do, for every route and status, with
``extra="forbid"`` (``tests/support/contracts.py``)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from ordersource.domain import fold
from ordersource.settings import Settings
from ordersource.views import to_view
from query_service import timetravel
from query_service.app import create_app
from query_service.memory import InMemoryViewStore
from query_service.schemas import (
    LineItem,
    OrderHistory,
    OrderPage,
    OrderProblem,
    OrderView,
    ProjectionStatus,
    Stats,
    ViewBehind,
)
from tests.support.contracts import check
from tests.support.events import lifecycle, modified, placed

pytestmark = pytest.mark.unit


class ReportingStore(InMemoryViewStore):
    """The in-memory store plus the bookkeeping a running projector leaves in Redis."""

    async def projection(self) -> dict[str, Any]:
        info = await super().projection()
        now = time.time()
        info["meta"] = {
            **info["meta"],
            "newest_event_ts": repr(now - 5),
            "newest_event_at": "2026-01-01T12:00:00.000000Z",
            "events_applied": "7",
            "dead_letters": "1",
        }
        info["checkpoint"] = {0: 5, 1: 3}
        info["progress"] = {
            0: {"end_offset": 6, "position": 6, "applied_offset": 5, "lag": 1, "caught_up": True,
                "reported_at": now},
        }  # fmt: skip
        info["parked_count"] = 1
        info["parked"] = [
            {"order_id": "o9", "version": 3, "partition": 1, "offset": 2,
             "reason": "version gap: view at 1, got 3", "event": {"type": "OrderPaid"}},
        ]  # fmt: skip
        return info


@pytest.fixture
def store() -> ReportingStore:
    return ReportingStore()


@pytest.fixture
def api(store: ReportingStore) -> Iterator[tuple[TestClient, dict[str, Any]]]:
    app = create_app(Settings(), store=store)
    with TestClient(app) as client:
        yield client, app.openapi()


def _view() -> dict[str, Any]:
    state = fold([placed("o1")])
    assert state is not None
    return to_view(state)


def test_the_view_model_has_exactly_the_fields_of_the_view() -> None:
    view = _view()
    assert set(view) == set(OrderView.model_fields)
    assert set(view["items"][0]) == set(LineItem.model_fields)
    OrderView.model_validate(view, extra="forbid")


def test_views_without_a_channel_still_validate() -> None:
    view = _view()
    view.pop("channel", None)  # a view written before channels existed
    assert OrderView.model_validate(view).channel == "unknown"


def test_one_order_current_historical_and_not_modified(
    api: tuple[TestClient, dict[str, Any]], store: ReportingStore
) -> None:
    client, spec = api
    store.apply(lifecycle("o1"))
    path = "/orders/{order_id}"
    current = client.get("/orders/o1")
    view = check(spec, "get", path, current)
    assert isinstance(view, OrderView)
    assert view.version == 4
    assert current.headers["x-view-status"] == "current"
    then = check(spec, "get", path, client.get("/orders/o1", params={"at_version": 1}))
    assert then.version == 1
    same = client.get("/orders/o1", headers={"If-None-Match": '"4"'})
    assert same.status_code == 304
    check(spec, "get", path, same)


def test_order_problems(
    api: tuple[TestClient, dict[str, Any]], store: ReportingStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, spec = api
    store.apply([placed("o1")])
    path = "/orders/{order_id}"
    behind = client.get("/orders/o1", params={"min_version": 2, "wait_ms": 0})
    problem = check(spec, "get", path, behind)
    assert isinstance(problem, ViewBehind)
    assert problem.view is not None
    assert problem.view.version == 1
    missing = client.get("/orders/o2", params={"min_version": 1})
    assert check(spec, "get", path, missing).view is None
    for params in ({}, {"at_version": 9}):
        unknown = client.get("/orders/o1" if params else "/orders/nope", params=params)
        assert unknown.status_code == 404
        check(spec, "get", path, unknown)
    invalid = client.get("/orders/o1", params={"as_of": "yesterday"})
    assert check(spec, "get", path, invalid).status == 422
    schema = client.get("/orders/o1", params={"min_version": "x"})
    assert check(spec, "get", path, schema).errors
    generation = client.get("/orders/o1", params={"generation": "77"})
    assert check(spec, "get", path, generation).status == 422
    monkeypatch.setattr(timetravel, "MAX_FOLD", 1)
    store.apply([modified("o1", 2, 6)])
    too_long = check(spec, "get", path, client.get("/orders/o1", params={"at_version": 2}))
    assert isinstance(too_long, OrderProblem)
    assert (too_long.status, too_long.current_version) == (422, 2)


def test_list_history_stats_and_projection(
    api: tuple[TestClient, dict[str, Any]], store: ReportingStore
) -> None:
    client, spec = api
    store.apply([*lifecycle("a"), placed("b"), modified("b", 2, 6), placed("c")])
    page = check(spec, "get", "/orders", client.get("/orders", params={"limit": 2}))
    assert isinstance(page, OrderPage)
    assert page.next_cursor is not None
    last = client.get("/orders", params={"limit": 2, "cursor": page.next_cursor})
    assert check(spec, "get", "/orders", last).next_cursor is None
    check(spec, "get", "/orders", client.get("/orders", params={"limit": 0}))

    path = "/orders/{order_id}/history"
    history = check(spec, "get", path, client.get("/orders/b/history"))
    assert isinstance(history, OrderHistory)
    assert [e.version for e in history.events] == [1, 2]
    assert history.next_cursor is None
    first = check(spec, "get", path, client.get("/orders/b/history", params={"limit": 1}))
    assert isinstance(first, OrderHistory)
    assert [e.version for e in first.events] == [1]
    assert first.next_cursor is not None
    rest = client.get("/orders/b/history", params={"cursor": first.next_cursor})
    assert [e.version for e in check(spec, "get", path, rest).events] == [2]
    check(spec, "get", path, client.get("/orders/nope/history"))
    check(spec, "get", path, client.get("/orders/b/history", params={"cursor": "x"}))

    stats = check(spec, "get", "/stats", client.get("/stats"))
    assert isinstance(stats, Stats)
    assert stats.orders == 3
    projection = check(spec, "get", "/projection", client.get("/projection"))
    assert isinstance(projection, ProjectionStatus)
    assert [p.partition for p in projection.partitions] == [0, 1]
    assert projection.parked[0].order_id == "o9"


def test_every_documented_success_schema_has_an_example(
    api: tuple[TestClient, dict[str, Any]],
) -> None:
    _, spec = api
    schemas = spec["components"]["schemas"]
    for path in spec["paths"].values():
        for operation in path.values():
            ok = operation["responses"]["200"]["content"]["application/json"]["schema"]
            assert schemas[ok["$ref"].rsplit("/", 1)[1]].get("examples"), operation["operationId"]
