"""The decider's verdict courier with a fake Redis: retried until delivered or expired,
bounded, oldest first, and a Redis that comes back (or is a new server) is noticed."""

from __future__ import annotations

from typing import Any

import pytest
import redis

from command_service.decider import metrics
from command_service.decider.courier import BATCH, VerdictCourier
from command_service.verdicts import Verdict

pytestmark = pytest.mark.unit

TTL = 60


class FakeRedis:
    def __init__(self) -> None:
        self.down = False
        self.run_id = "a"
        self.data: dict[str, tuple[bytes, int]] = {}
        self.published: list[bytes] = []
        self.calls = 0

    def _check(self) -> None:
        self.calls += 1
        if self.down:
            raise redis.ConnectionError("refused")

    def info(self, section: str) -> dict[str, Any]:
        self._check()
        return {"run_id": self.run_id}

    def ping(self) -> bool:
        self._check()
        return True

    def pipeline(self, transaction: bool) -> FakePipe:
        return FakePipe(self)


class FakePipe:
    def __init__(self, server: FakeRedis) -> None:
        self.server = server
        self.ops: list[tuple[Any, ...]] = []

    def set(self, key: str, value: bytes, ex: int, nx: bool) -> None:
        self.ops.append(("set", key, value, ex, nx))

    def publish(self, channel: str, value: bytes) -> None:
        self.ops.append(("publish", channel, value))

    def execute(self) -> None:
        self.server._check()
        for op in self.ops:
            if op[0] == "set":
                _, key, value, ex, nx = op
                if not (nx and key in self.server.data):
                    self.server.data[key] = (value, ex)
            else:
                self.server.published.append(op[2])


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def verdict(n: int, accepted: bool = True) -> Verdict:
    body = {"order_id": f"o-{n}", "version": 1}
    return Verdict(command_id=f"c-{n}", accepted=accepted, http_status=201, body=body)


def courier(capacity: int = 1000) -> tuple[VerdictCourier, FakeRedis, Clock]:
    server, clock = FakeRedis(), Clock()
    return VerdictCourier(server, TTL, capacity, clock=clock), server, clock


def drain(c: VerdictCourier) -> None:
    for _ in range(100):
        if c.step() > 0 and not c.queue:
            return
    raise AssertionError("the courier never settled")


def dropped(reason: str) -> float:
    value = metrics.REGISTRY.get_sample_value(
        "orders_decider_verdicts_dropped_total", {"reason": reason}
    )
    return value or 0.0


def test_delivers_in_order_with_set_and_publish() -> None:
    c, server, _ = courier()
    c.announce([verdict(n) for n in range(3)])
    assert server.calls == 0  # announcing never touches Redis (the writer's thread)
    drain(c)
    assert [Verdict.from_bytes(p).command_id for p in server.published] == ["c-0", "c-1", "c-2"]
    assert server.data["result:c-1"] == (verdict(1).to_bytes(), TTL)
    assert c.redis_ok
    assert len(c) == 0


def test_keeps_verdicts_while_redis_is_away_and_delivers_them_when_it_returns() -> None:
    c, server, clock = courier()
    drain(c)
    server.down = True
    c.announce([verdict(1), verdict(2)])
    delays = [c.step() for _ in range(4)]
    assert delays == sorted(delays)
    assert delays[-1] > delays[0]
    assert not c.redis_ok
    assert len(c) == 2
    assert not server.data
    returned = c.returned
    clock.now += 10
    server.down = False
    drain(c)
    assert [Verdict.from_bytes(p).command_id for p in server.published] == ["c-1", "c-2"]
    assert server.data["result:c-1"][1] == TTL - 10  # what is left of its TTL
    assert c.returned == returned + 1  # the writers re-announce


def test_a_verdict_past_its_ttl_is_dropped_not_delivered() -> None:
    c, server, clock = courier()
    drain(c)
    server.down = True
    c.announce([verdict(1)])
    clock.now += TTL / 2
    c.announce([verdict(2)])
    before = dropped("expired")
    clock.now += TTL / 2 + 1
    server.down = False
    drain(c)
    assert dropped("expired") == before + 1
    assert list(server.data) == ["result:c-2"]


def test_bounded_the_oldest_go_first() -> None:
    c, server, _ = courier(capacity=3)
    server.down = True
    before = dropped("overflow")
    c.announce([verdict(n) for n in range(5)])
    assert [u.command_id for u in c.queue] == ["c-2", "c-3", "c-4"]
    c.step()  # a failed delivery puts its batch back in front, still bounded
    c.announce([verdict(5)])
    assert [u.command_id for u in c.queue] == ["c-3", "c-4", "c-5"]
    assert dropped("overflow") == before + 3
    server.down = False
    drain(c)
    assert sorted(server.data) == ["result:c-3", "result:c-4", "result:c-5"]


def test_reannouncements_never_overwrite_and_are_not_published() -> None:
    c, server, _ = courier()
    server.data["result:c-1"] = (b"original", TTL)
    c.announce([verdict(1), verdict(2)], only_missing=True)
    drain(c)
    assert server.data["result:c-1"] == (b"original", TTL)
    assert "result:c-2" in server.data
    assert server.published == []


def test_large_backlogs_go_in_batches() -> None:
    c, server, _ = courier(capacity=10 * BATCH)
    c.announce([verdict(n) for n in range(2 * BATCH + 1)])
    assert c.step() == 0.0  # more to do at once
    assert len(c) == BATCH + 1
    drain(c)
    assert len(server.data) == 2 * BATCH + 1


def test_a_new_redis_server_counts_as_a_return() -> None:
    c, server, clock = courier()
    c.step()
    returned = c.returned
    server.run_id = "b"  # restarted (empty) between two probes
    clock.now += 2
    c.step()
    assert c.returned == returned + 1
