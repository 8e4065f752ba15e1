"""Problem responses of the query API: the shared handlers (``ordersource.web``, which
also turn anything unexpected into a 500 that leaks nothing), plus 503 when Redis does
not answer."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ordersource.web import ProblemError, install_problem_handlers, problem_response

Problem = ProblemError
UNAVAILABLE = (RedisConnectionError, RedisTimeoutError, OSError)


def unavailable() -> JSONResponse:
    """The answer while Redis does not answer (``UNAVAILABLE``)."""
    return problem_response(
        503, "Views unavailable", "the view store does not answer", {"Retry-After": "1"}
    )


def install(app: FastAPI) -> None:
    install_problem_handlers(app)

    async def _unavailable(_: Request, exc: Exception) -> JSONResponse:
        return unavailable()

    # Handlers for these classes (not ``Exception``) run inside the app: a 503, not an error.
    for kind in UNAVAILABLE:
        app.add_exception_handler(kind, _unavailable)
