"""The README walk-through through Python clients generated from the two live OpenAPI
documents (openapi-python-client): if the specs lie about a body, a parameter or a
status, the typed clients break here.

The clients are generated at test time into the test's tmp dir (offline, about a second
each; nothing generated is committed), with bearer tokens as in production."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from query_service.orders import MAX_WAIT_MS
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e

TOKENS = {"writer": ["w-token"], "reader": ["r-token"]}
GENERATOR = Path(sys.executable).with_name("openapi-python-client")


def generate(spec: dict[str, Any], package: str, into: Path) -> str:
    """Generate a client package from ``spec``; returns the generator's output."""
    spec_path = into / f"{package}.json"
    spec_path.write_text(json.dumps(spec))
    config = into / "config.json"
    config.write_text(json.dumps({"post_hooks": []}))  # no formatter run: faster, no ruff
    done = subprocess.run(
        [GENERATOR, "generate", "--path", spec_path, "--output-path", into / package,
         "--meta", "none", "--config", config, "--overwrite"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    return output


@pytest.fixture
def stack(services: Any, tmp_path: Path) -> Iterator[tuple[str, str, Path]]:
    env = {"ORDERS_AUTH_TOKENS": json.dumps(TOKENS)}
    services("decider", env=env)
    services("projector", env=env)
    commands = services("command-api", env=env).url()
    queries = services("query-api", env=env).url()
    sys.path.insert(0, str(tmp_path))
    try:
        yield commands, queries, tmp_path
    finally:
        sys.path.remove(str(tmp_path))
        for name in [
            m for m in sys.modules if m.split(".")[0] in ("command_client", "query_client")
        ]:
            del sys.modules[name]


def client_package(url: str, package: str, into: Path) -> ModuleType:
    spec = httpx.get(f"{url}/openapi.json", timeout=10).raise_for_status().json()
    output = generate(spec, package, into)
    assert "Warning" not in output, output  # e.g. a construct the generator cannot express
    return importlib.import_module(package)


def test_walkthrough_through_generated_clients(stack: tuple[str, str, Path]) -> None:
    commands_url, queries_url, into = stack
    command_client = client_package(commands_url, "command_client", into)
    query_client = client_package(queries_url, "query_client", into)
    place_order = importlib.import_module("command_client.api.commands.place_order")
    modify_order = importlib.import_module("command_client.api.commands.modify_order")
    get_order = importlib.import_module("query_client.api.orders.get_order")
    order_history = importlib.import_module("query_client.api.orders.order_history")
    list_orders = importlib.import_module("query_client.api.orders.list_orders")
    cm = importlib.import_module("command_client.models")
    qm = importlib.import_module("query_client.models")

    writer = command_client.AuthenticatedClient(base_url=commands_url, token="w-token", timeout=30)
    reader = query_client.AuthenticatedClient(base_url=queries_url, token="r-token", timeout=30)
    anonymous = query_client.Client(base_url=queries_url)
    order_id = f"bob-{uuid.uuid4().hex[:8]}"

    body = cm.PlaceOrderRequest(
        customer_id="bob",
        items=[cm.Line(sku="apple", quantity=5, unit_price_cents=120)],
        currency=cm.PlaceOrderRequestCurrency.EUR,
        order_id=order_id,
        channel="web",
    )
    placed = place_order.sync_detailed(client=writer, body=body)
    assert placed.status_code == 201
    assert isinstance(placed.parsed, cm.OrderAccepted)
    assert (placed.parsed.order_id, placed.parsed.version) == (order_id, 1)
    assert placed.parsed.status == cm.OrderStatus.PLACED
    assert placed.headers["ETag"] == '"1"'

    def visible() -> Any:
        answer = get_order.sync_detailed(order_id, client=reader)
        return answer.parsed if answer.status_code == 200 else None

    first = wait_until(visible, timeout=30, interval=0.02, message="placed order not visible")
    assert isinstance(first, qm.OrderView)
    assert first.items[0].quantity == 5
    assert first.channel == "web"

    six = cm.ModifyOrderRequest(changes=[cm.LineChange(sku="apple", quantity=6)])
    modified = modify_order.sync_detailed(order_id, client=writer, body=six, if_match='"1"')
    assert modified.status_code == 200
    assert isinstance(modified.parsed, cm.OrderAccepted)
    assert modified.parsed.version == 2
    stale = modify_order.sync_detailed(order_id, client=writer, body=six, if_match='"1"')
    assert stale.status_code == 412
    assert isinstance(stale.parsed, cm.Rejection)
    assert stale.parsed.version == 2

    fresh = get_order.sync_detailed(order_id, client=reader, min_version=2, wait_ms=MAX_WAIT_MS)
    assert fresh.status_code == 200
    view = fresh.parsed
    assert isinstance(view, qm.OrderView)
    assert view.version == 2
    assert view.items[0].quantity == 6
    assert view.items[0].line_total_cents == view.total_cents == 720
    assert view.status == qm.OrderStatus.PLACED
    assert view.updated_at >= view.created_at  # parsed as datetimes
    assert fresh.headers["ETag"] == '"2"'
    assert fresh.headers["X-View-Status"] == "current"

    history = order_history.sync(order_id, client=reader)
    assert isinstance(history, qm.OrderHistory)
    assert [e.version for e in history.events] == [1, 2]
    assert [e.type_ for e in history.events] == ["OrderPlaced", "OrderModified"]
    assert history.next_cursor is None
    first_page = order_history.sync(order_id, client=reader, limit=1)
    assert isinstance(first_page, qm.OrderHistory)
    assert [e.version for e in first_page.events] == [1]
    assert isinstance(first_page.next_cursor, str)
    rest = order_history.sync(order_id, client=reader, cursor=first_page.next_cursor)
    assert isinstance(rest, qm.OrderHistory)
    assert ([e.version for e in rest.events], rest.next_cursor) == ([2], None)
    since = order_history.sync(order_id, client=reader, after_version=1)
    assert isinstance(since, qm.OrderHistory)
    assert [e.version for e in since.events] == [2]

    then = get_order.sync_detailed(order_id, client=reader, at_version=1)
    assert isinstance(then.parsed, qm.OrderView)
    assert then.parsed.items[0].quantity == 5
    assert then.headers["X-View-Status"] == "historical"

    page = list_orders.sync(client=reader, customer_id="bob")
    assert isinstance(page, qm.OrderPage)
    assert [o.order_id for o in page.items] == [order_id]

    behind = get_order.sync_detailed(order_id, client=reader, min_version=3, wait_ms=0)
    assert behind.status_code == 409
    assert isinstance(behind.parsed, qm.ViewBehind)
    assert behind.parsed.current_version == 2
    denied = get_order.sync_detailed(order_id, client=anonymous)
    assert denied.status_code == 401
    assert isinstance(denied.parsed, qm.Problem)
