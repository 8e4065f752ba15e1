"""Scaling under load: a second decider / projector joins, then leaves (SIGTERM).

Each membership change moves partitions between instances (consumer-group rebalance).
For the deciders this is the single-writer hand-over: the new owner must catch up from
the log before deciding, so there are no duplicate versions and no lost commands; for the
projectors, checkpoints must hand over without double-applying or skipping. "No stall":
after each change, commands sent afterwards are acknowledged again within the deadline.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import pytest

from tests.support.faults import TUNING, MakeRun
from tests.support.net import free_port

pytestmark = [pytest.mark.fault, pytest.mark.slow]

SECOND: dict[str, Callable[[Path], dict[str, str]]] = {
    # Its own health port (transactional ids are per partition, so nothing else differs).
    "decider": lambda _: {"ORDERS_DECIDER_PORT": str(free_port())},
    # Its own port and scratch dir, as a second host would have.
    "projector": lambda tmp: {
        "ORDERS_PROJECTOR_PORT": str(free_port()),
        "ORDERS_STATE_DIR": str(tmp / "second-projector"),
    },
}


@pytest.mark.parametrize("name", sorted(SECOND))
def test_second_instance_joins_then_leaves(
    name: str, fault_run: MakeRun, settings_env: Mapping[str, str], tmp_path: Path
) -> None:
    run = fault_run(f"2nd {name} joins, then leaves", settings_env).start()
    with run.fault():
        second = run.services(name, env={**TUNING, **SECOND[name](tmp_path)}, timeout=120)
        # Both members must have taken part in the work before the second one leaves.
        run.wait_acks(100, run.t_fault, 90, f"no acks after the 2nd {name} joined")
        assert second.terminate(30) == 0, f"2nd {name} did not leave cleanly:\n{second.tail()}"
    run.finish()
