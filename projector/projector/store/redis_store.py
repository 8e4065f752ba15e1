"""The Redis adapter of the ``ProjectionStore`` port (``projector.core.batch``).

One batch = one read round trip (``load``: generation marker, checkpoints, current views)
and one write round trip (``commit``: a Lua script whose commands arrive as one JSON
argument — encoding thousands of separate arguments in redis-py cost more than the fold).
The script first checks that the generation still exists and that every partition's
checkpoint is what ``load`` saw, then writes views, indexes, history, stats, parked
events and checkpoints. So a batch is
applied entirely or not at all, Redis emptied between load and commit is noticed, and a
second projector that took over a partition cannot interleave with this one.

All or nothing also when something fails: Redis does not roll a script back, so an
error halfway would keep the first half. The script therefore checks every op against
what Redis holds (command, arity, the type of each key, that increments land on
integers and stay in range) *before its first write*, and refuses the whole batch with
``ERR commit refused: ...`` if one would fail. The refusals that do not depend on the
ops — ``OOM`` under ``maxmemory`` with ``noeviction``, ``READONLY`` on a replica — come
at a script's first write or not at all (Redis lets a script that has written go on),
so they too leave nothing behind (``tests/component/test_commit_all_or_nothing.py``).
Long ops are split (``split_long_ops``): Lua's ``unpack`` fails beyond ~8,000 values.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from redis.asyncio import Redis

from ordersource import codec
from ordersource.keys import CURRENT_GENERATION, GENERATIONS, ViewKeys
from ordersource.views import rfc3339
from projector.core.plan import BatchPlan, Snapshot
from projector.core.writes import plan_ops

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
local ops = cjson.decode(ARGV[4])
-- Nothing is written above this line, and nothing below it may fail: check every op.
local kinds = {SET = 'string', HSET = 'hash', HINCRBY = 'hash', HMAX = 'hash',
  HADDC = 'hash', ZADD = 'zset', ZREM = 'zset'}
local types, sums = {}, {}
local function int(s) return type(s) == 'string' and string.match(s, '^-?%d+$') ~= nil end
local function add(key, field, delta) -- an increment of a hash field: on an integer, in range
  sums[key] = sums[key] or {}
  local v = sums[key][field]
  if v == nil then
    local s = redis.call('HGET', key, field) or '0'
    if not int(s) then return false end
    v = tonumber(s)
  end
  v = v + delta
  sums[key][field] = v
  return math.abs(v) < 9.2e18 -- int64, with margin for doubles
end
for i, op in ipairs(ops) do
  local cmd, key, n = op[1], op[2], #op
  local function refuse(why)
    return redis.error_reply('ERR commit refused: op ' .. i .. ' ' .. tostring(cmd) .. ' '
      .. tostring(key) .. ': ' .. why)
  end
  local kind = kinds[cmd]
  if not kind then return refuse('unknown command') end
  if type(key) ~= 'string' then return refuse('no key') end
  local have = types[key] or redis.call('TYPE', key)['ok']
  if have ~= 'none' and have ~= kind then return refuse('key holds a ' .. have) end
  types[key] = kind
  if cmd == 'SET' then
    if n ~= 3 then return refuse('arity') end
  elseif cmd == 'HSET' then
    if n < 4 or n % 2 ~= 0 then return refuse('arity') end
  elseif cmd == 'ZADD' then
    if n < 4 or n % 2 ~= 0 then return refuse('arity') end
    for j = 3, n, 2 do
      if tonumber(op[j]) == nil then return refuse('score ' .. tostring(op[j])) end
    end
  elseif cmd == 'ZREM' then
    if n < 3 then return refuse('arity') end
  elseif cmd == 'HINCRBY' then
    if n ~= 4 or not int(op[4]) then return refuse('arity or increment') end
    if not add(key, op[3], tonumber(op[4])) then return refuse('not an integer or overflow') end
  elseif cmd == 'HMAX' then
    local old = redis.call('HGET', key, op[3])
    if n ~= 6 or tonumber(op[4]) == nil or (old and tonumber(old) == nil) then
      return refuse('arity or not a number')
    end
  elseif cmd == 'HADDC' then
    if n ~= 6 or not int(op[5]) or not int(op[6]) then return refuse('arity or increment') end
    if not (add(key, op[3], tonumber(op[5])) and add(key, op[4], 1)) then
      return refuse('not an integer or overflow')
    end
  end
end
for _, op in ipairs(ops) do
  if op[1] == 'HMAX' then -- keep the larger number in a hash field (and its label)
    local old = tonumber(redis.call('HGET', op[2], op[3]) or '-1')
    if tonumber(op[4]) > old then redis.call('HSET', op[2], op[3], op[4], op[5], op[6]) end
  elseif op[1] == 'HADDC' then -- limb op[3] += op[5]; keep it below op[6], carry into op[4]
    if redis.call('HINCRBY', op[2], op[3], op[5]) >= tonumber(op[6]) then
      redis.call('HINCRBY', op[2], op[3], '-' .. op[6])
      redis.call('HINCRBY', op[2], op[4], '1')
    end
  else
    redis.call(unpack(op))
  end
end
return 1
"""

_INITIALIZE = """
local doc = redis.call('HGET', KEYS[2], ARGV[1])
if doc and cjson.decode(doc).state == 'retired' then return 0 end
-- Writes only what is missing: a script that does not write runs even when Redis
-- refuses writes (OOM, READONLY), so a rebalance then does not fail on this.
if redis.call('HEXISTS', KEYS[1], 'generation') == 0 then
  redis.call('HSETNX', KEYS[1], 'generation', ARGV[1])
end
if redis.call('HEXISTS', KEYS[1], 'created_at') == 0 then
  redis.call('HSETNX', KEYS[1], 'created_at', ARGV[2])
end
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
        ops = split_long_ops(plan_ops(self.keys, plan, now))
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


LONG_OP_VALUES = 1000
"""Field/value pairs per HSET in the commit script (Lua's unpack stops near 8,000)."""


def split_long_ops(ops: list[list[str]]) -> list[list[str]]:
    """An HSET with many fields (a batch's history of one order, parked events) as
    several HSETs of the same key: the same writes, each small enough to unpack."""
    out: list[list[str]] = []
    for op in ops:
        if op[0] == "HSET" and len(op) > 2 + 2 * LONG_OP_VALUES:
            pairs = op[2:]
            for i in range(0, len(pairs), 2 * LONG_OP_VALUES):
                out.append(["HSET", op[1], *pairs[i : i + 2 * LONG_OP_VALUES]])
        else:
            out.append(op)
    return out


def rfc3339_from(epoch_seconds: float) -> str:
    return rfc3339(datetime.fromtimestamp(epoch_seconds, UTC))
