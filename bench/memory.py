"""Memory: Redis bytes per order (view + indexes) and per history event, and the peak RSS
(``VmHWM``) of every project process.

Redis: ``used_memory`` before and after the replay filled an empty Redis, split with
exact ``MEMORY USAGE`` of a sample of orders' view and history keys and of every index
key (``all``, ``by_status:*``, ``by_customer:*``).
"""

from __future__ import annotations

import random
from typing import Any

import redis

from bench.datagen import EVENTS_PER_ORDER, order_id
from bench.env import proc_status
from ordersource import keys
from ordersource.generation import resolve_generation

SAMPLE = 2000


def used_memory(client: redis.Redis) -> int:
    return int(client.info("memory")["used_memory"])


def _usage(client: redis.Redis, names: list[str]) -> list[int]:
    pipe = client.pipeline(transaction=False)
    for name in names:
        pipe.memory_usage(name, samples=0)
    return [int(v or 0) for v in pipe.execute()]


def redis_per_order(client: redis.Redis, orders: int, before: int) -> dict[str, Any]:
    generation = resolve_generation(client) or keys.DEFAULT_GENERATION
    view = keys.ViewKeys(generation)
    picked = random.Random(7).sample(range(orders), min(SAMPLE, orders))
    views = _usage(client, [view.order(order_id(n)) for n in picked])
    histories = _usage(client, [view.history(order_id(n)) for n in picked])
    index_names = [view.all_orders, view.stats]
    for pattern in (view.by_status("*"), view.by_customer("*")):
        index_names += [k.decode() for k in client.scan_iter(match=pattern, count=1000)]
    indexes = sum(_usage(client, index_names))
    view_b, history_b = sum(views) / len(views), sum(histories) / len(histories)
    delta = used_memory(client) - before
    return {
        "generation": generation,
        "used_memory_delta_bytes": delta,
        "per_order_total_bytes": round(delta / orders, 1),
        "view_bytes_per_order": round(view_b, 1),
        "index_bytes_per_order": round(indexes / orders, 1),
        "view_and_indexes_per_order": round(view_b + indexes / orders, 1),
        "history_bytes_per_event": round(history_b / EVENTS_PER_ORDER, 1),
        "sampled_orders": len(picked),
    }


def peaks(pids: dict[str, int]) -> dict[str, dict[str, int]]:
    return {name: proc_status(pid) for name, pid in pids.items()}
