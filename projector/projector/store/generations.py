"""View generations: the registry in ``views:generations`` and the atomic moves on it.

A generation is one complete set of view keys (``v:{g}:*``). Queries read the one named
by ``views:current``; a rebuild fills another one beside it and ``switch`` makes it
current in one Lua step, only if it has applied at least everything the current one
has (per partition checkpoint), so no reader ever sees a view go back in time. The
old generation is then ``retired`` (a straggling projector may no longer recreate it)
and ``drop`` removes its keys in batches, marker first.

A replay building a generation ``beat``s it while it works (``heartbeat_at`` in its
registry entry). One whose builder died without cleaning up (SIGKILL, a lost machine) is
``abandoned`` once its heartbeat is ``Settings.replay_abandoned_after_s`` old, and the next replay
``sweep``s it: its keys would otherwise stay in Redis for good. The projector's own
rebuild (``views:rebuild``) is not the replays' to sweep; it drops its own.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

from redis.asyncio import Redis

from ordersource import codec, keys
from ordersource.generation import aresolve_generation
from ordersource.views import rfc3339

LIVE, BUILDING, BOUNDED, RETIRED = "live", "building", "bounded", "retired"
HEARTBEAT_S = 5.0
"""How often a replay refreshes the heartbeat of the generation it builds (at most; more
often if ``Settings.replay_abandoned_after_s`` is short: ``heartbeat_s``)."""

_BEAT = """
local doc = redis.call('HGET', KEYS[1], ARGV[1])
if not doc then return 0 end
local t = cjson.decode(doc)
if t.state ~= ARGV[2] then return 0 end
if ARGV[4] == '1' then
  t.building = nil
  t.built_at = ARGV[3]
else
  t.heartbeat_at = ARGV[3]
end
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(t))
return 1
"""

_ALLOCATE = """
local n = tonumber(redis.call('GET', KEYS[2]) or '0')
local cur = tonumber(redis.call('GET', KEYS[3]) or '0') or 0
if cur > n then n = cur end
for _, g in ipairs(redis.call('HKEYS', KEYS[1])) do
  local v = tonumber(g)
  if v and v > n then n = v end
end
n = n + 1
redis.call('SET', KEYS[2], n)
redis.call('HSET', KEYS[1], tostring(n), ARGV[1])
if ARGV[2] == '1' then redis.call('SET', KEYS[4], tostring(n)) end
return tostring(n)
"""

_SWITCH = """
local cur = redis.call('GET', KEYS[1])
if (ARGV[2] == '' and cur) or (ARGV[2] ~= '' and cur ~= ARGV[2]) then return 0 end
local old = redis.call('HGETALL', KEYS[5])
for i = 1, #old, 2 do
  if tonumber(redis.call('HGET', KEYS[4], old[i]) or '-1') < tonumber(old[i + 1]) then
    return -1
  end
end
redis.call('SET', KEYS[1], ARGV[1])
local function mark(g, state, field)
  local doc = redis.call('HGET', KEYS[2], g)
  local t = doc and cjson.decode(doc) or {}
  t.state = state
  t[field] = ARGV[3]
  redis.call('HSET', KEYS[2], g, cjson.encode(t))
end
mark(ARGV[1], 'live', 'live_since')
if ARGV[2] ~= '' then mark(ARGV[2], 'retired', 'retired_at') end
if redis.call('GET', KEYS[3]) == ARGV[1] then redis.call('DEL', KEYS[3]) end
return 1
"""


async def allocate(
    redis: Redis, state: str, origin: str, *, until: str | None = None, rebuild: bool = False
) -> str:
    """A new generation id (max of every id seen + 1), registered with ``state``.

    ``rebuild`` also names it in ``views:rebuild`` (the projector's own rebuild). A
    ``bounded`` one is marked ``building`` until its replay calls ``built``."""
    created = now_text()
    doc: dict[str, Any] = {"state": state, "origin": origin}
    doc |= {"created_at": created, "heartbeat_at": created}
    if until is not None:
        doc["until"] = until
    if state == BOUNDED:
        doc["building"] = True
    names = [keys.GENERATIONS, keys.GENERATION_SEQ, keys.CURRENT_GENERATION]
    names.append(keys.REBUILD_GENERATION)
    args = [codec.dumps(doc).decode(), "1" if rebuild else "0"]
    found = await redis.eval(_ALLOCATE, len(names), *names, *args)
    return _text(found)


async def switch(redis: Redis, new: str, old: str | None) -> int:
    """Make ``new`` current if ``old`` still is and ``new`` is not behind it.

    1 = switched, 0 = ``views:current`` is no longer ``old``, -1 = ``new`` is behind."""
    names = [keys.CURRENT_GENERATION, keys.GENERATIONS, keys.REBUILD_GENERATION]
    names += [keys.ViewKeys(new).checkpoint, keys.ViewKeys(old or new).checkpoint]
    if old is None:
        names[-1] = keys.ViewKeys(new).prefix + "-none-"  # nothing to be behind of
    args = [new, old or "", now_text()]
    return int(await redis.eval(_SWITCH, len(names), *names, *args))


async def drop(redis: Redis, generation: str, batch: int = 1000) -> int:
    """Delete every key of a generation that is not current; returns how many."""
    if await current(redis) == generation:
        raise ValueError(f"generation {generation} is current; refusing to drop it")
    view = keys.ViewKeys(generation)
    # The marker first: a straggling projector's commit into it then fails its guard
    # instead of writing into a half-deleted generation.
    deleted = int(await redis.unlink(view.meta))
    pending: list[Any] = []
    async for key in redis.scan_iter(match=view.pattern, count=batch):
        pending.append(key)
        if len(pending) >= batch:
            deleted += int(await redis.unlink(*pending))
            pending = []
    if pending:
        deleted += int(await redis.unlink(*pending))
    await redis.hdel(keys.GENERATIONS, generation)
    return deleted


async def beat(redis: Redis, generation: str, state: str = BUILDING) -> bool:
    """Refresh ``generation``'s heartbeat while it is still in ``state``; False if it is
    not (switched, or dropped by a sweep: its builder should stop)."""
    names = [keys.GENERATIONS]
    args = [generation, state, now_text(), "0"]
    return bool(await redis.eval(_BEAT, len(names), *names, *args))


async def built(redis: Redis, generation: str) -> bool:
    """A bounded replay is complete: no longer ``building`` (nor ever swept)."""
    names = [keys.GENERATIONS]
    args = [generation, BOUNDED, now_text(), "1"]
    return bool(await redis.eval(_BEAT, len(names), *names, *args))


def heartbeat_s(abandoned_after_s: float) -> float:
    """The beat that leaves a live replay many beats' margin before it counts as gone."""
    return min(HEARTBEAT_S, abandoned_after_s / 4)


def abandoned(
    found: dict[str, dict[str, Any]], now: datetime, rebuild: str | None, after_s: float
) -> list[str]:
    """The generations in ``found`` (a ``registry``) still building, other than the
    projector's ``rebuild``, whose heartbeat (or, if it has none, creation) is older than
    ``after_s`` at ``now``."""
    cutoff = now - timedelta(seconds=after_s)
    stale = []
    for generation, doc in found.items():
        if doc.get("state") not in (BUILDING, BOUNDED) or generation == rebuild:
            continue
        if doc.get("state") == BOUNDED and "building" not in doc:
            continue  # a finished bounded replay: kept until an operator drops it
        beaten = doc.get("heartbeat_at") or doc.get("created_at")
        if beaten is None or datetime.fromisoformat(beaten) < cutoff:
            stale.append(generation)
    return stale


async def sweep(redis: Redis, after_s: float) -> list[str]:
    """Drop the ``abandoned`` generations; returns their ids."""
    rebuild = await redis.get(keys.REBUILD_GENERATION)
    found = await registry(redis)
    now = datetime.fromtimestamp(time.time(), UTC)
    stale = abandoned(found, now, _text(rebuild) if rebuild else None, after_s)
    for generation in stale:
        if generation != await current(redis):
            await drop(redis, generation)
    return stale


async def current(redis: Redis) -> str | None:
    """The generation queries read (``ordersource.generation``, the reader's rule)."""
    return await aresolve_generation(redis)


async def registry(redis: Redis) -> dict[str, dict[str, Any]]:
    stored = await redis.hgetall(keys.GENERATIONS)
    found = {_text(g): codec.loads(doc) for g, doc in stored.items()}
    return dict(sorted(found.items(), key=lambda item: int(item[0])))


def now_text() -> str:
    return rfc3339(datetime.fromtimestamp(time.time(), UTC))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
