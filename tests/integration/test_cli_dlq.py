"""``orders dlq list`` shows dead letters with reason and origin; ``orders dlq replay``
re-decodes them with the current code (here: an upcaster deployed after the fact),
rebuilds the views blue/green so the now-readable ones are projected, and marks the DLQ
handled — still-unreadable ones stay listed."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from typer.testing import CliRunner

from ordersource import codec
from ordersource.codec import UPCASTERS
from projector.ops.cli import app
from tests.support.events import placed
from tests.support.read_side import append, append_raw, get_json, start_read_side
from tests.support.replays import orders_cli

pytestmark = pytest.mark.integration


@pytest.fixture
def upcaster() -> Iterator[None]:
    yield
    UPCASTERS.pop(("OrderPlaced", 0), None)


def test_dlq_list_and_replay(
    services: Any, settings_env: Mapping[str, str], upcaster: None
) -> None:
    _, query = start_read_side(services)
    bootstrap, topic = settings_env["ORDERS_KAFKA_BOOTSTRAP"], settings_env["ORDERS_EVENTS_TOPIC"]
    old = placed("legacy").model_dump(mode="json") | {"schema_version": 0}
    append_raw(bootstrap, topic, b"legacy", codec.dumps(old))
    append_raw(bootstrap, topic, b"junk", b"\xff{not json")
    append(bootstrap, topic, [placed("fine")])
    get_json(query.url("/orders/fine"), min_version=1, wait_ms=10_000)

    listed = orders_cli(settings_env, "dlq", "list")
    assert listed.returncode == 0, listed.stderr
    assert "2 unhandled dead letter(s)" in listed.stdout
    assert "no upcaster for OrderPlaced" in listed.stdout
    assert "not JSON" in listed.stdout

    UPCASTERS[("OrderPlaced", 0)] = lambda raw: raw | {"schema_version": 1}
    replayed = CliRunner().invoke(app, ["dlq", "replay"], env=dict(settings_env))
    assert replayed.exit_code == 1, replayed.output  # one is still unreadable
    assert "1 of 2 dead letter(s) are readable" in replayed.output
    assert "generation 2 is current" in replayed.output
    assert get_json(query.url("/orders/legacy"))["version"] == 1

    after = orders_cli(settings_env, "dlq", "list")
    assert "1 unhandled dead letter(s)" in after.stdout
    assert "not JSON" in after.stdout
    everything = orders_cli(settings_env, "dlq", "list", "--all")
    assert "2 dead letter(s)" in everything.stdout
