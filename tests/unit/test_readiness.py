"""The one /readyz rule: which status a process reports, and the body's shape."""

from __future__ import annotations

import pytest

from ordersource.readiness import Status, readiness

pytestmark = pytest.mark.unit


def test_ready_when_every_check_holds() -> None:
    r = readiness({"redis": True, "assigned": True}, dependencies=["redis"])
    assert (r.status, r.ready, r.http_status) == (Status.OK, True, 200)
    assert r.body() == {"ready": True, "status": "ok", "checks": {"redis": True, "assigned": True}}


def test_a_dependency_that_does_not_answer_is_unavailable() -> None:
    r = readiness({"redis": False, "assigned": False}, dependencies=["redis"])
    assert (r.status, r.http_status) == (Status.UNAVAILABLE, 503)


def test_answering_dependencies_but_not_there_yet_is_starting() -> None:
    r = readiness({"redis": True, "caught_up": False}, dependencies=["redis"])
    assert (r.status, r.http_status) == (Status.STARTING, 503)


def test_a_dependency_down_is_unavailable_even_while_work_fails_against_it() -> None:
    failure = {"reason": "ConnectionError: Error 111 connecting", "failed_attempts": 4}
    r = readiness({"redis": False, "assigned": True}, ["redis"], failure)
    assert (r.status, r.http_status) == (Status.UNAVAILABLE, 503)
    assert r.body()["reason"] == failure["reason"]  # still says why


def test_failing_while_the_dependency_answers_says_why() -> None:
    failure = {"reason": "OutOfMemoryError: OOM command not allowed", "failed_attempts": 3}
    r = readiness({"redis": True}, ["redis"], failure, undelivered_verdicts=0)
    assert (r.status, r.http_status) == (Status.FAILING, 503)
    body = r.body()
    assert body["status"] == "failing"
    assert body["reason"] == failure["reason"]
    assert body["undelivered_verdicts"] == 0
    assert set(body) >= {"ready", "status", "checks"}
