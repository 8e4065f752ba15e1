"""What both HTTP APIs share: RFC 9457 problem responses and bearer-token access control.

(The domain modules stay free of FastAPI; only the two API packages import this.)
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import FastAPI, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.security.utils import get_authorization_scheme_param
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException

from ordersource.auth import ANONYMOUS, Principal, Role, TokenRegistry
from ordersource.problems import problem
from ordersource.settings import Settings

PROBLEM_JSON = "application/problem+json"
NO_TELEMETRY: Any = {"tracing": False, "metrics": False, "logs": False}
"""``FastAPI(telemetry=...)`` for both APIs: FastAPI's own OpenTelemetry hooks look the
providers up on every request (several per cent of a profiled API's CPU); the project
measures with prometheus-client (``ordersource.metrics``)."""
log = logging.getLogger(__name__)


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


class FieldError(BaseModel):
    """One reason a request does not match the schema (422)."""

    type: str = Field(description="Error kind, e.g. missing, int_parsing, value_error")
    loc: list[str] = Field(description='Where: e.g. ["body", "items", "0", "quantity"]')
    msg: str


class Problem(BaseModel):
    """An RFC 9457 problem document (``application/problem+json``): every error of both
    APIs. Some carry extension members beside these (documented per response)."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "type": "/problems/not-found",
                    "title": "Not Found",
                    "status": 404,
                    "detail": "order bob-1 does not exist",
                }
            ]
        },
    )
    type: str = Field(
        description="Problem type, a relative URI: /problems/ and the title in kebab case"
    )
    title: str = Field(description="Short, stable summary of the problem type")
    status: int = Field(description="The HTTP status code, repeated")
    detail: str = Field(description="What went wrong with this request, for a human")
    errors: list[FieldError] | None = Field(
        default=None, description="Schema violations, on 422 responses to invalid input"
    )


INTERNAL_ERROR = "Internal error (a bug); nothing in the body, the service log has the details"
_DEFAULT_HEADERS: dict[int, dict[str, Any]] = {
    401: {
        "WWW-Authenticate": {
            "description": 'Bearer realm="ordersource"',
            "schema": {"type": "string"},
        }
    },
    503: {
        "Retry-After": {
            "description": "Seconds to wait before retrying",
            "schema": {"type": "integer"},
        }
    },
}


def problem_responses(
    descriptions: dict[int, str], models: dict[int, type[Problem]] | None = None
) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for error codes: documented as ``application/problem+json``
    with the ``Problem`` schema (or a subclass with its extension members, per status)."""
    models = models or {}
    responses: dict[int | str, dict[str, Any]] = {}
    for status, text in descriptions.items():
        response: dict[str, Any] = {"description": text, "model": models.get(status, Problem)}
        if status in _DEFAULT_HEADERS:
            response["headers"] = _DEFAULT_HEADERS[status]
        responses[status] = response
    return responses


_BEARER = HTTPBearer(
    auto_error=False,
    scheme_name="bearer",
    description="A token from ORDERS_AUTH_TOKENS: writer for commands, reader for queries, "
    "admin for both",
)
BearerCredentials = Annotated[HTTPAuthorizationCredentials | None, Security(_BEARER)]
Authorize = Callable[..., Coroutine[Any, Any, Principal]]


def require(tokens: TokenRegistry, needed: Role) -> Authorize:
    """A FastAPI dependency: 401 without a known bearer token, 403 without the role.

    It answers the caller's ``Principal`` (``principal(request)`` reads it later in the
    same request). Only with tokens configured does the OpenAPI document declare bearer
    auth: an open API must not claim to need it.
    """

    async def open_api(request: Request) -> Principal:
        request.state.principal = ANONYMOUS
        return ANONYMOUS

    async def check(request: Request, credentials: BearerCredentials) -> Principal:
        found = authorize(tokens, needed, credentials.credentials if credentials else None)
        request.state.principal = found
        return found

    return check if tokens.enabled else open_api


def bearer_credentials(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, parsed as FastAPI's
    ``HTTPBearer`` does (None: no header, another scheme, or no token)."""
    scheme, credentials = get_authorization_scheme_param(authorization)
    if not (authorization and scheme and credentials) or scheme.lower() != "bearer":
        return None
    return credentials


def authorize(tokens: TokenRegistry, needed: Role, credentials: str | None) -> Principal:
    """Whose bearer token ``credentials`` is, if it may do what ``needed`` allows: else a
    401 (no known token) or 403 (not that role) ``ProblemError``. An open API (no tokens
    configured) lets everyone in as ``ANONYMOUS``. The one check behind ``require`` and
    the query API's fast lane (``query_service.fastlane``)."""
    if not tokens.enabled:
        return ANONYMOUS
    found = tokens.identify(credentials.strip()) if credentials else None
    if found is None:
        raise ProblemError(
            401,
            "Unauthorized",
            "send a valid bearer token: Authorization: Bearer <token>",
            {"WWW-Authenticate": 'Bearer realm="ordersource"'},
        )
    if not tokens.allows(found.role, needed):
        raise ProblemError(403, "Forbidden", f"this needs the {needed.value} role")
    return found


async def principal(request: Request) -> Principal:
    """Who sent this request, as established by the ``require`` dependency of its router.

    ``async`` although it never awaits: FastAPI runs a sync dependency in its thread pool,
    a hop per request for a dict lookup."""
    found = getattr(request.state, "principal", None)
    if not isinstance(found, Principal):
        raise RuntimeError("principal() on a route without a require() dependency")
    return found


def install_problem_handlers(app: FastAPI) -> None:
    """Every error becomes a problem document: raised problems, schema errors (422, or
    400 for a body that is not JSON at all), routing errors (404, 405) and anything
    unexpected (500, with nothing about it in the body: the log has the traceback).

    The OpenAPI document says so too: every error response is ``application/problem+json``
    and every operation documents the 500."""

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

    # Starlette hands an ``Exception`` handler to its ServerErrorMiddleware (outermost):
    # its answer is sent as the 500, then the exception is re-raised for the server.
    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("unexpected error in %s %s", request.method, request.url.path, exc_info=exc)
        return problem_response(500, "Internal error", "unexpected error; see the service log")

    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            _document_problems(build())
        return app.openapi_schema or build()

    app.openapi = openapi  # type: ignore[method-assign]


def _document_problems(schema: dict[str, Any]) -> None:
    """Error responses are problem documents, not ``application/json``; every operation
    can answer 500."""
    for path in schema.get("paths", {}).values():
        for operation in path.values():
            responses = operation.setdefault("responses", {})
            for status, response in responses.items():
                content = response.get("content", {})
                if status[0] in "45" and "application/json" in content:
                    content[PROBLEM_JSON] = content.pop("application/json")
            responses.setdefault(
                "500",
                {
                    "description": INTERNAL_ERROR,
                    "content": {PROBLEM_JSON: {"schema": {"$ref": _PROBLEM_REF}}},
                },
            )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    problem_schema = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, definition in problem_schema.pop("$defs", {}).items():
        components.setdefault(name, definition)
    components.setdefault("Problem", problem_schema)


_PROBLEM_REF = "#/components/schemas/Problem"


def _error(error: Any) -> dict[str, Any]:
    # Leave out pydantic's "input" and "ctx": they may echo huge or non-JSON values back.
    return {
        "type": str(error.get("type")),
        "loc": [str(p) for p in error.get("loc", ())],
        "msg": str(error.get("msg")),
    }


def serve(app: FastAPI, host: str, port: int, settings: Settings) -> None:
    """Serve ``app`` with uvicorn until SIGTERM (the ``python -m`` entry of each HTTP
    process), logging as ``ORDERS_LOG_LEVEL`` / ``ORDERS_LOG_FORMAT`` say."""
    import uvicorn

    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level=settings.log_level.lower(),
        access_log=False,
        # JSON: uvicorn's own lines go through the root handler too; text: its default.
        log_config=None if settings.log_format == "json" else uvicorn.config.LOGGING_CONFIG,
    )
