"""docs/api.md: the HTTP API reference, rendered from the two apps' OpenAPI documents.

Every route with its parameters, request body fields and every response status (with
its body schema and headers), then every schema those name. ``render()`` builds the
apps in-process (nothing is started or connected); ``make docs`` writes the page.
"""

from __future__ import annotations

from typing import Any

from command_service.api.app import create_app as command_app
from ordersource.settings import Settings
from query_service.app import create_app as query_app

REF = "#/components/schemas/"
MAX_ENUM = 12
"""Longer enums (the ISO 4217 list) are summarised by their description."""


def specs() -> dict[str, dict[str, Any]]:
    # With tokens, as `make run` runs them: the documents then declare bearer auth.
    settings = Settings(auth_tokens={"writer": ["w"], "reader": ["r"], "admin": ["a"]})
    return {
        "Command API": command_app(settings).openapi(),
        "Query API": query_app(settings).openapi(),
    }


def render() -> str:
    apis = specs()
    lines = [
        "# HTTP API reference",
        "",
        "<!-- Generated from the two OpenAPI documents by `make docs`; do not edit. -->",
        "",
        "Two HTTP APIs: the **command API** (`python -m command_service`, writes) and the",
        "**query API** (`python -m query_service`, reads). Each serves its OpenAPI document at",
        "`/openapi.json` and interactive docs at `/docs`; this page is rendered from those",
        "documents (`tools/apidoc.py`).",
        "",
        "- **Access:** with `ORDERS_AUTH_TOKENS` set, every route below needs",
        "  `Authorization: Bearer <token>`: the command API the `writer` role, the query API",
        "  the `reader` role (`admin` may do both). Without a known token: 401; with the",
        "  wrong role: 403. `/healthz`, `/readyz` and `/metrics` stay open.",
        "- **Errors:** every error, 500 included, is an RFC 9457 problem document",
        "  (`application/problem+json`, schema [`Problem`](#problem)); some add members,",
        "  documented per status.",
        "- **Versions:** an order's `version` counts its events; it is the `ETag` of every",
        '  answer about the order, and the `If-Match` (`"3"`) that makes a command conditional.',
        "",
    ]
    for name, spec in apis.items():
        lines += [f"## {name}", ""]
        for path, item in spec["paths"].items():
            for method, operation in item.items():
                lines += _operation(method, path, operation)
    lines += ["## Schemas", ""]
    for schema_name, schema in _schemas(apis).items():
        lines += _schema(schema_name, schema)
    return "\n".join(lines).rstrip() + "\n"


def _operation(method: str, path: str, op: dict[str, Any]) -> list[str]:
    lines = [f"### `{method.upper()} {path}`", ""]
    if op.get("summary"):
        lines += [
            f"**{op['summary']}.**"
            + (" " + _text(op["description"]) if "description" in op else ""),
            "",
        ]
    params = op.get("parameters", [])
    if params:
        lines += ["| parameter | in | type | required | description |", "|---|---|---|---|---|"]
        for p in params:
            schema = p.get("schema", {})
            lines.append(
                f"| `{p['name']}` | {p['in']} | {_type(schema)} | {_yes(p.get('required'))} "
                f"| {_text(p.get('description') or schema.get('description', ''))}"
                f"{_default(schema)} |"
            )
        lines.append("")
    body = op.get("requestBody")
    if body:
        (media, content), *_ = body["content"].items()
        lines += [f"Request body (`{media}`): {_type(content['schema'])}.", ""]
    lines += ["| status | meaning | body | headers |", "|---|---|---|---|"]
    for status, response in sorted(op["responses"].items()):
        content = response.get("content", {})
        shown = ", ".join(f"{_type(c['schema'])} (`{m}`)" for m, c in content.items()) or "—"
        headers = ", ".join(f"`{h}`" for h in response.get("headers", {})) or "—"
        lines.append(f"| {status} | {_text(response['description'])} | {shown} | {headers} |")
    lines.append("")
    header_notes = {
        h: spec
        for response in op["responses"].values()
        for h, spec in response.get("headers", {}).items()
    }
    if header_notes:
        lines += [
            f"- `{h}`: {_text(spec.get('description', ''))}" for h, spec in header_notes.items()
        ]
        lines.append("")
    return lines


def _schemas(apis: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Every component schema of both documents, once; a name must mean one schema."""
    found: dict[str, dict[str, Any]] = {}
    for spec in apis.values():
        for name, schema in spec.get("components", {}).get("schemas", {}).items():
            if name in found and found[name] != schema:
                raise ValueError(f"schema {name} differs between the two APIs: rename one")
            found[name] = schema
    return dict(sorted(found.items()))


def _schema(name: str, schema: dict[str, Any]) -> list[str]:
    lines = [f"### {name}", ""]
    if schema.get("description"):
        lines += [_text(schema["description"]), ""]
    if "enum" in schema:
        lines += [f"One of {_enum(schema)}.", ""]
        return lines
    properties = schema.get("properties", {})
    if properties:
        required = set(schema.get("required", []))
        lines += ["| field | type | required | description |", "|---|---|---|---|"]
        for field, spec in properties.items():
            lines.append(
                f"| `{field}` | {_type(spec)} | {_yes(field in required)} "
                f"| {_text(spec.get('description', ''))}{_default(spec)} |"
            )
        lines.append("")
    if schema.get("additionalProperties") is True:
        lines += ["Other members may appear (problem extensions).", ""]
    return lines


def _type(schema: dict[str, Any]) -> str:
    if "$ref" in schema:
        name = schema["$ref"].removeprefix(REF)
        return f"[`{name}`](#{name.lower()})"
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = [s for s in schema[key] if s.get("type") != "null"]
            text = " or ".join(_type(s) for s in options)
            return text + (" or null" if len(options) < len(schema[key]) else "")
    if "enum" in schema:
        return _enum(schema)
    kind = schema.get("type", "any")
    if kind == "array":
        text = f"array of {_type(schema.get('items', {}))}"
    elif kind == "object" and isinstance(schema.get("additionalProperties"), dict):
        text = f"object of {_type(schema['additionalProperties'])}"
    else:
        text = kind + (f" ({schema['format']})" if "format" in schema else "")
    return text + _constraints(schema)


def _constraints(schema: dict[str, Any]) -> str:
    marks = []
    for low, high, what in (
        ("minimum", "maximum", "value"),
        ("minLength", "maxLength", "length"),
        ("minItems", "maxItems", "items"),
    ):
        if low in schema and high in schema:
            marks.append(f"{what} {_number(schema[low])} to {_number(schema[high])}")
        elif low in schema:
            marks.append(f"{what} ≥ {_number(schema[low])}")
        elif high in schema:
            marks.append(f"{what} ≤ {_number(schema[high])}")
    if "pattern" in schema:
        marks.append(f"pattern `{schema['pattern']}`".replace("|", "\\|"))
    return f" ({'; '.join(marks)})" if marks else ""


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def _enum(schema: dict[str, Any]) -> str:
    values = schema["enum"]
    if len(values) > MAX_ENUM:
        return f"string ({_text(schema.get('description', 'one of a fixed list'))})"
    return " \\| ".join(f"`{v}`" for v in values)


def _default(schema: dict[str, Any]) -> str:
    if "default" not in schema or schema["default"] is None:
        return ""
    return f" Default: `{schema['default']}`."


def _yes(flag: Any) -> str:
    return "yes" if flag else "no"


def _text(text: str) -> str:
    return " ".join(text.split()).replace("``", "`").replace("|", "\\|")
