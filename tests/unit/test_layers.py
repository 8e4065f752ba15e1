"""The layout's rules, checked on the source (docs/modules.md): who may import whom.

* The domain (``ordersource.domain``) imports nothing of HTTP, Kafka, Redis or Faust.
* The services never import each other: ``command_service``, ``projector`` and
  ``query_service`` depend on ``ordersource`` only.
* The projector's ``core`` (the pure projection of a batch) imports no client library
  and nothing of ``runtime``, ``store`` or ``ops``; ``runtime`` and ``store`` import
  nothing of ``ops`` (the ``orders`` tool).
* The decider and the command API share only ``command_service.answers`` and
  ``command_service.verdicts``.
* No import cycles between modules.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {
    "ordersource": ROOT / "shared" / "ordersource",
    "command_service": ROOT / "command-service" / "command_service",
    "projector": ROOT / "projector" / "projector",
    "query_service": ROOT / "query-service" / "query_service",
}
CLIENT_LIBRARIES = ("fastapi", "starlette", "kafka", "aiokafka", "faust", "redis", "uvicorn")


def modules() -> dict[str, Path]:
    found = {}
    for package, folder in PACKAGES.items():
        for path in folder.rglob("*.py"):
            parts = path.relative_to(folder).with_suffix("").parts
            name = ".".join((package, *parts)).removesuffix(".__init__")
            found[name] = path
    return found


def imports(path: Path, module: str) -> Iterator[str]:
    """Every module ``module`` imports at its top level or in a function (not under
    ``TYPE_CHECKING``)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            yield base
            yield from (f"{base}.{alias.name}" for alias in node.names)


GRAPH = {name: set(imports(path, name)) for name, path in modules().items()}


def within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


def offenders(importer: str, forbidden: tuple[str, ...]) -> list[tuple[str, str]]:
    return sorted(
        (module, target)
        for module, targets in GRAPH.items()
        if within(module, importer)
        for target in targets
        if any(within(target, f) for f in forbidden)
    )


def test_the_domain_knows_no_io() -> None:
    assert offenders("ordersource.domain", CLIENT_LIBRARIES) == []


def test_services_never_import_each_other() -> None:
    services = ("command_service", "projector", "query_service")
    for service in services:
        others = tuple(s for s in services if s != service)
        assert offenders(service, others) == [], service


def test_the_projector_core_is_pure_and_runtime_does_not_lean_on_the_cli() -> None:
    assert offenders("projector.core", CLIENT_LIBRARIES) == []
    assert (
        offenders("projector.core", ("projector.runtime", "projector.store", "projector.ops")) == []
    )
    assert offenders("projector.runtime", ("projector.ops",)) == []
    assert offenders("projector.store", ("projector.ops", "projector.runtime")) == []


def test_decider_and_api_share_only_answers_and_verdicts() -> None:
    assert offenders("command_service.decider", ("command_service.api",)) == []
    assert offenders("command_service.api", ("command_service.decider",)) == []


def test_no_import_cycles() -> None:
    known = set(GRAPH)
    edges = {m: {t for t in targets if t in known and t != m} for m, targets in GRAPH.items()}
    # A package's __init__ re-exporting its own submodules is not a cycle of the design.
    edges = {m: {t for t in ts if not within(t, m)} for m, ts in edges.items()}
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for target in sorted(edges[node]):
            if state.get(target) == 1:
                cycles.append([*path[path.index(target) :], target])
            elif target not in state:
                visit(target, [*path, target])
        state[node] = 2

    for module in sorted(edges):
        if module not in state:
            visit(module, [module])
    assert cycles == []
