"""The command API's answers: each refusal class gets its status and problem title, an
outcome 201 or 200, and a stored verdict is relayed byte for byte — also one stored
before this code (the verdict format is a contract between versions)."""

from __future__ import annotations

import pytest

from command_service import answers
from command_service.api import responses
from command_service.api.gateway import Decided, KeyReused, LogUnavailable, Pending
from command_service.decider.book import Outcome
from command_service.verdicts import Verdict
from ordersource.domain import (
    DomainError,
    InvalidCommand,
    OrderAlreadyExists,
    OrderNotFound,
    RuleViolated,
    VersionMismatch,
)

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("error", "status", "kind"),
    [
        (OrderNotFound("order o1 does not exist"), 404, "order-not-found"),
        (OrderAlreadyExists("order o1 already exists"), 409, "order-already-exists"),
        (RuleViolated("cannot pay a cancelled order"), 409, "business-rule-violated"),
        (VersionMismatch("at 2, not 1"), 412, "order-is-not-at-the-expected-version"),
        (InvalidCommand("amount must equal the total"), 422, "invalid-command"),
        (DomainError("some rule"), 409, "business-rule-violated"),
    ],
)
def test_each_refusal_gets_its_status_and_problem(
    error: DomainError, status: int, kind: str
) -> None:
    verdict = answers.refused("c1", error)
    assert (verdict.accepted, verdict.http_status) == (False, status)
    assert verdict.body == {
        "type": f"/problems/{kind}",
        "title": answers.REFUSALS[type(error)][1],
        "status": status,
        "detail": error.detail,
        "command_id": "c1",
    }


def test_a_refusal_subclass_without_a_row_gets_its_ancestors_answer() -> None:
    class OutOfStock(RuleViolated):
        pass

    assert answers.refusal(OutOfStock("no apples")) == (409, "Business rule violated")


def test_extras_of_a_refusal_are_members_of_the_problem() -> None:
    error = VersionMismatch("at 2, not 1", order_status="placed", version=2)
    body = answers.refused("c1", error).body
    assert (body["order_status"], body["version"]) == ("placed", 2)


def test_an_order_placed_is_201_any_other_outcome_200() -> None:
    placed = Outcome("o1", 1, "placed", ("e1",), None, created=True)
    paid = Outcome("o1", 2, "paid", ("e1", "e2"), None, created=False)
    assert answers.verdict("c1", placed).http_status == 201
    changed = answers.verdict("c2", paid)
    assert changed.http_status == 200
    assert changed.body == {
        "order_id": "o1",
        "version": 2,
        "status": "paid",
        "event_ids": ["e1", "e2"],
        "command_id": "c2",
    }


STORED_ACCEPTED = (
    b'{"command_id":"c1","accepted":true,"http_status":201,"body":{"order_id":"bob-1",'
    b'"version":1,"status":"placed","event_ids":["e1"],"command_id":"c1"}}'
)
STORED_REFUSED = (
    b'{"command_id":"c2","accepted":false,"http_status":412,"body":{"type":'
    b'"/problems/order-is-not-at-the-expected-version","title":"Order is not at the '
    b'expected version","status":412,"detail":"the order is at version 2, not 1",'
    b'"command_id":"c2","order_status":"placed","version":2}}'
)


def test_a_stored_verdict_is_relayed_byte_for_byte() -> None:
    placed = responses.respond(Decided(Verdict.from_bytes(STORED_ACCEPTED), replayed=True))
    assert placed.status_code == 201
    assert placed.body == (
        b'{"order_id":"bob-1","version":1,"status":"placed","event_ids":["e1"],"command_id":"c1"}'
    )
    assert placed.headers["etag"] == '"1"'
    assert placed.headers["location"] == "/orders/bob-1"
    assert placed.headers["idempotent-replayed"] == "true"
    refused = responses.respond(Decided(Verdict.from_bytes(STORED_REFUSED)))
    assert refused.status_code == 412
    assert refused.media_type == "application/problem+json"
    assert refused.body == (
        b'{"type":"/problems/order-is-not-at-the-expected-version","title":"Order is not at '
        b'the expected version","status":412,"detail":"the order is at version 2, not 1",'
        b'"command_id":"c2","order_status":"placed","version":2}'
    )
    assert "idempotent-replayed" not in refused.headers


def test_a_pending_command_is_a_202_with_its_location() -> None:
    reply = responses.respond(Pending("c1"))
    assert reply.status_code == 202
    assert reply.headers["location"] == "/commands/c1"
    assert reply.body == b'{"command_id":"c1","status":"pending","location":"/commands/c1"}'


def test_a_command_the_gateway_did_not_send_is_a_problem() -> None:
    unavailable = responses.refusal(LogUnavailable("c1")).response()
    assert (unavailable.status_code, unavailable.headers["retry-after"]) == (503, "1")
    assert b'"command_id":"c1"' in unavailable.body
    reused = responses.refusal(KeyReused()).response()
    assert reused.status_code == 422
    assert b'"title":"Idempotency-Key reused"' in reused.body
