"""The decider's restarts, from its local state and from a snapshot in Kafka.

After kill -9 it takes its partitions back at once (static membership: no waiting out the
dead member's session) and reads only the events after its local state; on a fresh disk
it restores the newest snapshot and the events after it. Either way every retry gets its
original answer, closed orders stay closed, and new commands are decided on the state
the whole log gives.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.eventlog import read_log
from tests.support.http import place_body
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

SESSION_S = 60
"""The dead member's session: a restart that had to wait it out would take this long."""
DECIDER = {
    "ORDERS_DECIDER_SESSION_TIMEOUT_MS": str(SESSION_S * 1000),
    "ORDERS_DECIDER_INSTANCE_ID": "restart-test",
    "ORDERS_DECIDER_SNAPSHOT_EVERY_EVENTS": "100",
    "ORDERS_DECIDER_SNAPSHOT_EVERY_S": "1",
}


def metric(decider: Any, name: str) -> float:
    text = httpx.get(decider.url("/metrics"), timeout=5).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name) and not line.startswith("#")
    )


def post(api: Any, path: str, body: dict[str, Any], key: str) -> httpx.Response:
    return httpx.post(api.url(path), json=body, headers={"Idempotency-Key": key}, timeout=30)


def test_restarts_from_local_state_and_from_a_snapshot_decide_like_the_whole_log(
    services: Any, settings_env: Mapping[str, str]
) -> None:
    decider = services("decider", env=DECIDER)
    api = services("command-api")
    answers: dict[str, httpx.Response] = {}
    for n in range(12):
        answers[f"place-{n}"] = post(api, "/orders", place_body(f"r-{n}"), f"place-{n}")
    for n in range(0, 12, 2):  # every other order cancelled: closed for good
        path = f"/orders/r-{n}/cancel"
        answers[f"cancel-{n}"] = post(api, path, {"reason": "test"}, f"cancel-{n}")
    assert {r.status_code for r in answers.values()} == {200, 201}
    # A snapshot of every partition with events, in Kafka.
    partitions_with_events = len({e.partition for e in read_log(settings_env)})
    wait_until(
        lambda: metric(decider, "orders_decider_snapshots_written_total") >= partitions_with_events,
        30,
        message="snapshots not written",
    )

    def restart(*, wipe: bool) -> Any:
        decider.kill()
        if wipe:
            shutil.rmtree(Path(settings_env["ORDERS_STATE_DIR"]) / f"decider-{_tid(settings_env)}")
        started = time.monotonic()
        again = services("decider", env=DECIDER, timeout=SESSION_S / 2)
        # Ready well before the dead member's session ran out: it did not wait for it.
        assert time.monotonic() - started < SESSION_S / 2
        return again

    for wipe in (False, True):
        decider = restart(wipe=wipe)
        if wipe:
            assert "state restored from snapshot" in decider.log_path.read_text()
        for key, first in answers.items():
            order = f"r-{key.split('-')[1]}"
            path, body = (
                ("/orders", place_body(order))
                if key.startswith("place")
                else (f"/orders/{order}/cancel", {"reason": "test"})
            )
            retried = post(api, path, body, key)
            assert (retried.status_code, retried.json()) == (first.status_code, first.json()), key
        # Closed orders stay closed, open ones still change, ids stay taken.
        payment = {"amount_cents": 600, "payment_ref": "psp-1"}
        shut = post(api, "/orders/r-0/pay", payment, f"pay-0-{wipe}")
        assert (shut.status_code, shut.json()["order_status"]) == (409, "cancelled")
        paid = post(api, "/orders/r-1/pay", payment, f"pay-1-{wipe}")
        # Paid after the first restart; after the second one it is paid already.
        if wipe:
            assert (paid.status_code, paid.json()["order_status"]) == (409, "paid")
        else:
            assert (paid.status_code, paid.json()["status"]) == (200, "paid")
        taken = post(api, "/orders", place_body("r-0"), f"again-0-{wipe}")
        assert taken.status_code == 409
    assert metric(decider, "orders_decider_snapshot_restores_total") >= 1
    versions: dict[str, list[int]] = {}
    for logged in read_log(settings_env):
        versions.setdefault(logged.event.order_id, []).append(logged.event.version)
    assert all(v == list(range(1, len(v) + 1)) for v in versions.values()), versions


def _tid(settings_env: Mapping[str, str]) -> str:
    return f"{settings_env['ORDERS_DECIDER_GROUP']}-{DECIDER['ORDERS_DECIDER_INSTANCE_ID']}"
