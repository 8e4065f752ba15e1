"""docs/metrics.md, generated from the code: every metric of every process.

``make docs`` (``tools.docs``) writes it and ``tests/unit/test_docs.py`` fails when it is
stale; ``tests/e2e/test_metrics_exposition.py`` compares the list with what each running
process really serves on /metrics.

Each process builds its metrics into a registry it is given (``PROCESSES``); the generator
builds each into an empty one, so the standard ``process_*``/``python_*`` collectors that
every process adds (``ordersource.metrics.process_registry``) are described once, not
listed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry

from command_service.decider.metrics import DeciderMetrics
from ordersource.metrics import request_seconds, requests_in_flight, requests_shed
from ordersource.settings import Settings
from projector.console.metrics import ConsoleMetrics
from projector.core.metrics import ProjectorMetrics

STANDARD_PREFIXES = ("process_", "python_")


@dataclass(frozen=True)
class Process:
    name: str
    """As in the metric names: ``orders_<name>_...``."""
    service: str
    """As ``make start-<service>`` and the tests' ``services(...)`` call it."""
    port_setting: str
    """The Settings field (``ORDERS_<FIELD>``) of the port serving /metrics."""
    build: Callable[[CollectorRegistry], object]
    """Creates the process's metrics in the given registry."""

    @property
    def default_port(self) -> int:
        port = Settings.model_fields[self.port_setting].default
        assert isinstance(port, int)
        return port


def _api_metrics(process: str) -> Callable[[CollectorRegistry], object]:
    """What both HTTP API apps create: request latency and admission control."""

    def build(registry: CollectorRegistry) -> object:
        return [
            request_seconds(registry, process),
            requests_shed(registry, process),
            requests_in_flight(registry, process),
        ]

    return build


PROCESSES = (
    Process("command_api", "command-api", "command_api_port", _api_metrics("command_api")),
    Process("decider", "decider", "decider_port", DeciderMetrics),
    Process("projector", "projector", "projector_port", ProjectorMetrics),
    Process("query_api", "query-api", "query_api_port", _api_metrics("query_api")),
    Process("console", "console", "console_port", ConsoleMetrics),
)


@dataclass(frozen=True)
class Family:
    name: str
    """As in the exposition's ``# TYPE`` line (counters with their ``_total``)."""
    type: str
    labels: tuple[str, ...]
    help: str


def families(process: Process) -> list[Family]:
    registry = CollectorRegistry()
    process.build(registry)
    found = []
    # prometheus_client has no public way to list a collector's label names, hence the
    # private attributes (stable since 0.4); every metric here is a Counter/Gauge/Histogram.
    for collector in list(registry._collector_to_names):
        labels = tuple(getattr(collector, "_labelnames", ()))
        for metric in collector.collect():
            name = f"{metric.name}_total" if metric.type == "counter" else metric.name
            found.append(Family(name, metric.type, labels, metric.documentation))
    return sorted(found, key=lambda f: f.name)


def documented() -> dict[str, dict[str, Family]]:
    """Process name -> exposition family name -> family."""
    return {p.name: {f.name: f for f in families(p)} for p in PROCESSES}


HEADER = """\
# Metrics

Generated from the code by `make docs`: do not edit by hand (a unit test
fails when this file and the code differ; an e2e test compares it with what each running
process serves).

Every metric of ours is named `orders_<process>_<what>_<unit>`. Each process serves its
own registry on `GET /metrics` (Prometheus text format), on the port given below
(`ORDERS_<PROCESS>_PORT`); it holds that process's `orders_` metrics and the standard
collectors of prometheus_client, nothing else:

- `process_*` (CPU seconds, resident/virtual memory, open file descriptors, start time)
  and `python_info`, `python_gc_*` (collections, collected and uncollectable objects),
  in every process alike.
- Counters and histograms also export a `<name>_created` gauge (prometheus_client's
  creation timestamp of the series); histograms the usual `_bucket`, `_sum` and `_count`
  series.

A labelled metric lists its family (`# HELP`/`# TYPE`) from the start, and its series
once it has seen a label value (`orders_decider_commands_total` starts with both outcomes
at 0). `route` is the matched route's path template, `unmatched` when no route matched (an
unknown path, or a request refused before routing: the command API's 413, 415, 431, and
either API's 503 Overloaded);
`status` is the response status code.
"""


def _rows(process: Process) -> Iterator[str]:
    yield ""
    yield f"## {process.name}: `:{process.default_port}/metrics`"
    yield ""
    yield f"Process `{process.service}`, port `ORDERS_{process.port_setting.upper()}`."
    yield ""
    yield "| Metric | Type | Labels | Meaning |"
    yield "| --- | --- | --- | --- |"
    for family in families(process):
        labels = ", ".join(f"`{label}`" for label in family.labels) or "none"
        yield f"| `{family.name}` | {family.type} | {labels} | {family.help} |"


def render() -> str:
    lines = [HEADER.rstrip("\n")]
    for process in PROCESSES:
        lines.extend(_rows(process))
    return "\n".join(lines) + "\n"
