"""``orders replay`` in place: refused (exit 2, saying how) while the projector's group
has live members; with the projector stopped it resets the group like Kafka's tool, and
the restarted projector honours it — a full rebuild for --to-earliest, a rewind of the
checkpoints for --to-offset (then only what the views miss is re-applied)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
import pytest
import redis

from ordersource import codec
from tests.support.events import orders
from tests.support.read_side import append, get_json, start_read_side, wait_verified
from tests.support.replays import orders_cli, until_ok
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration


def test_replay_refuses_while_the_group_is_live_then_resets_it(
    services: Any, settings_env: Mapping[str, str]
) -> None:
    projector, query = start_read_side(services)
    bootstrap, topic = settings_env["ORDERS_KAFKA_BOOTSTRAP"], settings_env["ORDERS_EVENTS_TOPIC"]
    append(bootstrap, topic, orders(100, "r"))
    wait_verified(settings_env)

    refused = orders_cli(settings_env, "replay", "--to-earliest")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "live member" in refused.stderr
    assert "faust" in refused.stderr  # names the member (Faust's client id)
    assert "make stop-projector" in refused.stderr
    assert "make start-projector" in refused.stderr
    bad = orders_cli(settings_env, "replay", "--to-earliest", "--to-offset", "0:0")
    assert bad.returncode == 2

    client = redis.Redis.from_url(settings_env["ORDERS_REDIS_URL"])
    client.set("v:1:order:r3", codec.dumps(get_json(query.url("/orders/r3")) | {"status": "x"}))
    projector.terminate()
    reset = until_ok(lambda: orders_cli(settings_env, "replay", "--to-earliest"))
    assert "make start-projector" in reset.stdout
    services("projector")
    wait_until(lambda: client.get("views:current") == b"2", 60, message="no rebuild")
    wait_verified(settings_env)
    assert get_json(query.url("/orders/r3"))["status"] == "shipped"
    client.close()


def test_replay_to_offset_rewinds_the_checkpoint(
    services: Any, settings_env: Mapping[str, str]
) -> None:
    projector = services("projector")
    bootstrap, topic = settings_env["ORDERS_KAFKA_BOOTSTRAP"], settings_env["ORDERS_EVENTS_TOPIC"]
    append(bootstrap, topic, orders(60, "p"))
    wait_verified(settings_env)
    projector.terminate()
    specs = [f"--to-offset={p}:0" for p in range(int(settings_env["ORDERS_PARTITIONS"]))]
    specs[0] = "--to-offset=0:1"  # not the earliest everywhere: a rewind, not a rebuild
    reset = until_ok(lambda: orders_cli(settings_env, "replay", *specs))
    assert "rewinds" in reset.stdout

    again = services("projector")
    # Everything after the reset offsets comes again and is skipped by version: 239 of 240.
    skipped = "orders_projector_events_skipped_total 239.0"
    wait_until(
        lambda: skipped in httpx.get(again.url("/metrics")).text,
        60, message="the projector did not re-read from the reset offsets",
    )  # fmt: skip
    wait_verified(settings_env)
    client = redis.Redis.from_url(settings_env["ORDERS_REDIS_URL"])
    assert client.get("views:current") == b"1"  # the same generation, rewound
    client.close()
