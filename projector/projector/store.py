"""Where the projection lives: the ``ProjectionStore`` port and its Redis adapter.

One batch = one read round trip (``load``: generation marker, checkpoints, current views)
and one write round trip (``commit``: a Lua script whose commands arrive as one JSON
argument — encoding thousands of separate arguments in redis-py cost more than the fold).
The script first checks that the generation still exists and that every partition's
checkpoint is what ``load`` saw, then writes views, indexes, history, stats, parked
events and checkpoints. So a batch is
applied entirely or not at all, Redis emptied between load and commit is noticed, and a
second projector that took over a partition cannot interleave with this one.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Protocol

from redis.asyncio import Redis

from ordersource import codec
from ordersource.keys import CURRENT_GENERATION, GENERATIONS, ViewKeys
from ordersource.views import rfc3339
from projector.plan_ops import plan_ops
from projector.projection import BatchPlan, Snapshot

_COMMIT = """
local meta, checkpoint = ARGV[1], ARGV[2]
if redis.call('EXISTS', meta) == 0 then return 0 end
local guards = cjson.decode(ARGV[3])
for i = 1, #guards, 2 do
  local have, want = redis.call('HGET', checkpoint, guards[i]), guards[i + 1]
  if want == '' then
    if have then return 0 end
  elseif have ~= want then return 0 end
end
for _, op in ipairs(cjson.decode(ARGV[4])) do
  if op[1] == 'HMAX' then -- keep the larger number in a hash field (and its label)
    local old = tonumber(redis.call('HGET', op[2], op[3]) or '-1')
    if tonumber(op[4]) > old then redis.call('HSET', op[2], op[3], op[4], op[5], op[6]) end
  else
    redis.call(unpack(op))
  end
end
return 1
"""

_INITIALIZE = """
local doc = redis.call('HGET', KEYS[2], ARGV[1])
if doc and cjson.decode(doc).state == 'retired' then return 0 end
redis.call('HSETNX', KEYS[1], 'generation', ARGV[1])
redis.call('HSETNX', KEYS[1], 'created_at', ARGV[2])
local cur = redis.call('GET', KEYS[3])
if ARGV[3] == '1' and not cur then
  redis.call('SET', KEYS[3], ARGV[1])
  cur = ARGV[1]
end
if not doc then
  local state = 'building'
  if cur == ARGV[1] then state = 'live' end
  local t = {state = state, origin = ARGV[4], created_at = ARGV[2]}
  redis.call('HSET', KEYS[2], ARGV[1], cjson.encode(t))
end
return 1
"""


class ProjectionStore(Protocol):
    generation: str

    async def load(self, order_ids: Iterable[str], partitions: Iterable[int]) -> Snapshot | None:
        """The batch's starting point, or None when the generation does not exist."""

    async def commit(self, plan: BatchPlan, now: float) -> bool:
        """Apply the plan atomically; False if the store moved since ``load``."""

    async def initialize(self, now: float) -> None:
        """Create the generation's marker (and make it current if none is)."""

    async def checkpoints(self) -> dict[int, int]: ...

    async def report_progress(self, progress: dict[int, dict[str, Any]]) -> None: ...

    async def ping(self) -> bool: ...


class RedisProjectionStore:
    """``claim_current``: make this generation current if none is (the projector's
    behaviour, so an emptied Redis shows views again as they are rebuilt); off for
    generations a replay builds beside the current one."""

    def __init__(self, redis: Redis, generation: str, *, claim_current: bool = True) -> None:
        self.redis, self.generation, self.keys = redis, generation, ViewKeys(generation)
        self.claim_current = claim_current
        self._commit = redis.register_script(_COMMIT)
        self._initialize = redis.register_script(_INITIALIZE)

    async def load(self, order_ids: Iterable[str], partitions: Iterable[int]) -> Snapshot | None:
        ids, parts = list(order_ids), sorted(set(partitions))
        pipe = self.redis.pipeline(transaction=False)
        pipe.exists(self.keys.meta)
        pipe.hmget(self.keys.checkpoint, [str(p) for p in parts] or ["-"])
        if ids:
            pipe.mget([self.keys.order(i) for i in ids])
        exists, offsets, *views = await pipe.execute()
        if not exists:
            return None
        checkpoints = {p: int(o) for p, o in zip(parts, offsets, strict=False) if o is not None}
        stored = views[0] if views else []
        return Snapshot(
            checkpoints=checkpoints,
            views={i: codec.loads(v) if v else None for i, v in zip(ids, stored, strict=True)},
        )

    async def commit(self, plan: BatchPlan, now: float) -> bool:
        guards: list[str] = []
        for partition, offset in plan.expected.items():
            guards += [str(partition), "" if offset is None else str(offset)]
        ops = plan_ops(self.keys, plan, now)
        args: list[str | bytes] = [self.keys.meta, self.keys.checkpoint]
        args += [codec.dumps(guards), codec.dumps(ops)]
        return bool(await self._commit(args=args))

    async def initialize(self, now: float) -> None:
        # One script: a retired generation (switched away from, being dropped) is never
        # recreated by a straggling batch, and the registry learns every generation.
        names = [self.keys.meta, GENERATIONS, CURRENT_GENERATION]
        claim = "1" if self.claim_current else "0"
        args = [self.generation, rfc3339_from(now), claim, "projector"]
        await self._initialize(keys=names, args=args)

    async def rewind_checkpoints(self, offsets: dict[int, int]) -> None:
        """Move partitions' checkpoints back (an operator reset to an offset or a time)."""
        if offsets:
            mapping = {str(p): str(o) for p, o in offsets.items()}
            await self.redis.hset(self.keys.checkpoint, mapping=mapping)  # type: ignore[arg-type]

    async def checkpoints(self) -> dict[int, int]:
        stored = await self.redis.hgetall(self.keys.checkpoint)
        return {int(p): int(o) for p, o in stored.items()}

    async def report_progress(self, progress: dict[int, dict[str, Any]]) -> None:
        if progress:
            mapping = {str(p): codec.dumps(v) for p, v in progress.items()}
            await self.redis.hset(self.keys.progress, mapping=mapping)  # type: ignore[arg-type]

    async def progress(self) -> dict[int, dict[str, Any]]:
        stored = await self.redis.hgetall(self.keys.progress)
        return {int(p): codec.loads(v) for p, v in stored.items()}

    async def ping(self) -> bool:
        return bool(await self.redis.ping())


def rfc3339_from(epoch_seconds: float) -> str:
    return rfc3339(datetime.fromtimestamp(epoch_seconds, UTC))
