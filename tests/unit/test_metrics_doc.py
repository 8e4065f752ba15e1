"""Every metric follows the naming scheme (docs/metrics.md itself: tests/unit/test_docs.py)."""

from __future__ import annotations

import re

import pytest

from tools import metrics_doc

pytestmark = pytest.mark.unit


@pytest.mark.parametrize("process", metrics_doc.PROCESSES, ids=lambda p: p.name)
def test_every_metric_is_named_orders_process_what_unit(process: metrics_doc.Process) -> None:
    families = metrics_doc.families(process)
    assert families
    for family in families:
        assert family.name.startswith(f"orders_{process.name}_"), family.name
        assert re.fullmatch(r"[a-z][a-z0-9_]*", family.name), family.name
        assert family.help, family.name
        if family.type == "counter":
            assert family.name.endswith("_total"), family.name
        if family.type == "histogram":  # ends with its unit
            assert family.name.endswith(("_seconds", "_bytes", "_commands")), family.name


def test_both_apis_share_one_request_metric_scheme() -> None:
    by_process = metrics_doc.documented()
    command, query = by_process["command_api"], by_process["query_api"]
    assert [(f.type, f.labels) for f in command.values()] == [
        (f.type, f.labels) for f in query.values()
    ]
    for api, families in (("command_api", command), ("query_api", query)):
        assert list(families) == [
            f"orders_{api}_request_seconds",
            f"orders_{api}_requests_in_flight",
            f"orders_{api}_requests_shed_total",
        ]
