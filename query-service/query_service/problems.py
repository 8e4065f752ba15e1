"""Problem responses of the query API: the shared handlers (``ordersource.web``), plus
503 when Redis does not answer and a 500 that leaks nothing for anything unexpected
(a bug, never a reaction to input)."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ordersource.web import ProblemError, install_problem_handlers, problem_response

Problem = ProblemError
log = logging.getLogger(__name__)


def install(app: FastAPI) -> None:
    install_problem_handlers(app)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        if isinstance(exc, RedisConnectionError | RedisTimeoutError | OSError):
            return problem_response(
                503, "Views unavailable", "the view store does not answer", {"Retry-After": "1"}
            )
        log.exception("unexpected error")
        return problem_response(500, "Internal error", "unexpected error; see the service log")
