"""G1/G4 answers survive a Redis outage: verdicts decided while Redis is away are
delivered when it is back, and a Redis that lost its data gets the recent ones again.

Redis is killed (it comes back empty: no persistence) or paused (SIGSTOP: connections
hang instead of failing) while the decider decides commands. Afterwards every command —
decided before the outage or during it — must be readable at ``GET /commands/{id}`` as
accepted with the answer it got, within a deadline; none may be 404 or "pending".

And a command the broker did not take (503) is not in the log, so ``GET /commands/{id}``
does not know it (404): never "pending".
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis.asyncio as aioredis

from command_service.api.waiter import LOOKUP_S, VerdictWaiter
from ordersource.ids import new_id
from tests.support.http import place_body, post_all
from tests.support.kafka_infra import KafkaBroker
from tests.support.redis_infra import RedisBroker, RedisServer
from tests.support.services import Services, isolated_settings
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.fault, pytest.mark.integration]

BEFORE, DURING = 20, 30
RECOVERY_S = 45.0


class Outage:
    """Takes ``own_redis`` away and brings it back: killed (back empty) or paused."""

    def __init__(self, server: RedisBroker, how: str) -> None:
        self.server, self.how = server, how

    def begin(self) -> None:
        if self.how == "kill":
            self.server.kill()
        else:
            assert isinstance(self.server, RedisServer)
            os.kill(self.server.pid, signal.SIGSTOP)

    def end(self) -> None:
        if self.how == "kill":
            self.server.start()
        else:
            assert isinstance(self.server, RedisServer)
            os.kill(self.server.pid, signal.SIGCONT)
        self.server.wait_ready()


@pytest.fixture(params=["kill", "pause"])
def outage(request: pytest.FixtureRequest, own_redis: RedisBroker) -> Iterator[Outage]:
    if request.param == "pause" and not isinstance(own_redis, RedisServer):
        pytest.skip("pausing needs a local redis-server process")
    outage = Outage(own_redis, request.param)
    yield outage
    if request.param == "pause" and own_redis.is_running():
        assert isinstance(own_redis, RedisServer)
        os.kill(own_redis.pid, signal.SIGCONT)  # never leave it stopped for the teardown


def _readyz(decider: Any) -> dict[str, Any]:
    try:
        body: dict[str, Any] = httpx.get(decider.url("/readyz"), timeout=2).json()
    except (httpx.HTTPError, ValueError):
        return {}
    return body


def test_every_decided_command_is_answered_after_a_redis_outage(
    kafka: KafkaBroker, own_redis: RedisBroker, outage: Outage, tmp_path: Path
) -> None:
    env = isolated_settings(kafka, own_redis, tmp_path / "state")
    services = Services({**env, "ORDERS_COMMAND_WAIT_MS": "1000"}, tmp_path / "logs")
    try:
        decider = services("decider")
        api = services("command-api")
        base = api.url()
        expected: dict[str, dict[str, Any]] = {}  # command_id -> what its result must say

        before = post_all(base, [("/orders", place_body(f"pre-{n}"), {}) for n in range(BEFORE)])
        for response in before:
            assert response.status_code == 201, response.text
            expected[response.json()["command_id"]] = response.json()

        outage.begin()
        during = post_all(base, [("/orders", place_body(f"out-{n}"), {}) for n in range(DURING)])
        for n, response in enumerate(during):
            # Redis is away, so the API cannot hear the verdict: 202, decided meanwhile.
            assert response.status_code == 202, response.text
            expected[response.json()["command_id"]] = {"order_id": f"out-{n}", "version": 1}
        # Decided while Redis was away, and waiting in the decider to be delivered.
        waiting = wait_until(
            lambda: (r := _readyz(decider)).get("undelivered_verdicts", 0) >= DURING and r,
            timeout=60,
            message="the decider does not hold the verdicts it could not deliver",
        )
        assert (waiting["checks"]["redis"], waiting["ready"]) == (False, False)
        assert waiting["status"] == "unavailable"
        outage.end()

        def unanswered() -> list[tuple[str, Any]]:
            missing = []
            with httpx.Client(base_url=base, timeout=5) as client:
                for command_id, result in expected.items():
                    got = client.get(f"/commands/{command_id}")
                    body = got.json() if got.status_code == 200 else None
                    if (
                        body is None
                        or body["status"] != "accepted"
                        or body["http_status"] != 201
                        or any(body["result"].get(k) != v for k, v in result.items())
                    ):
                        missing.append((command_id, body or got.status_code))
            return missing

        start = time.monotonic()
        try:
            wait_until(lambda: not unanswered(), RECOVERY_S, interval=0.5)
        except AssertionError:
            left = unanswered()
            raise AssertionError(
                f"{len(left)} of {len(expected)} decided commands unanswered {RECOVERY_S:g} s "
                f"after Redis returned ({outage.how}), e.g. {left[:3]}"
            ) from None
        print(f"every answer readable {time.monotonic() - start:.1f} s after Redis returned")
        wait_until(lambda: _readyz(decider).get("ready"), 30, message="decider not ready")
        assert _readyz(decider)["undelivered_verdicts"] == 0
    except BaseException:
        print(services.log_report(40))
        raise
    finally:
        services.stop_all()


def test_a_waiting_request_keeps_its_budget_while_redis_is_paused(
    own_redis: RedisBroker,
) -> None:
    """The API's waiter with the API's client settings: a hung Redis must not hold a
    request past its wait budget by more than one bounded look-up."""
    if not isinstance(own_redis, RedisServer):
        pytest.skip("pausing needs a local redis-server process")
    budget = 1.0

    async def scenario() -> float:
        pool = aioredis.BlockingConnectionPool.from_url(
            own_redis.url, max_connections=8, timeout=2, socket_timeout=2
        )
        client = aioredis.Redis(connection_pool=pool)
        waiter = VerdictWaiter(client)
        await waiter.start()
        os.kill(own_redis.pid, signal.SIGSTOP)
        try:
            start = time.monotonic()
            assert await waiter.wait(new_id(), budget) is None
            return time.monotonic() - start
        finally:
            os.kill(own_redis.pid, signal.SIGCONT)
            await waiter.stop()
            await client.aclose()

    elapsed = asyncio.run(scenario())
    assert elapsed < budget + LOOKUP_S + 0.5, f"waited {elapsed:.2f} s on a {budget:g} s budget"


def test_a_command_answered_503_is_unknown_not_pending(
    own_kafka: KafkaBroker, redis_server: RedisBroker, tmp_path: Path
) -> None:
    env = isolated_settings(own_kafka, redis_server, tmp_path / "state")
    services = Services({**env, "ORDERS_COMMAND_SEND_TIMEOUT_MS": "1000"}, tmp_path / "logs")
    try:
        api = services("command-api")
        own_kafka.kill()
        with httpx.Client(base_url=api.url(), timeout=30) as client:
            keyed = {"Idempotency-Key": "k-503"}
            answers = [
                client.post("/orders", json=place_body("refused-1")),
                client.post("/orders", json=place_body("refused-2"), headers=keyed),
            ]
            for answer in answers:
                assert answer.status_code == 503, answer.text
                assert answer.headers["retry-after"] == "1"
                status = client.get(f"/commands/{answer.json()['command_id']}")
                assert status.status_code == 404, status.text
        with redis_server.client() as r:
            assert list(r.scan_iter(match="pending:*")) == []
    except BaseException:
        print(services.log_report(40))
        raise
    finally:
        services.stop_all()
