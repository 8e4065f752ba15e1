"""The query API over the in-memory view store: contracts of every route, no network."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from ordersource.settings import Settings
from query_service import orders, timetravel
from query_service.app import create_app
from query_service.memory import InMemoryViewStore
from tests.support.events import T0, cancelled, lifecycle, modified, placed

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


def _long_order(store: InMemoryViewStore, order_id: str, versions: int) -> None:
    """placed at T0 + 1 s, then modified: version v occurred at T0 + v s."""
    store.apply([placed(order_id, at=T0 + timedelta(seconds=1))])
    store.apply([modified(order_id, v, v) for v in range(2, versions + 1)])


def test_history_pages_give_every_version_once_reading_only_the_page(
    client: TestClient, store: InMemoryViewStore
) -> None:
    _long_order(store, "o1", 250)
    for limit in (None, 7, 100):
        seen: list[int] = []
        params: dict[str, str | int] = {} if limit is None else {"limit": limit}
        while True:
            store.reads.clear()
            got = client.get("/orders/o1/history", params=params)
            assert got.status_code == 200
            assert got.headers["etag"] == '"250"'
            body = got.json()
            assert body["version"] == 250
            assert len(body["events"]) <= (limit or 100)
            assert store.reads["history_events"] == len(body["events"])
            seen += [e["version"] for e in body["events"]]
            if body["next_cursor"] is None:
                break
            params = {"cursor": body["next_cursor"]} | ({} if limit is None else {"limit": limit})
        assert seen == list(range(1, 251))
    small = client.get("/orders/o1/history", params={"after_version": 248}).json()
    assert [e["version"] for e in small["events"]] == [249, 250]
    assert small["next_cursor"] is None
    past = client.get("/orders/o1/history", params={"after_version": 250}).json()
    assert (past["events"], past["next_cursor"]) == ([], None)


def test_history_parameters_are_checked(client: TestClient, store: InMemoryViewStore) -> None:
    _long_order(store, "o1", 3)
    _long_order(store, "o2", 3)
    cursor = client.get("/orders/o1/history", params={"limit": 1}).json()["next_cursor"]
    assert client.get("/orders/o1/history", params={"cursor": cursor}).status_code == 200
    for params in (
        {"cursor": cursor, "after_version": 1},  # both
        {"limit": 0},
        {"limit": 101},
        {"after_version": -1},
        {"cursor": "djE6MTpvMQ"},  # a list cursor ("v1:1:o1")
    ):
        got = client.get("/orders/o1/history", params=params)
        assert got.status_code == 422, params
        assert got.headers["content-type"] == "application/problem+json"
    other = client.get("/orders/o2/history", params={"cursor": cursor})
    assert other.status_code == 422  # a cursor of o1's history
    assert client.get("/orders/nope/history", params={"after_version": 5}).status_code == 404


def test_time_travel_reads_only_up_to_the_point(
    client: TestClient, store: InMemoryViewStore
) -> None:
    _long_order(store, "o1", 1000)
    store.reads.clear()
    first = client.get("/orders/o1", params={"at_version": 1}).json()
    assert (first["version"], first["items"][0]["quantity"]) == (1, 5)
    assert store.reads["history_events"] == 1
    store.reads.clear()
    assert client.get("/orders/o1", params={"at_version": 250}).json()["version"] == 250
    assert store.reads["history_events"] == 250
    store.reads.clear()
    moment = (T0 + timedelta(seconds=120.5)).isoformat()
    then = client.get("/orders/o1", params={"as_of": moment}).json()
    assert (then["version"], then["items"][0]["quantity"]) == (120, 120)
    assert store.reads["history_events"] <= 120 + timetravel.CHUNK  # stops in the chunk after T
    store.reads.clear()
    assert client.get("/orders/o1", params={"at_version": 1001}).status_code == 404
    assert store.reads["history_events"] == 0


def test_time_travel_past_the_fold_bound_is_a_422(
    client: TestClient, store: InMemoryViewStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(timetravel, "MAX_FOLD", 150)
    _long_order(store, "o1", 200)
    assert client.get("/orders/o1", params={"at_version": 150}).json()["version"] == 150
    within = client.get("/orders/o1", params={"as_of": (T0 + timedelta(seconds=149)).isoformat()})
    assert within.json()["version"] == 149
    for params in ({"at_version": 151}, {"as_of": "2030-01-01T00:00:00Z"}):
        store.reads.clear()
        got = client.get("/orders/o1", params=params)
        assert got.status_code == 422, params
        assert got.json()["current_version"] == 200
        assert store.reads["history_events"] <= 150
    _long_order(store, "o2", 150)  # the whole history within the bound: fine
    assert client.get("/orders/o2", params={"as_of": "2030-01-01T00:00:00Z"}).status_code == 200


def _page_all(
    client: TestClient, store: InMemoryViewStore, params: dict[str, str | int]
) -> tuple[list[str], int]:
    """Every order id across the pages, and the number of requests; checks each request's
    scan stays within the bound."""
    seen: list[str] = []
    cursor, requests = None, 0
    while True:
        store.reads.clear()
        page = client.get("/orders", params=params | ({"cursor": cursor} if cursor else {}))
        assert page.status_code == 200
        assert store.reads["views"] <= orders.MAX_SCAN
        assert store.reads["index_entries"] <= orders.MAX_SCAN + 1  # one peek past them
        requests += 1
        seen += [item["order_id"] for item in page.json()["items"]]
        cursor = page.json()["next_cursor"]
        if cursor is None:
            return seen, requests


def test_combined_filters_scan_a_bounded_number_of_entries_per_request(
    client: TestClient, store: InMemoryViewStore
) -> None:
    # c1: 10,000 orders, only the oldest cancelled; more cancelled orders of others than
    # c1 has orders, so neither index is small: the scan walks c1's index in bounded steps.
    at = [T0 + timedelta(seconds=i) for i in range(10_001)]
    store.apply([placed(f"c1-{i:05}", "c1", at=at[i]) for i in range(10_000)])
    store.apply([cancelled("c1-00000", 2, at=at[0])])
    store.apply([placed(f"c2-{i:05}", "c2", at=at[i]) for i in range(10_001)])
    store.apply([cancelled(f"c2-{i:05}", 2, at=at[0]) for i in range(10_001)])
    seen, requests = _page_all(client, store, {"customer_id": "c1", "status": "cancelled"})
    assert seen == ["c1-00000"]
    assert requests == -(-10_000 // orders.MAX_SCAN)  # the match is on the last page
    # the smaller index is the one scanned: no shipped order at all, one short request...
    store.reads.clear()
    assert _page_all(client, store, {"customer_id": "c1", "status": "shipped"}) == ([], 1)
    assert store.reads["views"] == 0
    # ...and every listing is bounded, pages still give each order once, newest first
    placed_c1, _ = _page_all(client, store, {"customer_id": "c1", "status": "placed", "limit": 100})
    assert placed_c1 == [f"c1-{i:05}" for i in range(9_999, 0, -1)]


def test_a_short_page_with_a_cursor_continues_exactly(
    client: TestClient, store: InMemoryViewStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(orders, "MAX_SCAN", 7)
    monkeypatch.setattr(orders, "SCAN_CHUNK", 3)
    # ties in creation time, interleaved statuses, two customers of similar size
    store.apply([placed(f"a{i:02}", "c1", at=T0 + timedelta(seconds=i // 3)) for i in range(40)])
    store.apply([cancelled(f"a{i:02}", 2) for i in range(0, 40, 4)])
    store.apply([placed(f"b{i:02}", "c2", at=T0) for i in range(45)])
    store.apply([cancelled(f"b{i:02}", 2) for i in range(45)])
    for limit in (1, 2, 5, 100):
        seen, requests = _page_all(
            client, store, {"customer_id": "c1", "status": "cancelled", "limit": limit}
        )
        expected = sorted(
            ((i // 3, f"a{i:02}") for i in range(0, 40, 4)), reverse=True
        )  # newest first, ties by id descending
        assert seen == [order_id for _, order_id in expected], limit
        assert requests >= 40 // 7
