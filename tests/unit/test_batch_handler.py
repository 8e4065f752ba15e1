"""The batch handler with fakes: re-delivery, dead letters, rebuild after a wipe."""

from __future__ import annotations

import asyncio

import pytest

from ordersource.codec import encode_event
from ordersource.domain import Event, fold
from ordersource.views import to_view
from projector.core.batch import BatchHandler
from projector.core.metrics import ProjectorMetrics
from projector.core.plan import Incoming
from projector.store.memory import InMemoryProjectionStore
from tests.support.events import lifecycle, placed
from tests.support.projection_fakes import FakeDeadLetters, FakeRewinder

pytestmark = pytest.mark.unit


def make() -> tuple[BatchHandler, InMemoryProjectionStore, FakeDeadLetters, FakeRewinder]:
    store, dead, rewinder = InMemoryProjectionStore(), FakeDeadLetters(), FakeRewinder()
    return BatchHandler(store, dead, rewinder, ProjectorMetrics()), store, dead, rewinder


def log_of(events: list[Event]) -> list[Incoming]:
    return [Incoming(0, i, e.order_id.encode(), encode_event(e)) for i, e in enumerate(events)]


def test_first_batch_on_an_empty_store_builds_the_generation_and_rewinds() -> None:
    handler, store, _, rewinder = make()
    asyncio.run(handler.handle(log_of([placed("o1")])))
    assert store.built
    assert rewinder.rewinds == 1
    assert not store.views
    asyncio.run(handler.handle(log_of([placed("o1")])))
    assert store.views["o1"]["version"] == 1


def test_redelivery_after_a_crash_changes_nothing() -> None:
    handler, store, _, _ = make()
    events = lifecycle("o1") + lifecycle("o2")
    log = log_of(events)
    asyncio.run(store.initialize(0))
    asyncio.run(handler.handle(log[:5]))
    before = dict(store.views), dict(store.stats)
    asyncio.run(handler.handle(log[:5]))  # Faust re-delivers what it had not committed
    assert (dict(store.views), dict(store.stats)) == before
    asyncio.run(handler.handle(log))
    assert store.views["o2"] == to_view(fold(events[4:]))  # type: ignore[arg-type]
    assert store.meta["events_applied"] == 8
    assert store.checkpoint == {0: 8}


def test_dead_letters_are_sent_once_and_projection_continues() -> None:
    handler, store, dead, _ = make()
    asyncio.run(store.initialize(0))
    batch = [Incoming(0, 0, b"x", b"garbage"), *log_of([placed("o1")])[0:1]]
    batch[1] = Incoming(0, 1, batch[1].key, batch[1].value)
    asyncio.run(handler.handle(batch))
    assert [(p, o) for p, o, _ in dead.sent] == [(0, 0)]
    assert store.views["o1"]["version"] == 1
    asyncio.run(handler.handle(batch))  # below the checkpoint now: not sent again
    assert len(dead.sent) == 1


def test_a_wipe_between_batches_triggers_a_rebuild() -> None:
    handler, store, _, rewinder = make()
    asyncio.run(store.initialize(0))
    log = log_of(lifecycle("o1"))
    asyncio.run(handler.handle(log[:2]))
    store.wipe()
    asyncio.run(handler.handle(log[2:]))
    assert rewinder.rewinds == 1
    assert not store.views
    asyncio.run(handler.handle(log))  # what the rewind re-reads
    assert store.views["o1"]["version"] == 4
