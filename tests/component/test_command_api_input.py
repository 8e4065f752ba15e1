"""G8: hostile input gets the right 4xx problem, never a 5xx, and nothing reaches the log."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
import pytest

from tests.support.eventlog import read_log
from tests.support.http import place_body

pytestmark = pytest.mark.component

JSON = {"Content-Type": "application/json"}


def body(**changes: Any) -> dict[str, Any]:
    return {**place_body(), **changes}


def line(**changes: Any) -> dict[str, Any]:
    return {"items": [{"sku": "apple", "quantity": 5, "unit_price_cents": 120, **changes}]}


CASES: list[tuple[str, str, Any, dict[str, str], int]] = [
    ("malformed json", "/orders", b'{"customer_id": ', JSON, 400),
    ("not json", "/orders", b"customer=bob", {"Content-Type": "text/plain"}, 415),
    ("no content type", "/orders", b"{}", {}, 415),
    ("array body", "/orders", [1, 2], {}, 422),
    ("wrong type", "/orders", body(customer_id=7), {}, 422),
    ("unknown field", "/orders", body(coupon="FREE"), {}, 422),
    ("zero quantity", "/orders", body(**line(quantity=0)), {}, 422),
    ("negative quantity", "/orders", body(**line(quantity=-3)), {}, 422),
    ("huge quantity", "/orders", body(**line(quantity=10**30)), {}, 422),
    ("float money", "/orders", body(**line(unit_price_cents=1.5)), {}, 422),
    ("string money", "/orders", body(**line(unit_price_cents="120")), {}, 422),
    ("negative money", "/orders", body(**line(unit_price_cents=-1)), {}, 422),
    ("no lines", "/orders", body(items=[]), {}, 422),
    (
        "101 lines",
        "/orders",
        body(items=[{"sku": f"s{i}", "quantity": 1, "unit_price_cents": 1} for i in range(101)]),
        {},
        422,
    ),
    ("duplicate sku", "/orders", body(items=line()["items"] * 2), {}, 422),
    ("price above 10^12", "/orders", body(**line(unit_price_cents=10**12 + 1)), {}, 422),
    (
        "order total above 10^15",  # each line allowed (10^15), the sum is not
        "/orders",
        body(items=[{"sku": s, "quantity": 1000, "unit_price_cents": 10**12} for s in "ab"]),
        {},
        422,
    ),
    ("bad currency", "/orders", body(currency="EURO"), {}, 422),
    ("unknown currency", "/orders", body(currency="XYZ"), {}, 422),
    ("empty customer", "/orders", body(customer_id=""), {}, 422),
    ("long customer", "/orders", body(customer_id="c" * 65), {}, 422),
    ("bad id chars", "/orders", body(order_id="a/b"), {}, 422),
    ("unicode id", "/orders", body(customer_id="bøb"), {}, 422),
    ("null body field", "/orders", body(items=None), {}, 422),
    ("oversized body", "/orders", {"customer_id": "x" * 70_000}, {}, 413),
    ("bad if-match", "/orders", body(), {"If-Match": "seven"}, 400),
    ("long idempotency key", "/orders", body(), {"Idempotency-Key": "k" * 129}, 422),
    ("unknown order", "/orders/ghost/modify", {"changes": [{"sku": "a", "quantity": 1}]}, {}, 404),
    ("pay unknown order", "/orders/ghost/pay", {"amount_cents": 1, "payment_ref": "p"}, {}, 404),
    ("bad path id", "/orders/a%20b/cancel", {"reason": "x"}, {}, 422),
    ("empty changes", "/orders/ghost/modify", {"changes": []}, {}, 422),
    ("float payment", "/orders/ghost/pay", {"amount_cents": 1.0, "payment_ref": "p"}, {}, 422),
    (
        "payment above 10^15",
        "/orders/ghost/pay",
        {"amount_cents": 10**15 + 1, "payment_ref": "p"},
        {},
        422,
    ),
    (
        "payment of 10^15",
        "/orders/ghost/pay",
        {"amount_cents": 10**15, "payment_ref": "p"},
        {},
        404,
    ),
    ("missing reason", "/orders/ghost/cancel", {}, {}, 422),
    ("empty reason", "/orders/ghost/cancel", {"reason": ""}, {}, 422),
]


def test_hostile_input_is_refused_and_writes_nothing(
    services: Any, settings_env: Mapping[str, str]
) -> None:
    services("decider")
    api = services("command-api")
    failures = []
    with httpx.Client(base_url=api.url(), timeout=30) as client:
        for name, path, payload, headers, expected in CASES:
            if isinstance(payload, bytes):
                response = client.post(path, content=payload, headers=headers)
            else:
                response = client.post(path, json=payload, headers=headers)
            problem_type = response.headers.get("content-type", "")
            if response.status_code != expected or problem_type != "application/problem+json":
                failures.append(f"{name}: {response.status_code} {problem_type} {response.text}")
            else:
                assert response.json()["status"] == expected
    assert failures == []
    assert read_log(settings_env) == []


def test_hostile_transport_level_input_never_gets_a_5xx(
    services: Any, settings_env: Mapping[str, str]
) -> None:
    services("decider")
    api = services("command-api")
    nested = '{"items": ' + "[" * 5000 + "1" + "]" * 5000 + "}"
    cases: list[tuple[str, str, dict[str, Any], set[int]]] = [
        ("deeply nested JSON", "/orders", {"content": nested}, {400, 422}),
        (
            "huge header",
            "/orders",
            {"json": place_body(), "headers": {"X-Pad": "a" * 100_000}},
            {400, 413, 431},
        ),
        ("unicode sku", "/orders", {"json": body(**line(sku="äpfel"))}, {422}),
        ("zero-width id", "/orders", {"json": body(customer_id="bob\u200b")}, {422}),
        ("emoji currency", "/orders", {"json": body(currency="€UR")}, {422}),
        ("NUL in body", "/orders", {"content": '{"customer_id": "b\\u0000b"}'}, {422}),
        (
            "path traversal id",
            "/orders/..%2F..%2Fetc/cancel",
            {"json": {"reason": "x"}},
            {404, 422},
        ),
        ("dot-dot id", "/orders/../orders/cancel", {"json": {"reason": "x"}}, {404, 405, 422}),
        ("lone surrogate", "/orders", {"content": '{"customer_id": "\\ud800"}'}, {400, 422}),
    ]
    failures = []
    with httpx.Client(base_url=api.url(), timeout=30) as client:
        for name, path, kwargs, allowed in cases:
            headers = {"Content-Type": "application/json", **kwargs.pop("headers", {})}
            try:
                response = client.post(path, headers=headers, **kwargs)
            except httpx.RemoteProtocolError:
                # Dropping an absurd request (a 100 kB header) outright is a fine answer too.
                assert name == "huge header"
                continue
            if response.status_code not in allowed:
                failures.append(f"{name}: {response.status_code} {response.text[:200]}")
    assert failures == []
    assert read_log(settings_env) == []
