"""The console adds no way past auth: every ``/console/api/`` route needs a reader (or
admin) token, every action an admin one, whatever the route; the page and its assets
(no data in them) are open, and every answer carries the strict CSP. And the page's
code cannot turn a string into markup: no inline script or style, no HTML sinks.

The app is built in-process without its lifespan: the checks come before any handler,
so no Kafka or Redis is needed to see them refuse."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from ordersource.settings import Settings
from projector.console import routes
from projector.console.app import CSP, STATIC, create_app

pytestmark = pytest.mark.component

TOKENS = {"writer": ["w-token"], "reader": ["r-token"], "admin": ["a-token"]}


@pytest.fixture
def client() -> TestClient:
    settings = Settings(auth_tokens=json.loads(json.dumps(TOKENS)))
    return TestClient(create_app(settings), raise_server_exceptions=False)


def api_routes() -> list[tuple[str, set[str]]]:
    """(path, methods) of every JSON route, as mounted under /console/api."""
    found = [*routes.reading.routes, *routes.acting.routes]
    return [
        ("/console/api" + r.path, set(r.methods or ())) for r in found if isinstance(r, APIRoute)
    ]


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "0123456789abcdef", path).replace(":path", "")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_every_api_route_needs_a_reader_and_every_action_an_admin(client: TestClient) -> None:
    found = api_routes()
    assert len(found) >= 12
    for path, methods in found:
        for method in methods:
            url = concrete(path)
            body: dict[str, Any] = {"json": {}} if method == "POST" else {}
            anonymous = client.request(method, url, **body)
            assert anonymous.status_code == 401, (method, url)
            assert anonymous.headers["content-type"] == "application/problem+json"
            assert client.request(method, url, headers=bearer("nope"), **body).status_code == 401
            # A writer sends commands; it may not look at the console, nor act in it.
            as_writer = client.request(method, url, headers=bearer("w-token"), **body)
            assert as_writer.status_code == 403
            if method == "POST":
                as_reader = client.request(method, url, headers=bearer("r-token"), json={})
                assert as_reader.status_code == 403, (method, url)
    assert {path for path, methods in found if "POST" in methods} == {
        "/console/api/dead-letters/replay",
        "/console/api/dead-letters/handled",
        "/console/api/replays",
        "/console/api/verify",
    }


def test_the_page_and_assets_are_open_and_carry_the_csp(client: TestClient) -> None:
    for path in ("/console/", "/console/static/console.js", "/console/static/console.css"):
        answer = client.get(path)
        assert answer.status_code == 200, path
        assert answer.headers["content-security-policy"] == CSP
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["x-frame-options"] == "DENY"
    assert client.get("/console/api/session").headers["content-security-policy"] == CSP
    assert client.get("/console/static/../app.py").status_code == 404
    for directive in ("default-src 'none'", "script-src 'self'", "style-src 'self'",
                      "frame-ancestors 'none'", "require-trusted-types-for 'script'"):  # fmt: skip
        assert directive in CSP
    assert "unsafe" not in CSP
    assert "http" not in CSP  # nothing from another origin: no CDN


def test_the_page_code_has_no_inline_code_and_no_html_sinks() -> None:
    page = (STATIC / "index.html").read_text()
    assert re.findall(r"<script(?![^>]*\bsrc=)", page) == []
    assert re.findall(r"\son\w+=", page) == []
    assert "style=" not in page
    assert re.findall(r"(?:src|href)=\"(?:https?:)?//", page) == []  # assets served here
    code = (STATIC / "console.js").read_text()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(",
                 "new Function", "localStorage"):  # fmt: skip
        assert sink not in code, sink


def test_docs_list_every_route() -> None:
    """docs/console.md's route tables name exactly the console's JSON routes."""
    text = (Path(__file__).parents[2] / "docs" / "console.md").read_text()
    documented = set(re.findall(r"`(GET|POST) (/console/api/[^` ]+)", text))
    actual = {(m, p.replace(":path", "")) for p, methods in api_routes() for m in methods}
    assert documented == actual


def test_bodies_are_bounded_before_auth(client: TestClient) -> None:
    """A body is refused by its size or type before anyone reads it, token or not."""
    big = b"{" + b" " * 4096 + b"}"
    url = "/console/api/dead-letters/handled"
    headers = {"Content-Type": "application/json"}
    assert client.post(url, content=big, headers=headers).status_code == 413
    assert (
        client.post(url, content=b"{}", headers={"Content-Type": "text/plain"}).status_code == 415
    )
    admin = {**headers, **bearer("a-token")}
    assert client.post(url, content=big, headers=admin).status_code == 413
