"""Issue 12 on the real stack (Kafka + Redis + every process).

Scenario 1: many valid orders at the money bounds in one currency. Before, 94 orders of
10^17 cents each overflowed the per-currency HINCRBY inside the commit script and the
projector failed on that batch forever. Now an order is at most 10^15 cents, the totals
in Redis are limbs, and /stats reports the exact sum (past 2^63) as a string.

Scenario 9: after a clean blue/green replay ``orders verify`` passes with a currency
whose orders total 0 (the fold said ``total_cents: 0``, Redis had no field).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import httpx
import pytest

from ordersource.domain.types import MAX_ORDER_TOTAL_CENTS
from tests.support.events import T0, placed
from tests.support.http import post_all
from tests.support.read_side import append, get_json, start_read_side, wait_verified
from tests.support.replays import orders_cli
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

AT_THE_BOUND = [  # 100 lines x 1000 x 10^10 cents = 10^15, the largest order total
    {"sku": f"s{i}", "quantity": 1000, "unit_price_cents": 10**10} for i in range(100)
]
ONE_BIG_LINE = [{"sku": "gold", "quantity": 1000, "unit_price_cents": 10**12}]  # also 10^15
API_ORDERS = 100
LOGGED_ORDERS = 9_300  # appended the decider's way: the sum passes 2^63 (9.22 x 10^18)


def _order(i: int) -> dict[str, Any]:
    items = AT_THE_BOUND if i % 2 else ONE_BIG_LINE
    return {"order_id": f"big{i}", "customer_id": f"c{i % 5}", "currency": "EUR", "items": items}


def test_orders_at_the_money_bounds_never_wedge_the_projection(
    services: Any, settings_env: Mapping[str, str]
) -> None:
    services("decider")
    command_api = services("command-api")
    _, query = start_read_side(services)

    placed_ = post_all(command_api.url(), [("/orders", _order(i), {}) for i in range(API_ORDERS)])
    assert [r.status_code for r in placed_] == [201] * API_ORDERS, placed_[0].text
    with httpx.Client(base_url=command_api.url(), timeout=60) as commands:
        over = _order(API_ORDERS) | {"items": [*ONE_BIG_LINE, {**ONE_BIG_LINE[0], "sku": "x"}]}
        refused = commands.post("/orders", json=over)
        assert refused.status_code == 422, refused.text  # 2 x 10^15: above the bound
        grow = {"changes": [{"sku": "more", "quantity": 1, "unit_price_cents": 1}]}
        conflict = commands.post("/orders/big0/modify", json=grow)
        assert conflict.status_code == 409, conflict.text
        assert "above" in conflict.json()["detail"]
        pay = {"amount_cents": MAX_ORDER_TOTAL_CENTS, "payment_ref": "psp-max"}
        paid = commands.post("/orders/big1/pay", json=pay)  # the largest total can be paid
        assert paid.status_code == 200, paid.text
        shrink = {"changes": [{"sku": "gold", "quantity": 999}]}
        assert commands.post("/orders/big2/modify", json=shrink).status_code == 200

    bootstrap, topic = settings_env["ORDERS_KAFKA_BOOTSTRAP"], settings_env["ORDERS_EVENTS_TOPIC"]
    at = T0 + timedelta(days=1)
    logged = [placed(f"log{i}", quantity=1000, price=10**12, at=at) for i in range(LOGGED_ORDERS)]
    append(bootstrap, topic, logged, chunk=2_000)

    orders = API_ORDERS + LOGGED_ORDERS
    exact = orders * MAX_ORDER_TOTAL_CENTS - 10**12  # big2 shrank by one unit
    assert exact > 2**63

    def stats() -> Any:
        body = get_json(query.url("/stats"))
        return body if body["orders"] == orders else None

    body = wait_until(stats, 120, interval=0.5, message="the projection did not catch up")
    assert body["by_currency"] == {"EUR": {"orders": orders, "total_cents": str(exact)}}
    assert body["by_status"]["paid"] == 1
    projection = get_json(query.url("/projection"))
    assert projection["dead_letters"] == 0
    assert projection["events_applied"] == orders + 2  # + the pay and the modify
    wait_verified(settings_env, timeout=120)
    verified = orders_cli(settings_env, "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert f"views equal the fold of {orders + 2} events" in verified.stdout


def test_verify_after_a_replay_with_a_currency_whose_total_is_zero(
    services: Any, settings_env: Mapping[str, str]
) -> None:
    bootstrap, topic = settings_env["ORDERS_KAFKA_BOOTSTRAP"], settings_env["ORDERS_EVENTS_TOPIC"]
    events = [placed(f"free{i}", price=0, currency="JPY") for i in range(3)]
    events += [placed(f"eur{i}", quantity=2, price=150) for i in range(2)]
    append(bootstrap, topic, events)
    _, query = start_read_side(services)
    wait_verified(settings_env)  # stats included: no "stats differ" for JPY

    replayed = orders_cli(settings_env, "replay", "--to-earliest", "--blue-green")
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    verified = orders_cli(settings_env, "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "views equal the fold of 5 events" in verified.stdout
    body = get_json(query.url("/stats"))
    assert body["generation"] == "2"
    assert body["by_currency"] == {
        "EUR": {"orders": 2, "total_cents": "600"},
        "JPY": {"orders": 3, "total_cents": "0"},
    }
