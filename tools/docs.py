"""Write the reference pages of docs/ from the code, so they cannot drift from it.

``make docs`` (``python -m tools.docs``) rewrites them; ``--check`` only compares and
exits 1 naming every page that differs — ``tests/unit/test_docs.py`` runs that check in
``make test``.
"""

from __future__ import annotations

import argparse
import ast
import json
import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

from annotated_types import Ge, Gt, Le, Lt
from pydantic.fields import FieldInfo

from ordersource.settings import Settings
from tools import apidoc, metrics_doc

DOCS = Path(__file__).resolve().parents[1] / "docs"

# Variables read by the local runtime's scripts (deploy/local), not by the services.
RUNTIME_VARIABLES = {
    "ORDERS_KAFKA_CONTROLLER_PORT": ("`9093`", "`make run`: the local KRaft controller's port"),
    "ORDERS_KAFKA_LIBS": ("`.cache/kafka-<version>/libs`", "`make run`: where the Kafka jars go"),
    "ORDERS_WRITER_TOKEN": (
        "random",
        "`make run`: the writer's bearer token (`.state/tokens.env`)",
    ),
    "ORDERS_READER_TOKEN": (
        "random",
        "`make run`: the reader's bearer token (`.state/tokens.env`)",
    ),
    "ORDERS_ADMIN_TOKEN": ("random", "`make run`: the admin's bearer token (`.state/tokens.env`)"),
    "ORDERS_LOCAL_LAYOUT": (
        "`single`",
        "`deploy/local` scripts: `single` (`make run`) or `cluster` (`make run-cluster`)",
    ),
    "ORDERS_LOCAL_STATE": (
        "`.state` (`.state/cluster`)",
        "`deploy/local` scripts: where data, logs, pid files and tokens go",
    ),
    "ORDERS_CLUSTER_PORT_OFFSET": ("`0`", "`make run-cluster`: added to every port it uses"),
}
# Variables read only by the test suite.
TEST_VARIABLES = {
    "ORDERS_TEST_INFRA": ("`local`", "`containers`: run the tests on testcontainers"),
    "ORDERS_TEST_KAFKA_IMAGE": ("`apache/kafka:4.0.2`", "Kafka image for `containers`"),
    "ORDERS_TEST_REDIS_IMAGE": ("`redis:7`", "Redis image for `containers`"),
    "ORDERS_FUZZ_EXAMPLES": ("`25`", "examples per route in the schemathesis tests"),
    "ORDERS_FAULT_REPORT": ("—", "`make fault`: where the results table is written"),
    "ORDERS_CONSOLE_SCREENSHOTS": (
        "—",
        "the console's browser tests save screenshots of its pages there (`docs/images`)",
    ),
}


def configuration() -> str:
    lines = [
        "# Configuration",
        "",
        "<!-- Generated from shared/ordersource/settings.py by `make docs`; do not edit. -->",
        "",
        "Every process reads the one `Settings` class (`shared/ordersource/settings.py`) once",
        "at start-up from `ORDERS_*` environment variables; the `orders` CLI reads the same.",
        "Values are validated: a setting outside its range stops the process at start-up",
        "with a message naming it.",
        "",
        "| variable | type | default | meaning |",
        "|---|---|---|---|",
    ]
    prefix = Settings.model_config.get("env_prefix", "")
    for name, field in Settings.model_fields.items():
        env = f"{prefix}{name}".upper()
        lines.append(
            f"| `{env}` | {_type(field)} | {_default(field)} | {_one_line(field.description)} |"
        )
    lines += [
        "",
        "Read by the local runtime's scripts only:",
        "",
        "| variable | default | meaning |",
        "|---|---|---|",
        *(f"| `{k}` | {d} | {m} |" for k, (d, m) in RUNTIME_VARIABLES.items()),
        "",
        "Read by the test suite only:",
        "",
        "| variable | default | meaning |",
        "|---|---|---|",
        *(f"| `{k}` | {d} | {m} |" for k, (d, m) in TEST_VARIABLES.items()),
        "",
    ]
    return "\n".join(lines)


def _type(field: FieldInfo) -> str:
    text = _type_name(field.annotation)
    bounds = []
    for meta in field.metadata:
        for cls, attr, sign in ((Ge, "ge", "≥"), (Gt, "gt", ">"), (Le, "le", "≤"), (Lt, "lt", "<")):
            if isinstance(meta, cls):
                bounds.append(f"{sign} {getattr(meta, attr)}")
    return f"{text} ({', '.join(bounds)})" if bounds else text


def _type_name(annotation: Any) -> str:
    origin = get_origin(annotation)
    if origin is Literal:
        return " \\| ".join(f"`{a}`" for a in get_args(annotation))
    if origin in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        return " \\| ".join(_type_name(a) for a in args) + " (optional)"
    if origin is dict:
        return "JSON object"
    return {"SecretStr": "secret", "str": "string", "int": "integer", "float": "number"}.get(
        getattr(annotation, "__name__", str(annotation)), str(annotation)
    )


def _default(field: FieldInfo) -> str:
    if field.default_factory is not None:
        made = field.default_factory()  # type: ignore[call-arg]
        return f"`{json.dumps(made)}`" if made else "*(empty)*"
    if field.default is None:
        return "—"
    return f"`{field.default}`"


def _one_line(text: str | None) -> str:
    if not text:
        raise ValueError("a setting without a docstring: document it in settings.py")
    return " ".join(text.split()).replace("``", "`").replace("|", "\\|")


PACKAGES = {
    "shared/ordersource": "ordersource",
    "command-service/command_service": "command_service",
    "projector/projector": "projector",
    "query-service/query_service": "query_service",
}
MAP_START = "<!-- module map: generated from the module docstrings by `make docs` -->"
MAP_END = "<!-- end of module map -->"


def modules() -> str:
    """docs/modules.md: the hand-written glossary, with the module map filled in."""
    page = (DOCS / "modules.md").read_text()
    head, rest = page.split(MAP_START, 1)
    tail = rest.split(MAP_END, 1)[1]
    rows = []
    for folder, package in PACKAGES.items():
        rows += [
            "",
            f"### `{package}` (`{folder}/`)",
            "",
            "| module | what it holds |",
            "|---|---|",
        ]
        for path in sorted((DOCS.parent / folder).rglob("*.py")):
            parts = path.relative_to(DOCS.parent / folder).with_suffix("").parts
            name = ".".join((package, *parts)).removesuffix(".__init__")
            rows.append(f"| `{name}` | {_summary(path)} |")
    return head + MAP_START + "\n".join(rows) + "\n" + MAP_END + tail


def _summary(path: Path) -> str:
    """The first sentence of a module's docstring (a module without one fails the check)."""
    doc = ast.get_docstring(ast.parse(path.read_text()))
    if not doc:
        raise ValueError(f"{path}: a module without a docstring")
    first = " ".join(doc.split("\n\n", 1)[0].split())
    if ". " in first:
        first = first.split(". ", 1)[0] + "."
    return first.replace("``", "`").replace("|", "\\|")


PAGES: dict[str, Callable[[], str]] = {
    "api.md": apidoc.render,
    "configuration.md": configuration,
    "metrics.md": metrics_doc.render,
    "modules.md": modules,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="compare only; exit 1 on drift")
    args = parser.parse_args(argv)
    stale = []
    for name, render in PAGES.items():
        path, text = DOCS / name, render()
        if path.exists() and path.read_text() == text:
            continue
        if args.check:
            stale.append(name)
        else:
            path.write_text(text)
            print(f"wrote docs/{name}")
    if stale:
        print(f"out of date: {', '.join(stale)} — run `make docs`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
