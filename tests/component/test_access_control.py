"""Access control: bearer tokens with roles; 401/403 as problem+json; health stays open.
Idempotency-Keys are scoped per token. And a Redis ACL user with a password: the services
work with it, and not without it."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import Any

import httpx
import pytest
import redis

from ordersource import keys
from tests.support.http import place_body
from tests.support.net import free_port, http_status

pytestmark = pytest.mark.component

TOKENS = {"writer": ["w-token"], "reader": ["r-token"], "admin": ["a-token"]}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_roles_guard_the_apis(services: Any) -> None:
    env = {"ORDERS_AUTH_TOKENS": json.dumps(TOKENS)}
    services("decider", env=env)
    commands = services("command-api", env=env).url()
    queries = services("query-api", env=env).url()

    anonymous = httpx.post(f"{commands}/orders", json=place_body("auth-1"))
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"] == "application/problem+json"
    assert anonymous.headers["www-authenticate"].startswith("Bearer")
    wrong = httpx.post(f"{commands}/orders", json=place_body("auth-1"), headers=bearer("nope"))
    assert wrong.status_code == 401
    reader = httpx.post(f"{commands}/orders", json=place_body("auth-1"), headers=bearer("r-token"))
    assert reader.status_code == 403
    assert reader.json()["status"] == 403

    placed = httpx.post(
        f"{commands}/orders", json=place_body("auth-1"), headers=bearer("w-token"), timeout=30
    )
    assert placed.status_code == 201
    by_admin = httpx.post(
        f"{commands}/orders/auth-1/modify",
        json={"changes": [{"sku": "apple", "quantity": 2}]},
        headers=bearer("a-token"),
        timeout=30,
    )
    assert by_admin.status_code == 200

    # The query API (no projector here: an authorised read of a missing view is a 404).
    assert httpx.get(f"{queries}/orders/none").status_code == 401
    assert httpx.get(f"{queries}/orders/none", headers=bearer("w-token")).status_code == 403
    for token in ("r-token", "a-token"):
        assert httpx.get(f"{queries}/orders/none", headers=bearer(token)).status_code == 404
        assert httpx.get(f"{queries}/stats", headers=bearer(token)).status_code == 200
    for url in (commands, queries):
        assert http_status(f"{url}/healthz") == 200
        assert http_status(f"{url}/readyz") == 200


def test_an_idempotency_key_belongs_to_the_token_that_sent_it(services: Any) -> None:
    env = {"ORDERS_AUTH_TOKENS": json.dumps(TOKENS)}
    services("decider", env=env)
    commands = services("command-api", env=env).url()

    def place(token: str, key: str) -> httpx.Response:
        headers = {**bearer(token), "Idempotency-Key": key}
        return httpx.post(f"{commands}/orders", json=place_body(), headers=headers, timeout=30)

    first = place("w-token", "shared-key")
    other = place("a-token", "shared-key")  # same key, same body, another principal
    again = place("w-token", "shared-key")
    assert (first.status_code, other.status_code, again.status_code) == (201, 201, 201)
    # The other principal's command is its own: another command, another order.
    assert other.json()["command_id"] != first.json()["command_id"]
    assert other.json()["order_id"] != first.json()["order_id"]
    assert "idempotent-replayed" not in other.headers
    # The first principal's retry is the original answer.
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"


def test_services_use_a_redis_acl_user(services: Any, settings_env: Mapping[str, str]) -> None:
    admin = redis.Redis.from_url(settings_env["ORDERS_REDIS_URL"])
    user, password = f"orders-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    admin.acl_setuser(
        user,
        enabled=True,
        passwords=[f"+{password}"],
        keys=["*"],
        channels=["*"],
        commands=["+@all"],
    )
    try:
        acl = {"ORDERS_REDIS_USERNAME": user, "ORDERS_REDIS_PASSWORD": password}
        services("decider", env=acl)
        commands = services("command-api", env=acl).url()
        queries = services("query-api", env=acl).url()
        # A 201 needs the verdict, which travels through Redis as the ACL user.
        placed = httpx.post(f"{commands}/orders", json=place_body("acl-1"), timeout=30)
        assert placed.status_code == 201
        assert admin.exists(keys.result(placed.json()["command_id"]))
        assert http_status(f"{queries}/readyz") == 200
        # The same service with a wrong password is alive but not ready, and says so.
        locked_out = services(
            "query-api",
            env={
                **acl,
                "ORDERS_REDIS_PASSWORD": "wrong",
                "ORDERS_QUERY_API_PORT": str(free_port()),
                "ORDERS_QUERY_API_OPS_PORT": str(free_port()),
            },
            wait=False,
        )
        locked_out.wait_http_ok(locked_out.url("/healthz"), timeout=30)
        assert http_status(locked_out.url("/readyz")) == 503
    finally:
        admin.acl_deluser(user)
