"""The fast lane: ``GET /orders/{order_id}`` without query parameters — the read nearly
every client makes — answered by a plain ASGI handler, not by FastAPI's router.

Profiled under load (``py-spy``), FastAPI's routing and dependency resolution (the
bearer-token security scheme, the store dependency, eight query and header parameters
validated one by one) cost several times the Redis read itself. This handler does the
same request with the same functions — ``ordersource.web.authorize`` for the token,
the view store's ``at`` / ``order_json`` for the one Redis ``GET``, ``orders.view_response``
for the answer (ETag, ``X-View-Status``, 304 on a matching ``If-None-Match``), the
same 401/403/404/503 problem documents — and gives the same bytes; a test holds it
to that (``tests/unit/test_query_fastlane.py``). Anything else — a query string, another
path or method, an order id or an ``If-None-Match`` the route would judge — goes on to
FastAPI untouched, so the route stays the one definition of the API (and of its
OpenAPI document).

It sits inside the admission control and the request metrics (``ordersource.admission``):
a fast read is counted, refused when the process is overloaded, and observed under the
route's own label. Behind a proxy that sets an ASGI ``root_path`` the lane steps aside
(every request goes to the router). ``check_not_shadowing`` keeps a future
``GET /orders/<literal>`` route from being answered as an order lookup.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ordersource import codec
from ordersource.auth import Role, TokenRegistry
from ordersource.web import ProblemError, authorize, bearer_credentials
from query_service import problems
from query_service.orders import unknown_order, view_response

if TYPE_CHECKING:
    from starlette.types import ASGIApp, Receive, Scope, Send

    from query_service.store import ViewStore

PREFIX = "/orders/"
ROUTE = "/orders/{order_id}"
ORDER_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
"""Order ids the fast lane takes (the ones the command API lets be created); any other
path segment goes to the route, which answers for it."""
MAX_IF_NONE_MATCH = 256
"""The route's limit for the header (longer: its 422)."""


@dataclass(frozen=True)
class RouteLabel:
    path: str


ROUTE_LABEL = RouteLabel(ROUTE)
"""Put in the scope as its "route": the request metrics label a request by its route's
path (``ordersource.metrics.RequestMetrics``), as FastAPI's router would."""


def check_not_shadowing(routes: Iterable[Any]) -> None:
    """The lane takes every ``GET /orders/<one segment>`` before the router runs: a route
    with a literal segment there (say ``/orders/summary``) would never be reached. Called
    when the app is made, so such a route fails at start-up, not silently."""
    for route in routes:
        path = getattr(route, "path", "")
        one_segment = path.startswith(PREFIX) and "/" not in path[len(PREFIX) :]
        if one_segment and path != ROUTE and "GET" in (getattr(route, "methods", None) or ()):
            raise RuntimeError(f"GET {path} would be answered by the fast lane as an order")


class FastReads:
    def __init__(self, app: ASGIApp, tokens: TokenRegistry) -> None:
        self.app = app
        self.tokens = tokens
        self.served = 0
        """Requests this lane answered (for tests and the curious)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        order_id = self._order_id(scope)
        if order_id is None:
            await self.app(scope, receive, send)
            return
        authorization = if_none_match = None
        for name, value in scope["headers"]:
            if name == b"authorization" and authorization is None:
                authorization = value.decode("latin-1")
            elif name == b"if-none-match" and if_none_match is None:
                if_none_match = value.decode("latin-1")
        if if_none_match is not None and len(if_none_match) > MAX_IF_NONE_MATCH:
            await self.app(scope, receive, send)
            return
        scope["route"] = ROUTE_LABEL
        store: ViewStore = scope["app"].state.store
        try:
            authorize(self.tokens, Role.READER, bearer_credentials(authorization))
            views = await store.at(None)
            assert views is not None  # the current generation always binds
            raw = await views.order_json(order_id)
            if raw is None:
                raise unknown_order(order_id)
            response = view_response(raw, codec.loads(raw)["version"], "current", if_none_match)
        except ProblemError as problem:
            response = problem.response()
        except problems.UNAVAILABLE:
            response = problems.unavailable()
        self.served += 1
        await response(scope, receive, send)

    @staticmethod
    def _order_id(scope: Scope) -> str | None:
        if scope["type"] != "http" or scope["method"] != "GET" or scope["query_string"]:
            return None
        path: str = scope["path"]
        if scope.get("root_path") or not path.startswith(PREFIX):
            return None
        order_id = path[len(PREFIX) :]
        return order_id if ORDER_ID.fullmatch(order_id) else None
