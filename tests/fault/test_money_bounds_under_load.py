"""G6 under load: a hostile but valid writer at the money bounds.

The background load's orders are themselves at the bounds: one line of up to 1,000 units
at the largest unit price (10^12 cents), so totals up to 10^15 cents, each paid in full.
The fault is a burst of 9,300 orders of exactly 10^15 cents in one currency from 16
clients at once (one in ten with the most lines, 100), interleaved with orders one cent
above the bound. Before issue 12, 94 such orders overflowed the per-currency counter in
the commit script and wedged projection for good; now an order is at most 10^15 cents,
the per-currency totals are limbs, and ``/stats`` passes 2^63 exactly (as a string).

The row: 0 acknowledged commands lost, every order above the bound refused with 422 and
absent from the log, projection never stops, ``orders verify`` clean (the stats too), and
``/stats`` equal to the exact sum of the log's order totals.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from ordersource.domain.types import MAX_ORDER_TOTAL_CENTS, MAX_UNIT_PRICE_CENTS
from projector.ops.verify import fold_log
from tests.support.faults import MakeRun, settings_for
from tests.support.kafka_infra import KafkaBroker
from tests.support.load import hostile_orders
from tests.support.readiness import ReadyzWatch
from tests.support.redis_infra import RedisBroker
from tests.support.services import isolated_settings

pytestmark = [pytest.mark.fault, pytest.mark.slow, pytest.mark.timeout(1_500)]

HOSTILE = 9_300  # x 10^15 cents: past 2^63 (9.22 x 10^18) in one currency
# 20 commands/s beside the burst; it runs until finish() stops it, however long the
# burst takes (150-400 s: the stack is CPU-bound on two cores).
AT_THE_BOUNDS = {
    "price": MAX_UNIT_PRICE_CENTS,
    "max_quantity": 1000,
    "rate": 20.0,
    "max_commands": 100_000,
    "max_seconds": 1_200.0,
}
CLIENTS = 16  # more clients only slow it down on two cores (53/s at 64, 81/s at 16)
# A bound on liveness, not a speed target: the burst took 151 s, 273 s, over 400 s and
# 171 s on four days on the same two cores (the machine's speed varies 2x day to day);
# its speed belongs in `make bench`. Past the bound the test fails (stalled, not slow).
BURST_DEADLINE_S = 900.0


def test_hostile_orders_at_the_money_bounds_under_load(
    fault_run: MakeRun, kafka: KafkaBroker, own_redis: RedisBroker, tmp_path: Path
) -> None:
    env = isolated_settings(kafka, own_redis, tmp_path / "state")
    name = f"{HOSTILE:,} orders of 10^15 cents, {CLIENTS} clients (load at the bounds too)"
    run = fault_run(name, env, load=AT_THE_BOUNDS).start()
    with ReadyzWatch(run.procs["projector"].url("/readyz")) as watch, run.fault():
        history = run.load.history
        burst = hostile_orders(
            run.command_url, history, HOSTILE, concurrency=CLIENTS, max_seconds=BURST_DEADLINE_S
        )
    run.finish(clean_timeout=180)
    assert all(proc.alive for proc in run.procs.values()), "a service exited"
    assert burst.acknowledged == HOSTILE, f"only {burst.acknowledged} of {HOSTILE} placed"
    assert len(burst.over_statuses) == HOSTILE // 100, burst.over_statuses
    assert set(burst.over_statuses) == {422}, burst.over_statuses
    assert not watch.failing(), watch.failing()  # never stopped: nothing to retry

    totals = [state.total_cents for state in fold_log(settings_for(env)).states.values()]
    assert all(total <= MAX_ORDER_TOTAL_CENTS for total in totals)
    exact = sum(totals)
    assert exact > 2**63
    stats = httpx.get(f"http://127.0.0.1:{env['ORDERS_QUERY_API_PORT']}/stats").json()
    assert stats["by_currency"]["EUR"] == {"orders": len(totals), "total_cents": str(exact)}
