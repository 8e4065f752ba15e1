"""The command gateway with fakes of Kafka and Redis: ids from Idempotency-Keys, the
fingerprint check, the replayed answer, a pending command's marker, and a log that does
not take the command."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from command_service import answers
from command_service.api.gateway import (
    CommandGateway,
    Decided,
    KeyReused,
    LogUnavailable,
    Pending,
)
from command_service.decider.book import PartitionBook
from command_service.verdicts import Verdict
from ordersource import keys
from ordersource.domain import PlaceOrder
from ordersource.ids import command_id_for_key
from ordersource.settings import Settings
from tests.support.commands import T0, new_id
from tests.support.write_side import FakeCommandLog, FakeRedis

pytestmark = pytest.mark.unit


class Waiter:
    """The verdict waiter, answered by a book that decides each sent command at once
    (``hold``: it decides nothing, as when the decider is slow)."""

    def __init__(self, commands: FakeCommandLog) -> None:
        self.commands = commands
        self.book = PartitionBook(0)
        self.stored: dict[str, Verdict] = {}
        self.expected: set[str] = set()
        self.hold = False
        self.subscribed = asyncio.Event()

    def expect(self, command_id: str) -> None:
        self.expected.add(command_id)

    def forget(self, command_id: str) -> None:
        self.expected.discard(command_id)

    async def wait(self, command_id: str, budget_s: float) -> Verdict | None:
        assert command_id in self.expected  # registered before the command was sent
        if not self.hold:
            for command in self.commands.sent:
                if command.command_id not in self.stored:
                    _, decision = self.book.judge(command, now=T0, new_id=new_id)
                    self.stored[command.command_id] = answers.verdict(command.command_id, decision)
        self.forget(command_id)
        return self.stored.get(command_id)

    async def lookup(self, command_id: str) -> Verdict | None:
        return self.stored.get(command_id)


def place(order_id: str = "o1") -> Any:
    def make(command_id: str, request_hash: str | None) -> PlaceOrder:
        return PlaceOrder(
            command_id=command_id,
            order_id=order_id,
            request_hash=request_hash,
            customer_id="bob",
            currency="EUR",
            items=[{"sku": "apple", "quantity": 1, "unit_price_cents": 100}],
        )

    return make


def gateway() -> tuple[CommandGateway, FakeRedis, FakeCommandLog, Waiter]:
    redis, commands = FakeRedis(), FakeCommandLog()
    waiter = Waiter(commands)
    return CommandGateway(Settings(), redis, commands, waiter), redis, commands, waiter


def test_a_command_without_a_key_gets_a_fresh_id_and_its_verdict() -> None:
    gw, redis, commands, _ = gateway()
    reply = asyncio.run(gw.submit(place(), fingerprint=["place"], idempotency_key=None))
    assert isinstance(reply, Decided)
    assert not reply.replayed
    assert (reply.verdict.http_status, reply.verdict.body["order_id"]) == (201, "o1")
    [sent] = commands.sent
    assert sent.request_hash is None
    assert not any(k.startswith("idem") for k in redis.data)


def test_a_retried_key_is_the_same_command_and_gets_the_stored_answer() -> None:
    gw, redis, commands, _ = gateway()

    async def twice() -> tuple[Any, Any]:
        first = await gw.submit(place(), fingerprint=["place", 1], idempotency_key="alice/k1")
        again = await gw.submit(place(), fingerprint=["place", 1], idempotency_key="alice/k1")
        return first, again

    first, again = asyncio.run(twice())
    assert commands.sent[0].command_id == command_id_for_key("alice/k1")
    assert len(commands.sent) == 1  # the retry was answered from Redis, not sent again
    assert isinstance(again, Decided)
    assert again.replayed
    assert again.verdict == first.verdict
    assert redis.expiry[keys.idempotency("alice/k1")] == Settings().idempotency_ttl_s


def test_a_key_reused_with_another_request_is_refused_before_anything_is_sent() -> None:
    gw, _, commands, _ = gateway()

    async def reuse() -> None:
        await gw.submit(place(), fingerprint=["place", 1], idempotency_key="k1")
        await gw.submit(place(), fingerprint=["place", 2], idempotency_key="k1")

    with pytest.raises(KeyReused):
        asyncio.run(reuse())
    assert len(commands.sent) == 1


def test_a_retry_before_the_verdict_is_stored_is_sent_again() -> None:
    """The decider recognises the command id: sending it twice is harmless."""
    gw, _, commands, waiter = gateway()
    waiter.hold = True

    async def retry() -> Any:
        await gw.submit(place(), fingerprint=["place"], idempotency_key="k1")
        waiter.hold = False
        return await gw.submit(place(), fingerprint=["place"], idempotency_key="k1")

    reply = asyncio.run(retry())
    assert [c.command_id for c in commands.sent] == [command_id_for_key("k1")] * 2
    assert isinstance(reply, Decided)
    assert reply.verdict.http_status == 201


def test_an_undecided_command_is_pending_with_its_marker_written() -> None:
    gw, redis, _, waiter = gateway()
    waiter.hold = True

    async def submit() -> tuple[Any, tuple[str, Verdict | None]]:
        reply = await gw.submit(place(), fingerprint=["place"], idempotency_key=None)
        assert isinstance(reply, Pending)
        return reply, await gw.status(reply.command_id)

    reply, status = asyncio.run(submit())
    assert isinstance(reply, Pending)
    assert reply.location == f"/commands/{reply.command_id}"
    assert redis.data[keys.pending(reply.command_id)] == b"1"
    assert status == ("pending", None)


def test_a_log_that_does_not_take_the_command_is_log_unavailable() -> None:
    gw, redis, commands, waiter = gateway()
    commands.down = True
    with pytest.raises(LogUnavailable) as refused:
        asyncio.run(gw.submit(place(), fingerprint=["place"], idempotency_key="k1"))
    assert refused.value.command_id == command_id_for_key("k1")
    assert waiter.expected == set()  # nothing left waiting
    assert keys.pending(refused.value.command_id) not in redis.data  # GET says 404


def test_without_redis_the_gateway_relies_on_the_decider() -> None:
    gw, redis, commands, _ = gateway()
    redis.down = True
    reply = asyncio.run(gw.submit(place(), fingerprint=["place"], idempotency_key="k1"))
    assert isinstance(reply, Decided)
    assert reply.verdict.http_status == 201
    assert len(commands.sent) == 1


def test_status_of_decided_refused_and_unknown_commands() -> None:
    gw, _, _, _ = gateway()

    async def statuses() -> list[tuple[str, Verdict | None]]:
        placed = await gw.submit(place(), fingerprint=["place"], idempotency_key=None)
        twice = await gw.submit(place(), fingerprint=["place"], idempotency_key=None)
        assert isinstance(placed, Decided)
        assert isinstance(twice, Decided)
        return [
            await gw.status(placed.verdict.command_id),
            await gw.status(twice.verdict.command_id),
            await gw.status("nobody"),
        ]

    accepted, rejected, unknown = asyncio.run(statuses())
    assert accepted[0] == "accepted"
    assert (rejected[0], rejected[1] and rejected[1].http_status) == ("rejected", 409)
    assert unknown == ("unknown", None)
