"""A batch plan as the Redis commands that apply it (pure; executed by the commit script).

Each op is a list ``[command, arg, ...]`` of strings (the script receives them as JSON;
numbers travel as strings so Lua never rounds them). ``HMAX`` is the script's own op:
keep the newest event time even when two projectors share the generation. ``HADDC`` is
another: add to a stats total's low limb and carry into its high limb.
"""

from __future__ import annotations

from typing import Any

from ordersource import codec
from ordersource.keys import ViewKeys, newest_fields
from ordersource.views import TOTAL_LIMB, index_score, rfc3339, total_limbs
from projector.core.plan import BatchPlan, Incoming


def plan_ops(keys: ViewKeys, plan: BatchPlan, now: float) -> list[list[str]]:
    ops: list[list[str]] = []

    def op(*args: Any) -> None:
        ops.append([a if isinstance(a, str) else str(a) for a in args])

    for order_id, write in plan.orders.items():
        new, old = write.new, write.old
        score = index_score(write.state.created_at)
        op("SET", keys.order(order_id), codec.dumps(new).decode())
        op("HSET", keys.history(order_id), *[x for v, e in write.history for x in (v, e.decode())])
        if old is None:
            op("ZADD", keys.all_orders, score, order_id)
            op("ZADD", keys.by_customer(new["customer_id"]), score, order_id)
        if old is None or old["status"] != new["status"]:
            if old is not None:
                op("ZREM", keys.by_status(old["status"]), order_id)
            op("ZADD", keys.by_status(new["status"]), score, order_id)
    for name, delta in sorted(plan.stats.items()):
        if not delta:
            continue
        if limbs := total_limbs(name, delta):  # exact at any size (see TOTAL_LIMB)
            (high_name, high), (low_name, low) = limbs
            if low:
                op("HADDC", keys.stats, low_name, high_name, low, TOTAL_LIMB)
            if high:
                op("HINCRBY", keys.stats, high_name, high)
        else:
            op("HINCRBY", keys.stats, name, delta)
    if plan.parked:
        entries = [parked_entry(r, why) for r, why in plan.parked]
        op("HSET", keys.parked, *[x for field, value in entries for x in (field, value.decode())])
    if plan.checkpoints:
        op(
            "HSET",
            keys.checkpoint,
            *[x for p, o in sorted(plan.checkpoints.items()) for x in (p, o)],
        )
    meta = keys.meta
    op("HINCRBY", meta, "events_applied", plan.applied)
    op("HINCRBY", meta, "events_parked", len(plan.parked))
    op("HINCRBY", meta, "dead_letters", len(plan.dead))
    op("HSET", meta, "applied_at", repr(now))
    if plan.newest_event_at is not None:
        newest = plan.newest_event_at
        op(
            "HMAX",
            meta,
            "newest_event_ts",
            repr(newest.timestamp()),
            "newest_event_at",
            rfc3339(newest),
        )
    for partition, newest in sorted(plan.newest_by_partition.items()):
        ts_field, at_field = newest_fields(partition)
        op("HMAX", meta, ts_field, repr(newest.timestamp()), at_field, rfc3339(newest))
    return ops


def parked_entry(record: Incoming, reason: str) -> tuple[str, bytes]:
    event = record.event
    assert event is not None  # only decoded events can be parked
    detail = {
        "order_id": event.order_id,
        "version": event.version,
        "partition": record.partition,
        "offset": record.offset,
        "reason": reason,
        "event": codec.loads(record.value or b"null"),
    }
    return f"{event.order_id}:{event.version}", codec.dumps(detail)
