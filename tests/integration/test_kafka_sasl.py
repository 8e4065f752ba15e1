"""Every Kafka client of every process and of the ``orders`` CLI speaks SASL/PLAIN when
told to: a broker with a SASL_PLAINTEXT listener, the four processes and the CLI on that
listener only. An order goes through the whole flow, ``verify``, ``status`` and an
operator's offset reset (``orders replay --to-earliest`` with the projector stopped: the
restarted projector rebuilds into generation 2 and switches to it, on a quiet log) work;
a wrong password is refused.

The broker is a local process (with ``ORDERS_TEST_INFRA=containers`` too): the SASL
listener is configured through ``deploy/local/bin/kafka-server``'s extra properties."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from ordersource import codec, keys
from tests.support.http import place_body
from tests.support.kafka_infra import KafkaServer
from tests.support.redis_infra import RedisBroker
from tests.support.replays import orders_cli, until_ok
from tests.support.services import Services, isolated_settings
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

USER, SECRET = "orders", "orders-secret"


@pytest.fixture
def sasl_kafka(tmp_path: Path) -> Iterator[KafkaServer]:
    server = KafkaServer(tmp_path / "sasl-kafka", sasl_users={USER: SECRET})
    server.start()
    try:
        server.wait_ready(180)
        yield server
    finally:
        server.close()


def test_every_client_speaks_sasl(
    sasl_kafka: KafkaServer, redis_server: RedisBroker, tmp_path: Path
) -> None:
    env = isolated_settings(sasl_kafka, redis_server, tmp_path / "state")
    env |= {
        "ORDERS_KAFKA_BOOTSTRAP": sasl_kafka.sasl_bootstrap,
        "ORDERS_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "ORDERS_KAFKA_SASL_MECHANISM": "PLAIN",
        "ORDERS_KAFKA_SASL_USERNAME": USER,
        "ORDERS_KAFKA_SASL_PASSWORD": SECRET,
    }
    services = Services(env, tmp_path / "logs")
    # A wrong password is refused: the CLI waits out its bootstrap (30 s) before it says
    # so, so that check runs beside the rest of the test.
    wrong = ThreadPoolExecutor(1)
    refusal = wrong.submit(orders_cli, {**env, "ORDERS_KAFKA_SASL_PASSWORD": "wrong"}, "verify")
    try:
        services("decider")
        projector = services("projector")
        commands, queries = services("command-api").url(), services("query-api").url()
        placed = httpx.post(f"{commands}/orders", json=place_body("sasl-1"), timeout=30)
        assert placed.status_code == 201, placed.text

        def visible() -> bool:
            return httpx.get(f"{queries}/orders/sasl-1", timeout=5).status_code == 200

        wait_until(visible, 60, message="the order never reached the view")
        verified = orders_cli(env, "verify")
        assert verified.returncode == 0, verified.stdout + verified.stderr
        assert "views equal the fold of 1 events" in verified.stdout
        status = orders_cli(env, "status")
        assert status.returncode == 0, status.stdout + status.stderr

        # An operator's reset over SASL is seen and acted on: a rebuild into a new
        # generation (the reset is read through the admin client's SASL connection),
        # which becomes current with no new command (the end offsets and the probe of
        # a trailing commit marker go through the probe client's SASL connection).
        projector.terminate()
        until_ok(lambda: orders_cli(env, "replay", "--to-earliest"), timeout=60)
        services("projector")
        registry = redis_server.client()

        def rebuilding() -> bool:
            doc = registry.hget(keys.GENERATIONS, "2")
            return doc is not None and codec.loads(doc).get("origin") == "reset"

        wait_until(rebuilding, 60, message="the operator's reset was not acted on")
        wait_until(lambda: registry.get(keys.CURRENT_GENERATION) == b"2", 60,
                   message="the rebuild never became current")  # fmt: skip
        until_ok(lambda: orders_cli(env, "verify"), timeout=60)

        refused = refusal.result(timeout=120)
        assert refused.returncode != 0
        assert "views equal" not in refused.stdout
    finally:
        wrong.shutdown(wait=True)
        services.stop_all()
