"""G1 under a crash: kill -9 the decider with 1,000 commands over 100 orders in flight.

Every command answered 2xx must be in the log exactly once; a command that timed out
(202) is "unknown" and may or may not be there — but never twice. Versions stay 1..n.
And every order's history, as the clients saw it (the modifies of one order race each
other, without If-Match), is linearizable: porcupine finds an order of the commands,
within their real-time intervals, in which each answered version is the one before + 1.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.eventlog import assert_contiguous, read_log
from tests.support.history import History
from tests.support.http import place_body
from tests.support.linearizability import check_linearizable
from tests.support.load import RecordedCall, post_all_recorded
from tests.support.waiting import wait_until

pytestmark = pytest.mark.fault  # the quick fault subset of make test

ORDERS = 100
COMMANDS = 1000


def test_kill_9_decider_under_load_loses_and_duplicates_nothing(
    services: Any, settings_env: Mapping[str, str], tmp_path: Path
) -> None:
    tuning = {"ORDERS_COMMAND_WAIT_MS": "30000", "ORDERS_DECIDER_SESSION_TIMEOUT_MS": "6000"}
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
    load = threading.Thread(
        target=lambda: results.extend(
            post_all_recorded(api.url(), calls[ORDERS:], history, concurrency=40)
        )
    )
    load.start()
    # Kill while commands are being decided: once the log has grown by a hundred or so.
    wait_until(
        lambda: len(read_log(settings_env)) >= ORDERS + 100,
        timeout=60,
        interval=0.2,
        message="load did not start",
    )
    decider.kill()
    services("decider", env=tuning)
    load.join(timeout=180)
    assert not load.is_alive()

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
