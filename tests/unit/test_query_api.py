"""The query API over the in-memory view store: contracts of every route, no network."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from ordersource.settings import Settings
from query_service.app import create_app
from query_service.memory import InMemoryViewStore
from tests.unit.projection_kit import T0, lifecycle, modified, placed

pytestmark = pytest.mark.unit


@pytest.fixture
def store() -> InMemoryViewStore:
    return InMemoryViewStore()


@pytest.fixture
def client(store: InMemoryViewStore) -> Iterator[TestClient]:
    with TestClient(create_app(Settings(), store=store)) as client:
        yield client


def test_an_order_with_etag_and_304(client: TestClient, store: InMemoryViewStore) -> None:
    store.apply(lifecycle("o1"))
    got = client.get("/orders/o1")
    assert got.status_code == 200
    assert got.headers["etag"] == '"4"'
    assert got.headers["x-view-status"] == "current"
    assert got.json()["status"] == "shipped"
    assert got.json()["version"] == 4
    assert client.get("/orders/o1", headers={"If-None-Match": '"4"'}).status_code == 304


def test_unknown_order_is_a_problem_404(client: TestClient) -> None:
    got = client.get("/orders/nope")
    assert got.status_code == 404
    assert got.headers["content-type"] == "application/problem+json"
    assert {"type", "title", "status", "detail"} <= set(got.json())


def test_min_version_behind_is_an_explicit_409(
    client: TestClient,
    store: InMemoryViewStore,
) -> None:
    store.apply([placed("o1")])
    got = client.get("/orders/o1", params={"min_version": 2, "wait_ms": 30})
    assert got.status_code == 409
    body = got.json()
    assert body["title"] == "View behind"
    assert body["current_version"] == 1
    assert body["view"]["version"] == 1
    assert got.headers["x-view-status"] == "behind"
    missing = client.get("/orders/o2", params={"min_version": 1, "wait_ms": 0})
    assert missing.status_code == 409
    assert missing.json()["current_version"] == 0
    store.apply([modified("o1", 2, 6)])
    assert client.get("/orders/o1", params={"min_version": 2}).json()["version"] == 2


def test_time_travel_by_version_and_by_time(client: TestClient, store: InMemoryViewStore) -> None:
    store.apply([placed("o1", quantity=5, at=T0), modified("o1", 2, 6, at=T0 + timedelta(1))])
    first = client.get("/orders/o1", params={"at_version": 1})
    assert first.json()["items"][0]["quantity"] == 5
    assert first.headers["x-view-status"] == "historical"
    between = client.get("/orders/o1", params={"as_of": (T0 + timedelta(hours=1)).isoformat()})
    assert between.json()["items"][0]["quantity"] == 5
    assert between.json()["version"] == 1
    before = client.get("/orders/o1", params={"as_of": "2000-01-01T00:00:00Z"})
    assert before.status_code == 404
    assert client.get("/orders/o1", params={"at_version": 3}).status_code == 404
    assert client.get("/orders/o1", params={"as_of": "yesterday"}).status_code == 422
    assert client.get("/orders/o1", params={"as_of": "2026-01-01T00:00:00"}).status_code == 422
    both = client.get("/orders/o1", params={"as_of": "2026-01-01T00:00:00Z", "at_version": 1})
    assert both.status_code == 422


def test_history_lists_each_version_once_ascending(
    client: TestClient,
    store: InMemoryViewStore,
) -> None:
    store.apply(lifecycle("o1"))
    store.apply(lifecycle("o1"))  # re-delivered: nothing new
    body = client.get("/orders/o1/history").json()
    assert [e["version"] for e in body["events"]] == [1, 2, 3, 4]
    assert client.get("/orders/nope/history").status_code == 404


def test_pages_return_every_order_once_newest_first_even_with_ties(
    client: TestClient, store: InMemoryViewStore
) -> None:
    # 30 orders share one creation time (ties), 30 more have their own.
    store.apply([placed(f"t{i:02}", "c1", at=T0) for i in range(30)])
    store.apply([placed(f"u{i:02}", "c1", at=T0 + timedelta(seconds=i + 1)) for i in range(30)])
    seen: list[str] = []
    cursor = None
    while True:
        params = {"customer_id": "c1", "limit": 7} | ({"cursor": cursor} if cursor else {})
        page = client.get("/orders", params=params).json()
        seen += [item["order_id"] for item in page["items"]]
        if len(seen) == 14:  # orders created while paging are newer: never in later pages
            store.apply([placed(f"new{i}", "c1", at=T0 + timedelta(days=1)) for i in range(5)])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 60
    assert seen[:3] == ["u29", "u28", "u27"]
    assert seen[-1] == "t00"


def test_status_filter_and_combined_filters(client: TestClient, store: InMemoryViewStore) -> None:
    store.apply([*lifecycle("a", "c1"), placed("b", "c1"), placed("c", "c2")])

    def ids(params: dict[str, str]) -> list[str]:
        return [i["order_id"] for i in client.get("/orders", params=params).json()["items"]]

    assert ids({"status": "placed"}) == ["c", "b"]
    assert ids({"status": "shipped", "customer_id": "c1"}) == ["a"]
    assert ids({"customer_id": "c9"}) == []


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=101",
        "limit=x",
        "status=lost",
        "customer_id=bad id",
        "cursor=%%%",
        "cursor=djE6eHh4",
        "customer_id=" + "x" * 65,
    ],
)
def test_bad_list_parameters_are_422(client: TestClient, query: str) -> None:
    got = client.get(f"/orders?{query}")
    assert got.status_code == 422
    assert got.headers["content-type"] == "application/problem+json"


def test_stats_projection_and_probes(client: TestClient, store: InMemoryViewStore) -> None:
    store.apply([*lifecycle("a"), placed("b")])
    stats = client.get("/stats").json()
    assert stats["orders"] == 2
    assert stats["by_status"]["shipped"] == 1
    assert client.get("/projection").json()["generation"] == "1"
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200
    store.up = False
    assert client.get("/readyz").status_code == 503
    assert "orders_query_api_request_seconds" in client.get("/metrics").text
