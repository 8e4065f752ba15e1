"""G1 under a crash: kill -9 the decider with 1,000 commands over 100 orders in flight.

Every command answered 2xx must be in the log exactly once; a command that timed out
(202) is "unknown" and may or may not be there — but never twice. Versions stay 1..n.
And every order's history, as the clients saw it, is linearizable: porcupine finds an
order of the commands, within their real-time intervals, in which each answered version
is the one before + 1 (``tests/support/linearizability.py``).

The second test races compare-and-set: several clients per order send modifies with
If-Match of the version each last saw, so most lose (412, with the version they lost
to) — while the decider is killed and replaced. One winner per version, every 412 at a
version that was current then, nothing acknowledged lost: that is what linearizability
of the per-order register means here.
"""

from __future__ import annotations

import asyncio
import shutil
import threading
import time
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest

from ordersource.ids import command_id_for_key
from tests.support.eventlog import assert_contiguous, read_log
from tests.support.history import ACKNOWLEDGED, REJECTED, History, Op, check
from tests.support.http import limits, place_body
from tests.support.linearizability import check_linearizable
from tests.support.load import RecordedCall, post_all_recorded, send_recorded
from tests.support.pending import undecided_202s
from tests.support.waiting import wait_until

pytestmark = pytest.mark.fault  # the quick fault subset of make test

ORDERS = 100
COMMANDS = 1000


SNAPSHOTTING = {
    "ORDERS_DECIDER_SNAPSHOT_EVERY_EVENTS": "100",
    "ORDERS_DECIDER_SNAPSHOT_EVERY_S": "1",
    "ORDERS_DECIDER_INSTANCE_ID": "crash",
}


@pytest.mark.parametrize(
    "wipe",
    [
        pytest.param(False, id="restart-on-its-disk"),
        # Snapshots written all the time (the kill may land in one), the disk lost: the
        # new decider starts from the partitions' snapshots in Kafka and their tails.
        pytest.param(True, id="restart-on-a-new-disk", marks=pytest.mark.slow),
    ],
)
def test_kill_9_decider_under_load_loses_and_duplicates_nothing(
    services: Any, settings_env: Mapping[str, str], tmp_path: Path, wipe: bool
) -> None:
    tuning = {"ORDERS_COMMAND_WAIT_MS": "30000", "ORDERS_DECIDER_SESSION_TIMEOUT_MS": "6000"}
    if wipe:
        tuning |= SNAPSHOTTING
    decider = services("decider", env=tuning)
    api = services("command-api", env=tuning)
    history = History()
    calls: list[RecordedCall] = [
        (f"crash-{n}", "place", "/orders", place_body(f"crash-{n}"), {}) for n in range(ORDERS)
    ]
    calls += [
        (
            f"crash-{n % ORDERS}",
            "modify",
            f"/orders/crash-{n % ORDERS}/modify",
            {"changes": [{"sku": "apple", "quantity": 1 + n % 999}]},
            {},
        )
        for n in range(COMMANDS - ORDERS)
    ]
    # Places first (so modifies find their orders), then the rest concurrently.
    placed = post_all_recorded(api.url(), calls[:ORDERS], history, concurrency=50)
    assert all(r.status_code == 201 for r in placed)

    results: list[httpx.Response] = []
    failures: list[BaseException] = []

    def send_the_rest() -> None:
        try:
            results.extend(post_all_recorded(api.url(), calls[ORDERS:], history, concurrency=40))
        except BaseException as exc:  # the test fails on it below, not only a warning
            failures.append(exc)

    load = threading.Thread(target=send_the_rest)
    load.start()
    # Kill while commands are being decided: once the log has grown by a hundred or so.
    wait_until(
        lambda: len(read_log(settings_env)) >= ORDERS + 100,
        timeout=60,
        interval=0.2,
        message="load did not start",
    )
    if wipe:
        wait_until(
            lambda: (
                "orders_decider_snapshots_written_total 0.0"
                not in httpx.get(decider.url("/metrics"), timeout=5).text
            ),
            timeout=30,
            interval=0.2,
            message="no snapshot written",
        )
    decider.kill()
    if wipe:
        state = Path(settings_env["ORDERS_STATE_DIR"])
        shutil.rmtree(state / f"decider-{settings_env['ORDERS_DECIDER_GROUP']}-crash")
    restarted = services("decider", env=tuning)
    load.join(timeout=180)
    assert not load.is_alive()
    assert failures == []
    assert len(results) == COMMANDS - ORDERS

    responses = placed + results
    acknowledged = [r.json()["command_id"] for r in responses if r.status_code in (200, 201)]
    assert all(r.status_code in (200, 201, 202) for r in responses), Counter(
        r.status_code for r in responses
    )
    logged = read_log(settings_env)
    in_log = Counter(e.event.command_id for e in logged)
    assert [cid for cid, n in in_log.items() if n > 1] == []
    assert [cid for cid in acknowledged if cid not in in_log] == []
    assert_contiguous(logged)
    # Commands answered 202 were still decided once the new decider took over.
    pending = [r.json()["command_id"] for r in responses if r.status_code == 202]
    wait_until(
        lambda: all(cid in {e.event.command_id for e in read_log(settings_env)} for cid in pending),
        timeout=60,
        interval=0.5,
        message="202-answered commands never reached the log",
    )
    check_linearizable(history, tmp_path / "linearizability")
    if wipe:
        assert "state restored from snapshot" in restarted.log_path.read_text()


RACE_ORDERS = 20
RACERS = 4  # clients per order
RACE_MAX_PER_CLIENT = 400  # commands; the race is stopped long before


@pytest.mark.slow  # about two minutes: in make fault and make test-all, not make test
def test_kill_9_decider_while_clients_race_compare_and_set(
    services: Any, settings_env: Mapping[str, str], tmp_path: Path
) -> None:
    tuning = {"ORDERS_COMMAND_WAIT_MS": "30000", "ORDERS_DECIDER_SESSION_TIMEOUT_MS": "6000"}
    decider = services("decider", env=tuning)
    api = services("command-api", env=tuning)
    history, stopping = History(), threading.Event()
    orders = [f"race-{n}" for n in range(RACE_ORDERS)]

    async def racer(client: httpx.AsyncClient, order_id: str, n: int) -> None:
        version = 1  # the version this client last saw
        for i in range(RACE_MAX_PER_CLIENT):
            if stopping.is_set():
                return
            key = f"{order_id}.{n}.{i}"
            op = Op(key, command_id_for_key(key), order_id, "modify", time.monotonic())
            op.expected = version
            history.add(op)
            change = {"changes": [{"sku": "apple", "quantity": 1 + (n * 31 + i) % 50}]}
            path = f"/orders/{order_id}/modify"
            await send_recorded(client, op, path, change, 3, stopping.is_set)
            if op.outcome == ACKNOWLEDGED and op.version is not None:
                version = op.version
            elif op.outcome == REJECTED and op.reported is not None:
                version = op.reported
            # Fate unknown: keep the old version; the next CAS wins or learns the new one.

    async def race() -> None:
        pool = limits(RACE_ORDERS * RACERS + 4)
        async with httpx.AsyncClient(base_url=api.url(), timeout=40, limits=pool) as client:
            places = []
            for order_id in orders:
                key = f"{order_id}.place"
                op = Op(key, command_id_for_key(key), order_id, "place", time.monotonic())
                history.add(op)
                places.append(send_recorded(client, op, "/orders", place_body(order_id), 3))
            await asyncio.gather(*places)
            assert all(op.outcome == ACKNOWLEDGED for op in history.ops), history.ops
            await asyncio.gather(
                *(racer(client, order_id, n) for order_id in orders for n in range(RACERS))
            )

    failures: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(race())
        except BaseException as exc:  # reported by the test below
            failures.append(exc)

    load = threading.Thread(target=run, daemon=True)
    load.start()
    wait_until(
        lambda: len(history.acks()) >= RACE_ORDERS + 200 or not load.is_alive(),
        timeout=60,
        interval=0.1,
        message="the race did not start",
    )
    decider.kill()
    services("decider", env=tuning)
    restarted = time.monotonic()
    wait_until(
        lambda: len(history.acks(restarted)) >= 200 or not load.is_alive(),
        timeout=90,
        interval=0.2,
        message="no acks after the new decider came up",
    )
    stopping.set()
    load.join(timeout=120)
    assert not load.is_alive()
    assert failures == [], failures
    assert len(history.acks(restarted)) >= 200, "the race ended before the decider came back"

    ops = history.ops
    statuses = Counter(op.attempts[-1][2] for op in ops)
    assert statuses[412] >= 100, f"the clients hardly raced: {statuses}"
    broken = undecided_202s(ops, settings_env)
    assert broken == [], [f"202 but never decided: {op.key} {op.attempts}" for op in broken]
    logged = read_log(settings_env)
    checked = check(ops, logged)
    assert checked.violations == [], checked.violations[:20]
    assert_contiguous(logged)
    check_linearizable(history, tmp_path / "linearizability")
