"""``ordersource.generation``: one rule for which generation a reader or a writer means,
the same answer sync and async."""

from __future__ import annotations

import asyncio

import pytest

from ordersource.generation import aresolve_generation, resolve_generation
from ordersource.keys import CURRENT_GENERATION, REBUILD_GENERATION

pytestmark = pytest.mark.unit


class FakeRedis:
    def __init__(self, stored: dict[str, bytes]) -> None:
        self.stored = stored

    def mget(self, keys: list[str]) -> list[bytes | None]:
        return [self.stored.get(k) for k in keys]


class FakeAsyncRedis(FakeRedis):
    async def mget(self, keys: list[str]) -> list[bytes | None]:  # type: ignore[override]
        return [self.stored.get(k) for k in keys]


@pytest.mark.parametrize(
    ("stored", "reader", "writer"),
    [
        ({}, None, None),
        ({CURRENT_GENERATION: b"3"}, "3", "3"),
        ({CURRENT_GENERATION: b"3", REBUILD_GENERATION: b"4"}, "3", "4"),
        ({REBUILD_GENERATION: b"4"}, None, "4"),
    ],
)
def test_readers_mean_current_writers_their_rebuild_first(
    stored: dict[str, bytes], reader: str | None, writer: str | None
) -> None:
    sync, aio = FakeRedis(stored), FakeAsyncRedis(stored)
    assert resolve_generation(sync) == asyncio.run(aresolve_generation(aio)) == reader
    assert resolve_generation(sync, writer=True) == writer
    assert asyncio.run(aresolve_generation(aio, writer=True)) == writer
