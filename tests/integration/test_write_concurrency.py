"""G2/G3 against real Kafka: one writer per order serialises concurrent commands."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
import pytest

from tests.support.eventlog import assert_contiguous, read_log, versions_by_order
from tests.support.http import Call, place_body, post_all

pytestmark = pytest.mark.integration


@pytest.fixture
def command_api(services: Any) -> str:
    services("decider")
    return str(services("command-api").url())


def test_same_if_match_lets_exactly_one_win(
    command_api: str, settings_env: Mapping[str, str]
) -> None:
    created = httpx.post(f"{command_api}/orders", json=place_body("race-1"), timeout=30)
    assert created.status_code == 201
    calls: list[Call] = [
        (
            "/orders/race-1/modify",
            {"changes": [{"sku": "apple", "quantity": q}]},
            {"If-Match": '"1"'},
        )
        for q in range(1, 31)
    ]
    responses = post_all(command_api, calls, concurrency=30)
    codes = sorted(r.status_code for r in responses)
    assert codes == [200] + [412] * 29
    for r in responses:
        if r.status_code == 412:
            assert r.headers["content-type"] == "application/problem+json"
            assert r.json()["version"] == 2
    assert versions_by_order(read_log(settings_env)) == {"race-1": [1, 2]}


def test_concurrent_commands_without_if_match_all_apply_in_order(
    command_api: str, settings_env: Mapping[str, str]
) -> None:
    assert (
        httpx.post(f"{command_api}/orders", json=place_body("busy-1"), timeout=30).status_code
        == 201
    )
    calls: list[Call] = [
        ("/orders/busy-1/modify", {"changes": [{"sku": "apple", "quantity": q}]}, {})
        for q in range(1, 101)
    ]
    responses = post_all(command_api, calls, concurrency=100)
    assert [r.status_code for r in responses] == [200] * 100
    assert sorted(r.json()["version"] for r in responses) == list(range(2, 102))
    logged = read_log(settings_env)
    assert_contiguous(logged)
    assert versions_by_order(logged)["busy-1"] == list(range(1, 102))
    command_ids = [e.event.command_id for e in logged]
    assert len(command_ids) == len(set(command_ids))
    assert {r.json()["command_id"] for r in responses} <= set(command_ids)
