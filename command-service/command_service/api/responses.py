"""The command routes' HTTP responses: the gateway's replies and refusals as status,
headers and body.

A decided command is its verdict relayed as stored (status and body, made once by
``answers.py``), with ``ETag`` (the order's version), ``Location`` on a 201 and
``Idempotent-Replayed`` on a retried key's stored answer; refusals are
``application/problem+json``. A pending command is a 202 whose ``Location`` is polled.
"""

from __future__ import annotations

from fastapi.responses import JSONResponse

from command_service.answers import PLACED
from command_service.api.gateway import Decided, KeyReused, LogUnavailable, Pending, Reply
from ordersource.web import PROBLEM_JSON, ProblemError


def respond(reply: Reply) -> JSONResponse:
    if isinstance(reply, Pending):
        return JSONResponse(
            {"command_id": reply.command_id, "status": "pending", "location": reply.location},
            status_code=202,
            headers={"Location": reply.location},
        )
    return _decided(reply)


def _decided(reply: Decided) -> JSONResponse:
    verdict = reply.verdict
    headers: dict[str, str] = {}
    if reply.replayed:
        headers["Idempotent-Replayed"] = "true"
    if verdict.accepted:
        headers["ETag"] = f'"{verdict.body["version"]}"'
        if verdict.http_status == PLACED:
            headers["Location"] = f"/orders/{verdict.body['order_id']}"
        return JSONResponse(verdict.body, status_code=verdict.http_status, headers=headers)
    return JSONResponse(
        verdict.body, status_code=verdict.http_status, headers=headers, media_type=PROBLEM_JSON
    )


def refusal(error: LogUnavailable | KeyReused) -> ProblemError:
    """The problem a command gets when the gateway did not send it."""
    if isinstance(error, KeyReused):
        return ProblemError(
            422,
            "Idempotency-Key reused",
            "this Idempotency-Key was already used with a different request",
        )
    return ProblemError(
        503,
        "Event log unavailable",
        "the command was not accepted; retrying with the same Idempotency-Key is safe",
        headers={"Retry-After": "1"},
        command_id=error.command_id,
    )
