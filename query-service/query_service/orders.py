"""``/orders`` routes: one order (read-your-writes, time travel), lists, history.

Read-your-writes: ``?min_version=N&wait_ms=M`` answers 200 as soon as the view reached
version N. If it has not after M ms (capped at ``MAX_WAIT_MS``) the answer is a 409
problem "View behind" carrying ``current_version``, ``min_version`` and the stale view
(or null) — never a 200 with older data, and not a 5xx: nothing failed, the projection
is just not there yet. Every order response carries ``ETag: "<version>"`` and
``X-View-Status: current | behind | historical``.
"""

from __future__ import annotations

import asyncio
import time
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query
from fastapi.responses import Response

from ordersource import codec
from ordersource.domain import OrderStatus
from ordersource.web import problem_responses
from query_service.cursor import (
    Cursor,
    InvalidCursor,
    decode_cursor,
    decode_history_cursor,
    encode_cursor,
    encode_history_cursor,
)
from query_service.deps import ViewsDep
from query_service.problems import Problem
from query_service.schemas import OrderHistory, OrderPage, OrderProblem, OrderView, ViewBehind
from query_service.store import Index, ViewStore
from query_service.timetravel import MAX_FOLD, FoldTooLong, view_at

MAX_WAIT_MS = 10_000
MAX_SCAN = 500
"""Index entries one list request examines at most (filtering by customer and status)."""
SCAN_CHUNK = 100
HISTORY_PAGE = 100
"""Events per history page at most (and by default)."""
IDENTIFIER = r"^[A-Za-z0-9._:-]{1,64}$"
router = APIRouter(tags=["orders"])
OrderId = Annotated[str, Path(description="The order's id", examples=["bob-1"])]


COMMON = {
    401: "No valid bearer token",
    403: "The token lacks the reader role",
    422: "Invalid parameters (or unknown generation)",
    503: "The view store does not answer",
}
VIEW_HEADERS: dict[str, Any] = {
    "ETag": {"description": 'The view\'s version, e.g. "2"', "schema": {"type": "string"}},
    "X-View-Status": {
        "description": "current (latest view), historical (at_version / as_of) "
        "or behind (409: min_version not reached)",
        "schema": {"type": "string", "enum": ["current", "historical", "behind"]},
    },
}
ORDER_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "The order (current, or as it was)", "headers": VIEW_HEADERS},
    304: {
        "description": "Not modified: If-None-Match names the current ETag (no body)",
        "headers": VIEW_HEADERS,
    },
    **problem_responses(
        {
            **COMMON,
            404: "Unknown order, or no state at that point in time",
            409: "View behind",
            422: "Invalid parameters, unknown generation, or a time-travel point past "
            f"the first {MAX_FOLD} events",
        },
        {404: OrderProblem, 409: ViewBehind, 422: OrderProblem},
    ),
}
ORDER_RESPONSES[409]["headers"] = {
    "Retry-After": {
        "description": "Seconds to wait before retrying",
        "schema": {"type": "integer"},
    },
    "X-View-Status": VIEW_HEADERS["X-View-Status"],
}


@router.get(
    "/orders/{order_id}",
    operation_id="get_order",
    summary="Read one order",
    description="The order's view. `min_version` + `wait_ms`: read your own write (wait "
    "until the view reaches that version, else 409). `at_version` or `as_of` (RFC 3339): "
    "the order as it was (time travel), folded from version 1 up to that point, reading "
    f"only those events; at most {MAX_FOLD} of them (a later point: 422).",
    response_model=OrderView,
    responses=ORDER_RESPONSES,
)
async def get_order(
    order_id: OrderId,
    store: ViewsDep,
    min_version: Annotated[
        int | None,
        Query(ge=1, le=2**31, description="Answer once the view has this version (else 409)"),
    ] = None,
    wait_ms: Annotated[
        int,
        Query(ge=0, le=2**31, description=f"How long to wait for min_version (≤ {MAX_WAIT_MS})"),
    ] = 0,
    at_version: Annotated[
        int | None, Query(ge=1, le=2**31, description="The order as it was at this version")
    ] = None,
    as_of: Annotated[
        str | None,
        Query(
            max_length=64,
            description="The order as it was at this moment (RFC 3339 with offset)",
            examples=["2026-01-01T12:00:00Z"],
        ),
    ] = None,
    if_none_match: Annotated[
        str | None,
        Header(max_length=256, description='ETag(s) the client has, e.g. "2": 304 if current'),
    ] = None,
) -> Response:
    """The order's view, now, after a wait (read-your-writes) or as it was."""
    moment = _parse_as_of(as_of)
    if at_version is not None and moment is not None:
        raise Problem(422, "Invalid request", "give at_version or as_of, not both")
    raw = await store.order_json(order_id)
    view = codec.loads(raw) if raw else None
    if min_version is not None and (view is None or view["version"] < min_version):
        store, raw, view = await _wait_for(store, order_id, min_version, min(wait_ms, MAX_WAIT_MS))
    if raw is None or view is None:
        raise unknown_order(order_id)
    if at_version is not None or moment is not None:
        try:
            past = await view_at(store, order_id, view["version"], at_version, moment)
        except FoldTooLong:
            raise Problem(
                422,
                "Invalid request",
                f"time travel folds at most {MAX_FOLD} events; that point of order "
                f"{order_id} lies further (read its history instead)",
                order_id=order_id,
                current_version=view["version"],
            ) from None
        if past is None:
            raise Problem(
                404,
                "Not Found",
                f"order {order_id} has no state at that point",
                order_id=order_id,
                current_version=view["version"],
            )
        return view_response(codec.dumps(past), past["version"], "historical", None)
    return view_response(raw, view["version"], "current", if_none_match)


async def _wait_for(
    store: ViewStore, order_id: str, min_version: int, wait_ms: int
) -> tuple[ViewStore, bytes, dict[str, Any]]:
    deadline = time.monotonic() + wait_ms / 1000
    pause = 0.005
    while True:
        store = await store.again()  # a blue/green switch during the wait: follow it
        raw = await store.order_json(order_id)
        view = codec.loads(raw) if raw else None
        if raw is not None and view is not None and view["version"] >= min_version:
            return store, raw, view  # the generation the view was found in: read on there
        left = deadline - time.monotonic()
        if left <= 0:
            raise Problem(
                409,
                "View behind",
                f"the view of order {order_id} has not reached version {min_version} "
                f"within {wait_ms} ms; retry later",
                {"Retry-After": "1", "X-View-Status": "behind"},
                order_id=order_id,
                min_version=min_version,
                current_version=view["version"] if view else 0,
                view=view,
            )
        await asyncio.sleep(min(pause, left))  # polling: views change only per batch
        pause = min(pause * 2, 0.05)


def _parse_as_of(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise Problem(
            422,
            "Invalid request",
            "as_of must be an RFC 3339 timestamp with a UTC offset",
            errors=[{"loc": ["query", "as_of"], "msg": "not RFC 3339", "type": "datetime"}],
        )
    return moment


def unknown_order(order_id: str) -> Problem:
    return Problem(404, "Not Found", f"order {order_id} does not exist", order_id=order_id)


def view_response(body: bytes, version: int, status: str, if_none_match: str | None) -> Response:
    """The answer with an order's view (also the fast lane's, ``query_service.fastlane``).
    ``body``: the view's JSON as stored (sent as is: parsed once, for the version, and
    never serialised again), or the time-travel fold's."""
    etag = f'"{version}"'
    headers = {"ETag": etag, "X-View-Status": status}
    if if_none_match is not None and etag in {t.strip() for t in if_none_match.split(",")}:
        return Response(status_code=304, headers=headers)
    return Response(body, headers=headers, media_type="application/json")


@router.get(
    "/orders",
    operation_id="list_orders",
    summary="List orders, newest first",
    description="Filter by `customer_id` and/or `status`; page with `cursor` (the previous "
    "page's `next_cursor`) until `next_cursor` is null. A request examines at most "
    f"{MAX_SCAN} orders of the index it walks: with both filters a page may therefore hold "
    "fewer than `limit` orders (even none) and still have a `next_cursor`.",
    response_model=OrderPage,
    responses={200: {"description": "One page"}, **problem_responses(COMMON)},
)
async def list_orders(
    store: ViewsDep,
    customer_id: Annotated[
        str | None, Query(pattern=IDENTIFIER, description="Only this customer's orders")
    ] = None,
    status: Annotated[OrderStatus | None, Query(description="Only orders in this status")] = None,
    limit: Annotated[int, Query(ge=1, le=100, description="Page size")] = 20,
    cursor: Annotated[
        str | None, Query(max_length=200, description="next_cursor of the previous page")
    ] = None,
) -> Response:
    """A page of the index (``all``, the customer's or the status's), newest first."""
    try:
        bound = decode_cursor(cursor) if cursor else None
    except InvalidCursor as exc:
        raise Problem(422, "Invalid request", str(exc)) from None
    filters: list[Index] = []
    if customer_id:
        filters.append(("customer", customer_id))
    if status:
        filters.append(("status", status.value))
    index: Index = ("all", None)
    if len(filters) == 1:
        index = filters[0]
    elif filters:  # scan the smaller index, filter by the other (same order, same cursor)
        sizes = await store.sizes(filters)
        index = filters[sizes.index(min(sizes))]

    def wanted(view: dict[str, Any]) -> bool:
        return (customer_id is None or view["customer_id"] == customer_id) and (
            status is None or view["status"] == status.value
        )

    found: list[tuple[Cursor, dict[str, Any]]] = []
    scanned, exhausted = 0, False
    while len(found) <= limit and scanned < MAX_SCAN:
        ask = limit + 1 - len(found) if len(filters) < 2 else SCAN_CHUNK
        budget = MAX_SCAN - scanned
        # the budget's last chunk peeks one entry further: is there more after it?
        asked = ask if ask < budget else budget + 1
        entries = await store.older(index, bound, asked)
        exhausted = len(entries) < asked
        entries = entries[: min(ask, budget)]
        scanned += len(entries)
        views = await store.orders([order_id for _, order_id in entries])
        for entry, view in zip(entries, views, strict=True):
            bound = entry
            if view is not None and wanted(view):
                found.append((entry, view))
        if exhausted:
            break
    page = found[:limit]
    if len(found) > limit:
        next_cursor: str | None = encode_cursor(page[-1][0])
    elif exhausted or bound is None:
        next_cursor = None
    else:  # the scan budget ran out first: go on from the last entry examined
        next_cursor = encode_cursor(bound)
    body = {"items": [view for _, view in page], "next_cursor": next_cursor}
    return Response(codec.dumps(body), media_type="application/json")


HISTORY_HEADERS = {
    "ETag": {"description": 'The latest version, e.g. "2"', "schema": {"type": "string"}}
}


@router.get(
    "/orders/{order_id}/history",
    operation_id="order_history",
    summary="The events of one order, a page at a time",
    description="The order's events as recorded in the log (each at its own schema "
    f"version), ascending by version, at most `limit` (≤ {HISTORY_PAGE}) per page. Start "
    "after `after_version` (default 0) or from the previous page's `next_cursor`; every "
    "version comes exactly once across the pages.",
    response_model=OrderHistory,
    responses={
        200: {"description": "A page of events, ascending by version", "headers": HISTORY_HEADERS},
        **problem_responses({**COMMON, 404: "Unknown order"}, {404: OrderProblem}),
    },
)
async def order_history(
    order_id: OrderId,
    store: ViewsDep,
    limit: Annotated[
        int, Query(ge=1, le=HISTORY_PAGE, description="Events per page at most")
    ] = HISTORY_PAGE,
    after_version: Annotated[
        int | None,
        Query(ge=0, le=2**31, description="Start after this version (0: from the first)"),
    ] = None,
    cursor: Annotated[
        str | None, Query(max_length=200, description="next_cursor of the previous page")
    ] = None,
) -> Response:
    """One page of the order's history: reads only the versions of that page."""
    if cursor is not None and after_version is not None:
        raise Problem(422, "Invalid request", "give after_version or cursor, not both")
    try:
        after = decode_history_cursor(cursor, order_id) if cursor else after_version or 0
    except InvalidCursor as exc:
        raise Problem(422, "Invalid request", str(exc)) from None
    latest, events = await store.history(order_id, after + 1, limit)
    if not latest:
        raise unknown_order(order_id)
    last = after + len(events)
    more = bool(events) and last < latest
    head = {
        "order_id": order_id,
        "version": latest,
        "next_cursor": encode_history_cursor(order_id, last) if more else None,
    }
    body = codec.dumps(head)[:-1] + b',"events":[' + b",".join(events) + b"]}"
    return Response(body, headers={"ETag": f'"{latest}"'}, media_type="application/json")
