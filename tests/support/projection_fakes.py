"""Fakes of the batch handler's ports (``projector.core.batch``): where dead letters go,
and who rewinds the consumer. Pure, for unit tests."""

from __future__ import annotations

from projector.core.plan import Incoming


class FakeDeadLetters:
    def __init__(self) -> None:
        self.sent: list[tuple[int, int, str]] = []

    async def send(self, record: Incoming, reason: str) -> None:
        self.sent.append((record.partition, record.offset, reason))


class FakeRewinder:
    def __init__(self) -> None:
        self.rewinds = 0

    async def rewind(self) -> None:
        self.rewinds += 1
