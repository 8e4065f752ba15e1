"""One command, one trace: the command API's request span, the decider's span for the
command, the projector's span applying its event and the query API's read are one trace
across four processes, each child of the one before (``traceparent`` through the HTTP
request, the command record and the event record).

Every process writes its spans as JSON lines (``ORDERS_TRACING=file``) and logs JSON
(``ORDERS_LOG_FORMAT=json``); the test reads the files until the spans are there.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.http import place_body
from tests.support.waiting import wait_until

pytestmark = pytest.mark.e2e

SERVICES = ("decider", "projector", "command-api", "query-api")


def spans(folder: Path, service: str) -> list[dict[str, Any]]:
    path = folder / f"spans-{service}.jsonl"
    if not path.exists():
        return []
    lines = path.read_text().splitlines()
    return [json.loads(line) for line in lines if line.endswith("}")]  # a line may be half-written


def one(found: list[dict[str, Any]], what: str) -> dict[str, Any]:
    assert len(found) == 1, f"{what}: {found}"
    return found[0]


def test_one_command_is_one_trace_across_the_processes(services: Any, tmp_path: Path) -> None:
    folder = tmp_path / "spans"
    folder.mkdir()
    env = {
        "ORDERS_TRACING": "file",
        "ORDERS_TRACING_FILE": str(folder / "spans-{service}.jsonl"),
        "ORDERS_LOG_FORMAT": "json",
    }
    started = {name: services(name, env=env) for name in SERVICES}
    commands = httpx.Client(base_url=started["command-api"].url(), timeout=30)
    queries = httpx.Client(base_url=started["query-api"].url(), timeout=30)

    placed = commands.post("/orders", json=place_body(qty=2))
    assert placed.status_code == 201, placed.text
    order_id = placed.json()["order_id"]

    def api_spans() -> list[dict[str, Any]]:
        return [
            s
            for s in spans(folder, "command-api")
            if s["kind"] == "SpanKind.SERVER" and s["attributes"].get("orders.order_id") == order_id
        ]

    request = one(
        wait_until(api_spans, timeout=10, message="no request span from the command API"),
        "request spans",
    )
    trace_id = request["context"]["trace_id"]
    assert request["parent_id"] is None  # the client sent no traceparent: the trace starts here
    assert request["name"] == "POST /orders"
    assert request["attributes"]["http.response.status_code"] == 201
    assert request["resource"]["attributes"]["service.name"] == "ordersource-command-api"

    def in_trace(service: str, name: str) -> list[dict[str, Any]]:
        return [
            s
            for s in spans(folder, service)
            if s["name"] == name and s["context"]["trace_id"] == trace_id
        ]

    decide = one(
        wait_until(lambda: in_trace("decider", "decide"), 20, message="no decider span"),
        "decider spans",
    )
    assert decide["parent_id"] == request["context"]["span_id"]
    assert decide["attributes"]["orders.order_id"] == order_id
    assert decide["attributes"]["orders.command"] == "PlaceOrder"
    assert decide["resource"]["attributes"]["service.name"] == "ordersource-decider"

    applied = one(
        wait_until(lambda: in_trace("projector", "project event"), 20, message="no projector span"),
        "projector spans",
    )
    assert applied["parent_id"] == decide["context"]["span_id"]
    assert applied["kind"] == "SpanKind.CONSUMER"
    assert applied["resource"]["attributes"]["service.name"] == "ordersource-projector"
    # Linked to the span of the batch it was applied in (another trace, the projector's).
    (link,) = applied["links"]
    batches = {s["context"]["span_id"]: s for s in spans(folder, "projector")}
    assert batches[link["context"]["span_id"]]["name"] == "project batch"

    # The client carries the trace on to its read: the query API's span joins it.
    wait_until(
        lambda: queries.get(f"/orders/{order_id}").status_code == 200,
        timeout=10,
        message="placed order never visible",
    )
    traceparent = f"00-{trace_id.removeprefix('0x')}-{request['context']['span_id'][2:]}-01"
    read = queries.get(f"/orders/{order_id}", headers={"traceparent": traceparent})
    assert read.status_code == 200

    def query_spans() -> list[dict[str, Any]]:
        # "GET": answered by the fast lane, before routing (no route template known)
        return in_trace("query-api", "GET") + in_trace("query-api", "GET /orders/{order_id}")

    query = one(wait_until(query_spans, 10, message="no query API span"), "query spans")
    assert query["parent_id"] == request["context"]["span_id"]
    assert query["attributes"]["http.response.status_code"] == 200

    # Every process's JSON log lines parse; the probes made no spans.
    for name in SERVICES:
        log_lines = [line for line in started[name].log_path.read_text().splitlines() if line]
        records = [json.loads(line) for line in log_lines if line.startswith('{"ts"')]
        assert records, name
        assert all(r["service"] == name for r in records)
        assert not [s for s in spans(folder, name) if s["attributes"].get("url.path") == "/readyz"]
