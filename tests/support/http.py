"""HTTP helpers for tests: request bodies and concurrent calls with httpx."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import httpx

KEEPALIVE_S = 2.0
"""How long the tests' clients keep an idle connection: well under uvicorn's
``timeout_keep_alive`` (5 s). With both at 5 s (httpx's default) a client may send on a
connection at the moment the server closes it, and a POST fails with ``ReadError``
(never sent twice: httpx does not retry it) — a failure of the test's client, not of
the service."""


def limits(connections: int) -> httpx.Limits:
    """The connection pool of a test client making up to ``connections`` calls at once."""
    return httpx.Limits(max_connections=connections, keepalive_expiry=KEEPALIVE_S)


def place_body(order_id: str | None = None, qty: int = 5, customer: str = "bob") -> dict[str, Any]:
    body: dict[str, Any] = {
        "customer_id": customer,
        "items": [{"sku": "apple", "quantity": qty, "unit_price_cents": 120}],
        "currency": "EUR",
    }
    if order_id is not None:
        body["order_id"] = order_id
    return body


Call = tuple[str, dict[str, Any], dict[str, str]]  # path, json body, headers


def post_all(base_url: str, calls: Sequence[Call], concurrency: int = 50) -> list[httpx.Response]:
    """POST every call, at most ``concurrency`` at a time; responses in call order."""

    async def run() -> list[httpx.Response]:
        gate = asyncio.Semaphore(concurrency)
        async with httpx.AsyncClient(
            base_url=base_url, timeout=60, limits=limits(concurrency)
        ) as client:

            async def one(call: Call) -> httpx.Response:
                path, body, headers = call
                async with gate:
                    return await client.post(path, json=body, headers=headers)

            return await asyncio.gather(*(one(c) for c in calls))

    return asyncio.run(run())
