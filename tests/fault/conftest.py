"""Fixtures for the fault tests and the results table they produce.

``fault_run(name, env, load=None, targets=None)`` builds a ``FaultRun`` whose processes
run on ``env`` (the session infrastructure, or a test's own broker / Redis / cluster),
under a ``CommandLoad`` with the options ``load`` (default: small orders), sent to
``targets`` if given (APIs the run did not start itself). Each finished run
adds a row; at the end of the session the table is printed and, if
``ORDERS_FAULT_REPORT`` names a file (``make fault`` does), written there as markdown.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import _test_failed
from tests.support import faultreport
from tests.support.faults import FaultRun, MakeRun, Targets
from tests.support.processes import REPO_ROOT
from tests.support.services import Services

_rows = pytest.StashKey[list[dict[str, Any]]]()
# Loaded during collection: close enough to the session's start for the table's footer.
_LOADED = time.monotonic()


@pytest.fixture
def fault_run(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[MakeRun]:
    runs: list[FaultRun] = []
    rows = request.config.stash.setdefault(_rows, [])

    def make(
        name: str,
        env: Mapping[str, str],
        load: Mapping[str, Any] | None = None,
        targets: Targets | None = None,
    ) -> FaultRun:
        services = Services(env, tmp_path / f"logs-{len(runs)}")
        runs.append(FaultRun(name, env, services, rows.append, load, targets))
        return runs[-1]

    yield make
    for run in runs:
        run.close()
        run.services.stop_all()
        if run.services.started and _test_failed(request):
            print(run.services.log_report(60))


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    rows = config.stash.get(_rows, [])
    if not rows:
        return
    seconds = time.monotonic() - _LOADED
    terminalreporter.section("fault results")
    terminalreporter.write_line(faultreport.render(rows))
    target = os.environ.get("ORDERS_FAULT_REPORT")
    if target:
        path = Path(target) if Path(target).is_absolute() else REPO_ROOT / target
        faultreport.write(rows, path, seconds)
        terminalreporter.write_line(f"\nwritten to {path} ({seconds:.0f} s)")
