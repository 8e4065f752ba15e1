"""docs/api.md is what ``tools/apidoc.py`` renders from the current OpenAPI documents
(regenerate with ``make docs``), and names every route and every status of both APIs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tools import apidoc

pytestmark = pytest.mark.unit
PAGE = Path(__file__).resolve().parents[2] / "docs" / "api.md"


def test_api_reference_is_current() -> None:
    assert PAGE.read_text() == apidoc.render(), "docs/api.md is out of date: run `make docs`"


def test_api_reference_lists_every_route_and_status() -> None:
    page = apidoc.render()
    sections = re.split(r"^### ", page, flags=re.MULTILINE)
    for spec in apidoc.specs().values():
        for path, item in spec["paths"].items():
            for method, operation in item.items():
                heading = f"`{method.upper()} {path}`"
                (section,) = [s for s in sections if s.startswith(heading)]
                for status in operation["responses"]:
                    assert f"\n| {status} | " in section, f"{heading}: {status}"
