"""Admission control in the real command API process: with room for one request in flight,
a request held open (its body never sent) fills it; the next is refused at once with 503
Overloaded, health still answers, and once the held one goes away a retry with the same
Idempotency-Key places the order (the refused command was never taken). The ops port
answers /healthz and /metrics meanwhile."""

from __future__ import annotations

import socket
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.support.http import place_body
from tests.support.waiting import wait_until

pytestmark = pytest.mark.component


def sample(metrics: str, series: str) -> float | None:
    for line in metrics.splitlines():
        if line.startswith(series + " "):
            return float(line.split()[-1])
    return None


def test_the_command_api_sheds_over_its_limit(services: Any) -> None:
    services("decider")
    api = services("command-api", env={"ORDERS_COMMAND_API_MAX_IN_FLIGHT": "1"})
    base = api.url()
    address = urlsplit(base)

    def in_flight() -> float | None:
        scraped = httpx.get(f"{base}/metrics", timeout=5).text
        return sample(scraped, "orders_command_api_requests_in_flight")

    assert in_flight() == 0
    body = place_body("shed-1")
    key = {"Idempotency-Key": "shed-key-1"}
    with socket.create_connection((address.hostname, address.port), timeout=10) as held:
        # Headers only: the API waits for a body that never comes, one request in flight.
        held.sendall(
            b"POST /orders HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100\r\n\r\n"
        )
        wait_until(lambda: in_flight() == 1, timeout=10, message="the held request never in")

        refused = httpx.post(f"{base}/orders", json=body, headers=key, timeout=5)
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "1"
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["title"] == "Overloaded"
        assert "not taken" in refused.json()["detail"]
        for path in ("/healthz", "/readyz"):
            assert httpx.get(f"{base}{path}", timeout=5).status_code == 200

        # The ops port (the ops agent, a process of its own) answers too, relaying the
        # API's registry.
        assert httpx.get(api.ops_url("/healthz"), timeout=5).json() == {"status": "ok"}
        ops_scraped = httpx.get(api.ops_url("/metrics"), timeout=5).text
        assert sample(ops_scraped, "orders_command_api_requests_in_flight") == 1
        assert httpx.get(api.ops_url("/readyz"), timeout=5).status_code == 404  # main port's

        scraped = httpx.get(f"{base}/metrics", timeout=5).text
        assert sample(scraped, "orders_command_api_requests_shed_total") == 1
        measured = 'orders_command_api_request_seconds_count{route="unmatched",status="503"}'
        assert sample(scraped, measured) == 1

    # The client went away: its request no longer counts, and the retry is admitted.
    wait_until(lambda: in_flight() == 0, timeout=10, message="the held request still counted")
    placed = httpx.post(f"{base}/orders", json=body, headers=key, timeout=30)
    assert placed.status_code == 201, placed.text
    again = httpx.post(f"{base}/orders", json=body, headers=key, timeout=30)
    assert again.status_code == 201
    assert again.headers.get("idempotent-replayed") == "true"
    assert again.json()["order_id"] == placed.json()["order_id"]
