"""The API reference ``tools/apidoc.py`` renders names every route and every status of both
APIs (that docs/api.md is the current rendering: tests/unit/test_docs.py)."""

from __future__ import annotations

import re

import pytest

from tools import apidoc

pytestmark = pytest.mark.unit


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
