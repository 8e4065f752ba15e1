"""G1/G2/G5 when a project process dies (kill -9) or freezes (SIGSTOP) under load.

Each run: the four processes on fresh topics, ~60 commands/s of place/modify/pay with
Idempotency-Keys, then the fault. A killed process is restarted by the test at once
(as a supervisor would); a frozen one is continued after a planned pause. Then commands
sent after the recovery must be acknowledged again without any further help, every
acknowledged command is in the log exactly once, versions stay 1..n, the views equal
the fold of the log, and reads through the query API work again (``read back``).

The decider freeze (8 s) outlasts its 6 s session timeout: it comes back as a member
the group has dropped, its open transaction must be refused and rolled back.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Mapping

import pytest

from tests.support.faults import STACK, MakeRun

pytestmark = pytest.mark.fault
# The quick subset of `make test` keeps one process kill: the decider's, the one that
# matters most for G1. Everything else here is also `slow` (run by `make fault`).
KILLS = [pytest.param(n, marks=[] if n == "decider" else [pytest.mark.slow]) for n in STACK]

FREEZE_S = {"decider": 8.0, "command-api": 5.0, "projector": 5.0, "query-api": 5.0}


@pytest.mark.parametrize("name", KILLS)
def test_kill_9_and_restart(name: str, fault_run: MakeRun, settings_env: Mapping[str, str]) -> None:
    run = fault_run(f"kill -9 {name}", settings_env).start()
    with run.fault():
        run.procs[name].kill()
        run.restart(name)
    run.finish()


@pytest.mark.slow
@pytest.mark.parametrize("name", STACK)
def test_sigstop_then_sigcont(
    name: str, fault_run: MakeRun, settings_env: Mapping[str, str]
) -> None:
    run = fault_run(f"SIGSTOP {FREEZE_S[name]:g}s {name}", settings_env).start()
    pid = run.procs[name].pid
    with run.fault():
        os.kill(pid, signal.SIGSTOP)
        try:
            run.hold(FREEZE_S[name])
        finally:
            os.kill(pid, signal.SIGCONT)
    assert run.procs[name].alive, f"{name} died after SIGCONT:\n{run.procs[name].tail()}"
    run.finish()
