"""A decider started while Kafka does not answer waits for it instead of exiting: /readyz
answers 503 ``unavailable`` with ``kafka`` false, the attempts are logged and retried
with back-off, and SIGTERM still ends it cleanly (within seconds, exit 0)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.support.net import free_port
from tests.support.waiting import wait_until

pytestmark = pytest.mark.component


def test_a_decider_without_kafka_waits_says_so_and_stops_on_sigterm(services: Any) -> None:
    nobody = f"127.0.0.1:{free_port()}"  # nothing listens there
    decider = services("decider", env={"ORDERS_KAFKA_BOOTSTRAP": nobody}, wait=False)

    def unavailable() -> dict[str, Any] | None:
        try:
            answer = httpx.get(decider.url("/readyz"), timeout=2)
        except httpx.HTTPError:
            return None  # not listening yet
        return answer.json() if answer.status_code == 503 else None

    body = wait_until(unavailable, 30, message="/readyz never said Kafka is unavailable")
    assert body == {"ready": False, "status": "unavailable", "checks": {"kafka": False}}
    # Two failed attempts (5 s each) and the process still there: it waits, it does not exit.
    wait_until(lambda: decider.tail(200).count("Kafka does not answer yet") >= 2, 40, 0.5)
    assert decider.alive, decider.tail()
    assert decider.terminate(15) == 0, decider.tail()
