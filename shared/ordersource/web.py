"""What both HTTP APIs share: RFC 9457 problem responses and bearer-token access control.

(The domain modules stay free of FastAPI; only the two API packages import this.)
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from ordersource.auth import Role, TokenBook
from ordersource.problems import problem

PROBLEM_JSON = "application/problem+json"


class ProblemError(Exception):
    """Raise anywhere in a handler to answer with a problem document."""

    def __init__(
        self,
        status: int,
        title: str,
        detail: str,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status, self.title, self.detail = status, title, detail
        self.headers = headers or {}
        self.extra = extra

    def response(self) -> JSONResponse:
        return problem_response(self.status, self.title, self.detail, self.headers, **self.extra)


def problem_response(
    status: int, title: str, detail: str, headers: dict[str, str] | None = None, **extra: Any
) -> JSONResponse:
    body = problem(status, title, detail, **extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
    },
    "additionalProperties": True,
}


def problem_responses(descriptions: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for error codes, documented as ``application/problem+json``."""
    return {
        status: {"description": text, "content": {PROBLEM_JSON: {"schema": PROBLEM_SCHEMA}}}
        for status, text in descriptions.items()
    }


def require(book: TokenBook, needed: Role) -> Callable[[Request], Coroutine[Any, Any, None]]:
    """A FastAPI dependency: 401 without a known bearer token, 403 without the role."""

    async def check(request: Request) -> None:
        if not book.enabled:
            return
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        role = book.role_of(token.strip()) if scheme.lower() == "bearer" and token else None
        if role is None:
            raise ProblemError(
                401,
                "Unauthorized",
                "send a valid bearer token: Authorization: Bearer <token>",
                {"WWW-Authenticate": 'Bearer realm="ordersource"'},
            )
        if not book.allows(role, needed):
            raise ProblemError(403, "Forbidden", f"this needs the {needed.value} role")

    return check


def install_problem_handlers(app: FastAPI) -> None:
    """Every error becomes a problem document: raised problems, schema errors (422, or
    400 for a body that is not JSON at all) and routing errors (404, 405)."""

    @app.exception_handler(ProblemError)
    async def _problem(_: Request, exc: ProblemError) -> JSONResponse:
        return exc.response()

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [_error(e) for e in exc.errors()]
        if any(e["type"] == "json_invalid" for e in errors):
            return problem_response(400, "Malformed JSON", "the body is not valid JSON")
        return problem_response(
            422, "Invalid request", "the request does not match the schema", errors=errors
        )

    @app.exception_handler(HTTPException)
    async def _http(_: Request, exc: HTTPException) -> JSONResponse:
        title = {404: "Not Found", 405: "Method Not Allowed"}.get(exc.status_code, "HTTP error")
        return problem_response(exc.status_code, title, str(exc.detail), dict(exc.headers or {}))


def _error(error: Any) -> dict[str, Any]:
    # Leave out pydantic's "input" and "ctx": they may echo huge or non-JSON values back.
    return {
        "type": str(error.get("type")),
        "loc": [str(p) for p in error.get("loc", ())],
        "msg": str(error.get("msg")),
    }
