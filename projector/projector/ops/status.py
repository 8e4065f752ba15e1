"""What ``orders status`` shows: generations, per-partition progress, projector, DLQ.

Read-only, synchronous (one Redis client, one Kafka admin client). Lag here is
``end offset - applied offset`` of the current generation: every Kafka transaction ends
with a commit marker that takes an offset, so a fully caught-up partition can show a
lag of a few offsets (the projector's own ``/projection`` report corrects for that).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ordersource import codec, keys
from ordersource.connections import redis_client
from ordersource.generation import resolve_generation
from ordersource.settings import Settings
from projector import offsets
from projector.ops import dlq


@dataclass
class Status:
    current: str | None
    generations: dict[str, dict[str, Any]]
    partitions: list[dict[str, Any]] = field(default_factory=list)
    members: list[str] = field(default_factory=list)
    dlq_records: int = 0
    dlq_unhandled: int = 0


def gather(settings: Settings, admin: Any, redis: Any = None) -> Status:
    """``redis``: a synchronous client to use (else one is made for this call)."""
    client: Any = redis_client(settings, timeout_s=10) if redis is None else redis
    try:
        status = Status(resolve_generation(client), _generations(client))
        view = keys.ViewKeys(status.current or keys.DEFAULT_GENERATION)
        applied = {int(p): int(o) for p, o in client.hgetall(view.checkpoint).items()}
    finally:
        if redis is None:
            client.close()
    ends = offsets.ends(admin, settings.events_topic)
    for p, end in sorted(ends.items()):
        status.partitions.append(
            {
                "partition": p,
                "applied": applied.get(p, 0),
                "end": end,
                "lag": end - applied.get(p, 0),
            }
        )
    status.members = offsets.members(admin, settings.projector_group)
    status.dlq_records, status.dlq_unhandled = dlq.counts(settings, admin)
    return status


def _generations(client: Any) -> dict[str, dict[str, Any]]:
    found = {g.decode(): codec.loads(doc) for g, doc in client.hgetall(keys.GENERATIONS).items()}
    pipe = client.pipeline(transaction=False)
    ordered = sorted(found, key=int)
    for g in ordered:
        pipe.hget(keys.ViewKeys(g).meta, "events_applied")
    for g, applied in zip(ordered, pipe.execute(), strict=True):
        found[g]["events_applied"] = int(applied or 0)
    return {g: found[g] for g in ordered}
