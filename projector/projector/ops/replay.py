"""Building a generation from the log in the CLI process: blue/green and bounded replays.

The same ``BatchHandler`` and ``RedisProjectionStore`` the projector uses, fed by a
plain batch reader (``projector.ops.logreader``) instead of Faust — several times faster,
and the live projector keeps serving the current generation meanwhile.

Blue/green: build generation N from the earliest offsets up to the current end of the
log, then ``generations.switch`` (atomic; refused while N is behind the current one, in
which case the loop catches up again — the live projector may have applied newer
events meanwhile). The projector notices the switch within a second and moves onto
N's checkpoints; once it reports on N (or if none runs) the old generation is dropped.
Bounded (``--until T``): the same build, stopped per partition at the first offset at
or after T; registered ``bounded``, never current, readable with ``?generation=N``.

A replay beats its generation's heartbeat while it builds, and first sweeps away any
generation whose builder died (``generations.sweep``): a SIGKILLed replay leaves no keys
in Redis for longer than the next replay takes to start.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis

from ordersource.settings import Settings
from ordersource.views import rfc3339
from projector import offsets
from projector.core.batch import BatchHandler
from projector.core.metrics import ProjectorMetrics
from projector.core.plan import Incoming
from projector.ops.logreader import LogReader
from projector.store import generations
from projector.store.redis_store import RedisProjectionStore

log = logging.getLogger(__name__)

CHUNK = 2000
"""Records per atomic commit: bigger is faster, but Redis runs one script at a time."""
DROP_GRACE_S = 1.0
"""Time for queries that resolved the old generation just before the switch to finish."""

Progress = Callable[[int, int], None]
"""(records read so far, records to read in this pass)."""


def tune_gc() -> None:
    """As the projector does (``projector.__main__``): with CPython's default gen-0
    threshold the collector runs so often it costs more than the fold."""
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)


class ReplayConflict(RuntimeError):
    pass


@dataclass
class Built:
    generation: str
    events: int
    seconds: float
    replaced: str | None = None
    dropped_keys: int = 0
    projector_followed: bool | None = None
    swept: list[str] = field(default_factory=list)
    """Abandoned generations (a builder that died) dropped before this one was built."""

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else 0.0


class KnownDeadLetters:
    """Unreadable records were dead-lettered when the projector first met them."""

    def __init__(self) -> None:
        self.count = 0

    async def send(self, record: Incoming, reason: str) -> None:
        self.count += 1


class NoRewind:
    async def rewind(self) -> None:
        raise RuntimeError("Redis lost the generation being built; run the replay again")


class Builder:
    def __init__(
        self, settings: Settings, redis: Redis, admin: Any, generation: str, state: str
    ) -> None:
        self.settings, self.redis, self.admin = settings, redis, admin
        self.generation, self.state = generation, state
        self.beaten = time.monotonic()
        self.beat_s = generations.heartbeat_s(settings.replay_abandoned_after_s)
        self.store = RedisProjectionStore(redis, generation, claim_current=False)
        self.handler = BatchHandler(self.store, KnownDeadLetters(), NoRewind(), ProjectorMetrics())
        self.partitions = offsets.partitions(admin, settings.events_topic)
        self.reader = LogReader(settings, self.partitions)
        self.events = 0

    async def __aenter__(self) -> Builder:
        await self.store.initialize(time.time())
        await self.reader.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.reader.close()

    async def ends(self) -> dict[int, int]:
        return await asyncio.to_thread(offsets.ends, self.admin, self.settings.events_topic)

    async def catch_up(self, targets: Mapping[int, int], progress: Progress | None) -> None:
        start = await self.reader.positions()
        total = sum(max(0, targets[p] - start[p]) for p in targets)
        done = 0
        while not await self.reader.reached(targets):
            batch = await self.reader.read()
            for i in range(0, len(batch), CHUNK):
                await self.handler.handle(batch[i : i + CHUNK])
            self.events += len(batch)
            done += len(batch)
            if progress:
                progress(done, total)
            await self.beat()

    async def beat(self) -> None:
        if time.monotonic() - self.beaten < self.beat_s:
            return
        self.beaten = time.monotonic()
        if not await generations.beat(self.redis, self.generation, self.state):
            raise ReplayConflict(f"generation {self.generation} was swept or changed meanwhile")


async def blue_green(
    settings: Settings, redis: Redis, admin: Any, origin: str, progress: Progress | None = None
) -> Built:
    swept = await _sweep(settings, redis)
    old = await generations.current(redis)
    generation = await generations.allocate(redis, generations.BUILDING, origin)
    began = time.monotonic()
    try:
        async with Builder(settings, redis, admin, generation, generations.BUILDING) as builder:
            while True:
                await builder.catch_up(await builder.ends(), progress)
                switched = await generations.switch(redis, generation, old)
                if switched == 1:
                    break
                if switched == 0:
                    raise ReplayConflict("views:current changed during the replay")
    except BaseException:
        await generations.drop(redis, generation)  # never leave a half-built generation
        raise
    built = Built(generation, builder.events, time.monotonic() - began, old, swept=swept)
    if old is not None:
        try:
            built.projector_followed = await _wait_for_projector(settings, redis, admin, generation)
            await asyncio.sleep(DROP_GRACE_S)
        finally:  # switched: the old generation goes, even if this is cancelled meanwhile
            built.dropped_keys = await asyncio.shield(generations.drop(redis, old))
    return built


async def bounded(
    settings: Settings, redis: Redis, admin: Any, until: Any, progress: Progress | None = None
) -> Built:
    """``until``: an aware datetime. The log as of that moment, in a new generation."""
    topic, ms = settings.events_topic, int(until.timestamp() * 1000)
    parts = offsets.partitions(admin, topic)
    found = offsets.partition_offsets(admin, topic, dict.fromkeys(parts, ms))
    ends = offsets.ends(admin, topic)
    stops = {p: found[p] if found[p] >= 0 else ends[p] for p in parts}
    swept = await _sweep(settings, redis)
    generation = await generations.allocate(
        redis, generations.BOUNDED, "until", until=rfc3339(until)
    )
    began = time.monotonic()
    try:
        async with Builder(settings, redis, admin, generation, generations.BOUNDED) as builder:
            builder.reader.stop = stops
            await builder.catch_up(stops, progress)
            await generations.built(redis, generation)
    except BaseException:
        await generations.drop(redis, generation)
        raise
    return Built(generation, builder.events, time.monotonic() - began, swept=swept)


async def _sweep(settings: Settings, redis: Redis) -> list[str]:
    after_s = settings.replay_abandoned_after_s
    swept = await generations.sweep(redis, after_s)
    if swept:
        log.warning(
            "dropped generations %s: building, and no heartbeat for %.0f s",
            swept,
            after_s,
        )
    return swept


async def _wait_for_projector(
    settings: Settings, redis: Redis, admin: Any, generation: str, timeout_s: float = 60.0
) -> bool | None:
    """True once every partition's progress report names ``generation``'s keys after the
    switch; None if no projector runs; False on timeout (the old one is dropped anyway:
    a projector that then finds it gone re-resolves the current generation)."""
    group = settings.projector_group
    if not await asyncio.to_thread(offsets.members, admin, group):
        return None
    switched_at = time.time()
    store = RedisProjectionStore(redis, generation)
    wanted = set(offsets.partitions(admin, settings.events_topic))
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        reports = await store.progress()
        if wanted <= {p for p, r in reports.items() if r["reported_at"] >= switched_at}:
            return True
        await asyncio.sleep(0.2)
    return False
