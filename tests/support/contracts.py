"""Responses checked against what the OpenAPI document declares for them.

The query API sends pre-serialised JSON and the command API relays verdicts as they were
stored, so FastAPI never validates those bodies against the declared ``response_model``.
``check`` does: the status must be documented for the operation, the media type must be
the documented one, the body must validate against the model the schema names — with
``extra="forbid"``, so a field the schema does not declare fails too — and every custom
header sent must be documented for that status.
"""

from __future__ import annotations

from typing import Any

import httpx
from pydantic import BaseModel

from command_service.api import schemas as command_schemas
from ordersource import web
from query_service import schemas as query_schemas

CUSTOM_HEADERS = {
    "etag",
    "location",
    "retry-after",
    "www-authenticate",
    "x-view-status",
    "idempotent-replayed",
}
REF = "#/components/schemas/"


def _models() -> dict[str, type[BaseModel]]:
    found: dict[str, type[BaseModel]] = {}
    for module in (web, query_schemas, command_schemas):
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, BaseModel) and value is not BaseModel:
                found[value.__name__] = value
    return found


MODELS = _models()


def check(spec: dict[str, Any], method: str, path: str, response: httpx.Response) -> Any:
    """Assert ``response`` (to ``method`` on the path template ``path``) is what the spec
    says; returns the validated model (None for a documented empty body)."""
    operation = spec["paths"][path][method.lower()]
    status = str(response.status_code)
    where = f"{method.upper()} {path} -> {status}"
    assert status in operation["responses"], f"{where}: status not documented"
    documented = operation["responses"][status]
    sent = {name.lower() for name in response.headers} & CUSTOM_HEADERS
    declared = {name.lower() for name in documented.get("headers", {})}
    assert sent <= declared, f"{where}: undocumented headers {sorted(sent - declared)}"
    content = documented.get("content")
    if not content:
        assert response.content == b"", f"{where}: body sent, none documented"
        return None
    media = response.headers["content-type"].split(";")[0].strip()
    assert media in content, f"{where}: {media} sent, {sorted(content)} documented"
    ref = content[media]["schema"]["$ref"]
    assert ref.startswith(REF), f"{where}: schema is not a component: {ref}"
    model = MODELS[ref.removeprefix(REF)]
    return model.model_validate(response.json(), extra="forbid")
