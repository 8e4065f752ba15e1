"""docs/metrics.md against what each running process really serves on /metrics.

Every process of the stack is started, one order goes through both APIs (placed, decided,
projected, read), then each /metrics is scraped. Family names come from the ``# TYPE``
lines: prometheus_client writes them for every registered metric, a labelled one without
any series yet included, so the comparison does not depend on which label values were
used. The order is driven through anyway, to check that the request metrics, the
decider's and the projector's counters really move, not only exist.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

import httpx
import pytest

from tests.support.http import place_body
from tests.support.services import Services, isolated_settings, stopped_at_exit
from tests.support.waiting import wait_until
from tools import metrics_doc

pytestmark = pytest.mark.e2e

TYPE_LINE = re.compile(r"^# TYPE (\S+) (\S+)$", re.MULTILINE)


def exported(text: str) -> dict[str, str]:
    """Family name -> type, from the ``# TYPE`` lines, minus prometheus_client's
    ``<name>_created`` gauges that belong to a counter or histogram."""
    types = dict(TYPE_LINE.findall(text))
    owners = {n.removesuffix("_total") for n, t in types.items() if t == "counter"}
    owners |= {n for n, t in types.items() if t == "histogram"}
    return {
        name: kind
        for name, kind in types.items()
        if not (name.endswith("_created") and name.removesuffix("_created") in owners)
    }


def sample(text: str, series: str) -> float:
    for line in text.splitlines():
        if line.startswith(series + " "):
            return float(line.split()[-1])
    raise AssertionError(f"no series {series} in\n{text}")


@pytest.fixture(scope="module")
def settings_env(
    kafka: Any, redis_server: Any, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    """One environment for the module: its tests look at the same running stack."""
    return isolated_settings(kafka, redis_server, tmp_path_factory.mktemp("metrics") / "state")


@pytest.fixture(scope="module")
def services(
    settings_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Services]:
    with stopped_at_exit(Services(settings_env, tmp_path_factory.mktemp("logs"))) as started:
        yield started


@pytest.fixture(scope="module")
def stack(services: Services) -> dict[str, Any]:
    """Every process started once for the module, and one order through both APIs
    (decided, projected)."""
    started = {p.service: services(p.service) for p in metrics_doc.PROCESSES}
    commands = httpx.Client(base_url=started["command-api"].url(), timeout=30)
    queries = httpx.Client(base_url=started["query-api"].url(), timeout=30)
    placed = commands.post("/orders", json=place_body(qty=2))
    assert placed.status_code == 201, placed.text
    order_id = placed.json()["order_id"]
    wait_until(
        lambda: queries.get(f"/orders/{order_id}").status_code == 200,
        timeout=10,
        message="placed order never visible",
    )

    def scrape(service: str) -> str:
        return httpx.get(started[service].url("/metrics"), timeout=10).text

    # The decider counts after relaying the verdict, the projector after writing the view.
    wait_until(
        lambda: 'orders_decider_commands_total{outcome="accepted"} 1.0' in scrape("decider"),
        timeout=10,
        message="the decider never counted the command",
    )
    wait_until(
        lambda: "orders_projector_events_applied_total 1.0" in scrape("projector"),
        timeout=10,
        message="the projector never counted the event",
    )
    return started


@pytest.fixture(scope="module")
def scraped(stack: dict[str, Any]) -> dict[str, str]:
    return {
        p.name: httpx.get(stack[p.service].url("/metrics"), timeout=10).text
        for p in metrics_doc.PROCESSES
    }


def test_every_process_answers_readyz_in_one_shape(stack: dict[str, Any]) -> None:
    """docs/operations.md: one /readyz body for all five (``ordersource.readiness``)."""
    checks = {
        "decider": {"caught_up", "redis"},
        "command-api": {"redis", "kafka", "verdicts"},
        "projector": {"redis", "assigned"},
        "query-api": {"redis"},
        "console": {"kafka", "redis"},
    }
    for service, names in checks.items():
        answer = httpx.get(stack[service].url("/readyz"), timeout=10)
        body = answer.json()
        assert answer.status_code == 200, (service, body)
        assert (body["ready"], body["status"]) == (True, "ok"), (service, body)
        assert body["checks"] == dict.fromkeys(names, True), (service, body)


def test_each_process_serves_exactly_the_documented_metrics(scraped: dict[str, str]) -> None:
    documented = metrics_doc.documented()
    for process in metrics_doc.PROCESSES:
        families = exported(scraped[process.name])
        ours = {name: kind for name, kind in families.items() if name.startswith("orders_")}
        expected = {f.name: f.type for f in documented[process.name].values()}
        assert ours == expected, process.name
        others = sorted(set(families) - set(ours))
        assert others, f"{process.name} exports no standard collector"
        strays = [n for n in others if not n.startswith(metrics_doc.STANDARD_PREFIXES)]
        assert strays == [], f"{process.name} exports undocumented families"
        # The same standard collectors everywhere: process_* and python_*.
        assert "process_resident_memory_bytes" in others, process.name
        assert "python_gc_collections_total" in others, process.name


def test_the_order_moved_every_process_metrics(
    scraped: dict[str, str], settings_env: Mapping[str, str]
) -> None:
    command, query = scraped["command_api"], scraped["query_api"]
    assert (
        sample(command, 'orders_command_api_request_seconds_count{route="/orders",status="201"}')
        == 1
    )
    assert (
        sample(
            query, 'orders_query_api_request_seconds_count{route="/orders/{order_id}",status="200"}'
        )
        >= 1
    )
    assert sample(scraped["decider"], 'orders_decider_commands_total{outcome="accepted"}') == 1
    assert sample(scraped["decider"], 'orders_decider_commands_total{outcome="rejected"}') == 0
    partitions = int(settings_env["ORDERS_PARTITIONS"])  # the one decider owns them all
    assert sample(scraped["decider"], "orders_decider_partitions") == partitions
    assert sample(scraped["projector"], "orders_projector_events_applied_total") >= 1
