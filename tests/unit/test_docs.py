"""The generated reference pages in docs/ match the code, and every ``ORDERS_*`` variable
the project reads anywhere is documented."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ordersource.settings import Settings
from tools import docs

pytestmark = pytest.mark.unit
REPO = Path(__file__).resolve().parents[2]


def test_generated_pages_are_current(capsys: pytest.CaptureFixture[str]) -> None:
    assert docs.main(["--check"]) == 0, capsys.readouterr().err


def test_every_setting_has_a_description() -> None:
    missing = [name for name, field in Settings.model_fields.items() if not field.description]
    assert missing == []


def test_every_orders_variable_in_the_repo_is_documented() -> None:
    known = {f"ORDERS_{name.upper()}" for name in Settings.model_fields}
    known |= set(docs.RUNTIME_VARIABLES) | set(docs.TEST_VARIABLES)
    sources = [REPO / "Makefile", *(REPO / ".ci").iterdir()]
    for folder in (
        "deploy",
        "tests",
        "bench",
        "shared",
        "command-service",
        "query-service",
        "projector",
    ):
        sources += [
            p for p in (REPO / folder).rglob("*") if p.is_file() and p.suffix in ("", ".py", ".sh")
        ]
    used: dict[str, str] = {}
    for path in sources:
        if "kafka/libs" in str(path) or "__pycache__" in path.parts:
            continue
        for name in re.findall(
            r"ORDERS_[A-Z][A-Z0-9_]*[A-Z0-9](?![A-Z0-9_])", path.read_text(errors="ignore")
        ):
            used.setdefault(name, str(path.relative_to(REPO)))
    undocumented = {name: where for name, where in used.items() if name not in known}
    assert undocumented == {}


def _pages() -> list[Path]:
    return [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def test_every_test_a_page_names_exists() -> None:
    missing = []
    for page in _pages():
        for path, name in re.findall(r"`(tests/[\w/]+\.py)::(\w+)", page.read_text()):
            source = REPO / path
            if not source.exists() or not re.search(rf"def {name}\(", source.read_text()):
                missing.append(f"{page.name}: {path}::{name}")
    assert missing == []


def test_every_file_and_link_a_page_names_exists() -> None:
    missing = []
    for page in _pages():
        text = page.read_text()
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
            if "://" not in target and not (page.parent / target).exists():
                missing.append(f"{page.name}: link {target}")
        for path in re.findall(r"`((?:[\w.-]+/)+[\w.-]+\.(?:py|md|sh|toml|txt))`", text):
            if not (REPO / path).exists():
                missing.append(f"{page.name}: {path}")
    assert missing == []
