"""The command API's declared responses match what it really sends, for every status.

The real app, gateway and decider book; only Kafka and Redis are replaced by fakes (the
"log" decides each command at once, or holds it to provoke a 202). Verdicts are relayed
as stored, so FastAPI never validates them: ``tests/support/contracts.py`` does."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, cast

import pytest
from fastapi.testclient import TestClient

from command_service import answers
from command_service.api.app import create_app
from command_service.api.gateway import CommandGateway
from command_service.api.ports import LogRefused
from command_service.api.schemas import CommandStatus, OrderAccepted, PendingCommand, Rejection
from command_service.decider.book import PartitionBook
from command_service.verdicts import Verdict
from ordersource.domain import Command
from ordersource.ids import new_id
from ordersource.settings import Settings
from ordersource.web import Problem
from tests.support.contracts import check
from tests.support.http import place_body
from tests.support.write_side import FakeRedis

pytestmark = pytest.mark.unit

ORDERS, MODIFY, STATUS = "/orders", "/orders/{order_id}/modify", "/commands/{command_id}"


class InstantDecider:
    """Plays the command log and the verdict waiter: decides with the real book."""

    def __init__(self) -> None:
        self.book = PartitionBook(0)
        self.verdicts: dict[str, Verdict] = {}
        self.waiting: dict[str, Any] = {}
        self.held: list[Command] = []
        self.hold = False
        self.down = False

    async def send(self, command: Command) -> None:
        if self.down:
            raise LogRefused("no broker")
        if self.hold:
            self.held.append(command)
            return
        self.decide(command)

    def decide(self, command: Command) -> None:
        _, decision = self.book.judge(command, now=datetime.now(UTC), new_id=new_id)
        self.verdicts[command.command_id] = answers.verdict(command.command_id, decision)

    def expect(self, command_id: str) -> None:
        self.waiting[command_id] = None

    def forget(self, command_id: str) -> None:
        self.waiting.pop(command_id, None)

    async def wait(self, command_id: str, budget_s: float) -> Verdict | None:
        return self.verdicts.get(command_id)

    async def lookup(self, command_id: str) -> Verdict | None:
        return self.verdicts.get(command_id)


@pytest.fixture
def decider() -> InstantDecider:
    return InstantDecider()


def _client(decider: InstantDecider, settings: Settings) -> tuple[TestClient, dict[str, Any]]:
    app = create_app(settings)
    fake: Any = decider

    @asynccontextmanager
    async def lifespan(_: Any) -> AsyncIterator[None]:  # instead of Kafka and Redis
        app.state.gateway = CommandGateway(settings, cast(Any, FakeRedis()), fake, fake)
        yield

    app.router.lifespan_context = lifespan
    return TestClient(app), app.openapi()


@pytest.fixture
def api(decider: InstantDecider) -> Iterator[tuple[TestClient, dict[str, Any]]]:
    client, spec = _client(decider, Settings())
    with client:
        yield client, spec


def test_accepted_replayed_and_refused_commands(api: tuple[TestClient, dict[str, Any]]) -> None:
    client, spec = api
    key = {"Idempotency-Key": "k-1"}
    placed = client.post(ORDERS, json=place_body("bob-1"), headers=key)
    accepted = check(spec, "post", ORDERS, placed)
    assert isinstance(accepted, OrderAccepted)
    assert (placed.status_code, placed.headers["location"]) == (201, "/orders/bob-1")
    again = client.post(ORDERS, json=place_body("bob-1"), headers=key)
    assert again.headers["idempotent-replayed"] == "true"
    assert check(spec, "post", ORDERS, again) == accepted
    reused = client.post(ORDERS, json=place_body("bob-1", qty=2), headers=key)
    assert check(spec, "post", ORDERS, reused).status == 422
    twice = client.post(ORDERS, json=place_body("bob-1"))
    conflict = check(spec, "post", ORDERS, twice)
    assert isinstance(conflict, Rejection)
    assert (conflict.status, conflict.version) == (409, 1)

    six = {"changes": [{"sku": "apple", "quantity": 6}]}
    stale = client.post("/orders/bob-1/modify", json=six, headers={"If-Match": '"7"'})
    assert check(spec, "post", MODIFY, stale).status == 412
    changed = client.post("/orders/bob-1/modify", json=six, headers={"If-Match": '"1"'})
    assert check(spec, "post", MODIFY, changed).version == 2
    assert changed.headers["etag"] == '"2"'
    unpriced = {"changes": [{"sku": "pear", "quantity": 1}]}
    refused = check(spec, "post", MODIFY, client.post("/orders/bob-1/modify", json=unpriced))
    assert refused.status == 422
    assert refused.command_id is not None
    missing = client.post("/orders/nope/modify", json=six)
    assert check(spec, "post", MODIFY, missing).status == 404


def test_requests_refused_before_the_log(api: tuple[TestClient, dict[str, Any]]) -> None:
    client, spec = api
    invalid = client.post(ORDERS, json={"customer_id": "bob"})
    problem = check(spec, "post", ORDERS, invalid)
    assert problem.status == 422
    assert problem.errors
    plain = {"content-type": "application/json"}
    assert (
        check(spec, "post", ORDERS, client.post(ORDERS, content=b"{", headers=plain)).status == 400
    )
    text = client.post(ORDERS, content=b"x", headers={"content-type": "text/plain"})
    assert check(spec, "post", ORDERS, text).status == 415
    huge = client.post(ORDERS, content=b" " * (70 * 1024), headers=plain)
    assert check(spec, "post", ORDERS, huge).status == 413
    tag = client.post(ORDERS, json=place_body(), headers={"If-Match": "v1"})
    assert check(spec, "post", ORDERS, tag).status == 400
    big = client.post(ORDERS, json=place_body(), headers={"X-Padding": "x" * 17_000})
    assert check(spec, "post", ORDERS, big).status == 431


def test_pending_command_and_its_status(
    api: tuple[TestClient, dict[str, Any]], decider: InstantDecider
) -> None:
    client, spec = api
    decider.hold = True
    waiting = client.post(ORDERS, json=place_body("slow-1"))
    pending = check(spec, "post", ORDERS, waiting)
    assert isinstance(pending, PendingCommand)
    assert waiting.headers["location"] == pending.location == f"/commands/{pending.command_id}"
    status = check(spec, "get", STATUS, client.get(pending.location))
    assert isinstance(status, CommandStatus)
    assert status.status == "pending"
    decider.decide(decider.held.pop())
    decided = check(spec, "get", STATUS, client.get(pending.location))
    assert (decided.status, decided.http_status) == ("accepted", 201)
    assert isinstance(decided.result, OrderAccepted)
    decider.hold = False
    twice = client.post(ORDERS, json=place_body("slow-1"))
    rejected = check(spec, "get", STATUS, client.get(f"/commands/{twice.json()['command_id']}"))
    assert rejected.status == "rejected"
    assert isinstance(rejected.result, Rejection)
    unknown = client.get(f"/commands/{new_id()}")
    assert check(spec, "get", STATUS, unknown).status == 404


def test_event_log_unavailable(
    api: tuple[TestClient, dict[str, Any]], decider: InstantDecider
) -> None:
    client, spec = api
    decider.down = True
    down = client.post(ORDERS, json=place_body())
    problem = check(spec, "post", ORDERS, down)
    assert isinstance(problem, Rejection)
    assert (problem.status, problem.command_id is not None) == (503, True)
    assert down.headers["retry-after"] == "1"
    # Not in the log, so never "pending": GET /commands/{id} does not know it.
    unknown = client.get(f"/commands/{problem.command_id}")
    assert check(spec, "get", STATUS, unknown).status == 404


def test_unauthorised_and_forbidden(decider: InstantDecider) -> None:
    client, spec = _client(decider, Settings(auth_tokens={"writer": ["w"], "reader": ["r"]}))
    with client:
        anonymous = client.post(ORDERS, json=place_body())
        assert isinstance(check(spec, "post", ORDERS, anonymous), Problem)
        assert anonymous.status_code == 401
        reader = client.get(f"/commands/{new_id()}", headers={"Authorization": "Bearer r"})
        assert check(spec, "get", STATUS, reader).status == 403
