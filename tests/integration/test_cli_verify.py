"""``orders verify`` catches a view changed behind its back (exit 1, naming the order and
what differs) and passes on untouched views; ``orders status`` shows generations,
per-partition offsets and the DLQ."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest
import redis

from ordersource import codec
from tests.support.events import orders
from tests.support.read_side import append, start_read_side, wait_verified
from tests.support.replays import orders_cli

pytestmark = pytest.mark.integration


def test_verify_names_the_order_that_differs(
    services: Any, settings_env: Mapping[str, str]
) -> None:
    start_read_side(services)
    bootstrap, topic = settings_env["ORDERS_KAFKA_BOOTSTRAP"], settings_env["ORDERS_EVENTS_TOPIC"]
    append(bootstrap, topic, orders(50, "v"))
    wait_verified(settings_env)
    clean = orders_cli(settings_env, "verify")
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert "views equal the fold of 200 events" in clean.stdout

    with redis.Redis.from_url(settings_env["ORDERS_REDIS_URL"]) as client:
        view = codec.loads(client.get("v:1:order:v42") or b"{}")
        client.set("v:1:order:v42", codec.dumps(view | {"total_cents": 599}))
    found = orders_cli(settings_env, "verify")
    assert found.returncode == 1, found.stdout + found.stderr
    assert "order v42: view differs" in found.stdout
    assert "total_cents: log says 600, Redis has 599" in found.stdout
    assert "v41" not in found.stdout

    status = orders_cli(settings_env, "status")
    assert status.returncode == 0, status.stdout + status.stderr
    assert "1 (current)" in status.stdout
    assert "live members: faust" in status.stdout
    assert "0 dead letter(s)" in status.stdout
    unknown = orders_cli(settings_env, "verify", "--generation", "7")
    assert unknown.returncode == 1  # nothing there: every order is missing
