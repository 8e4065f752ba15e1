"""Operations: ``kill -USR1`` makes each running process write its thread stacks to its
log and go on serving (the fault harness uses it on a stall)."""

from __future__ import annotations

from functools import partial
from typing import Any

import pytest

from tests.support.faults import STACK
from tests.support.net import http_status
from tests.support.services import ServiceProcess
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration


def dumped(proc: ServiceProcess) -> bool:
    return "most recent call first" in proc.log_path.read_text(errors="replace")


def test_sigusr1_dumps_the_stacks_of_every_process(services: Any) -> None:
    procs = [services(name, wait=False) for name in STACK]
    for proc in procs:
        proc.wait_http_ok(proc.url("/readyz"), timeout=90)
    for proc in procs:
        proc.dump_stacks()
        wait_until(partial(dumped, proc), 10, message=f"{proc.name} wrote no stacks")
    for proc in procs:
        assert proc.alive, f"{proc.name} died:\n{proc.tail()}"
        assert http_status(proc.url("/readyz")) == 200
