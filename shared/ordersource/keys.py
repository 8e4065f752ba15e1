"""The one Redis key scheme. Everything in Redis is derived and can be rebuilt from the log.

Command side (ephemeral, with TTLs):
  result:{command_id}       JSON verdict of a decided command, written by the decider
  pending:{command_id}      set by the command API when it sends a command (for GET /commands)
  idem:{key}                JSON {request_hash, command_id, order_id} for an Idempotency-Key
  RESULTS_CHANNEL           pub/sub channel carrying every verdict as it is decided

Read side (views), per generation ``g`` so a rebuild can run beside the live views:
  views:current             the generation queries read
  views:generations         hash g -> JSON {state: live|building|bounded|retired, origin,
                            created_at, until?}: every generation that exists (ids are
                            increasing integers; ``views:generation_seq`` is the last one)
  views:rebuild             the generation the projector is rebuilding after an operator
                            reset to the earliest offsets (absent otherwise)
  views:resets_seen:{group} hash partition -> unmarked committed offset the projector has
                            already acted on (so a restart does not act on it twice)
  v:{g}:order:{id}          JSON view of one order
  v:{g}:history:{id}        hash version -> event JSON (each version exactly once)
  v:{g}:by_customer:{cid}   zset of order ids, score = creation sequence
  v:{g}:by_status:{status}  zset of order ids, score = creation sequence
  v:{g}:all                 zset of every order id, score = creation sequence
  v:{g}:stats               hash counters per status and totals per currency (a total as
                            two limbs, ``...:total_cents:hi`` / ``:lo``; see views.py)
  v:{g}:checkpoint          hash partition -> next offset to apply
  v:{g}:meta                hash with the generation's bookkeeping (its absence means the
                            generation was never built or Redis lost it: rebuild)
  v:{g}:parked              hash "{order_id}:{version}" -> JSON of an event that did not
                            follow its order's view (a version gap), kept out of the view
  v:{g}:progress            hash partition -> JSON {end, position, caught_up, reported_at},
                            the projector's view of Kafka, for lag reporting only
"""

from __future__ import annotations

RESULTS_CHANNEL = "orders:results"
CURRENT_GENERATION = "views:current"
DEFAULT_GENERATION = "1"
GENERATIONS = "views:generations"
GENERATION_SEQ = "views:generation_seq"
REBUILD_GENERATION = "views:rebuild"


def resets_seen(group: str) -> str:
    return f"views:resets_seen:{group}"


def result(command_id: str) -> str:
    return f"result:{command_id}"


def pending(command_id: str) -> str:
    return f"pending:{command_id}"


def idempotency(key: str) -> str:
    return f"idem:{key}"


def newest_fields(partition: int) -> tuple[str, str]:
    """The ``meta`` hash's fields of a partition's newest applied event: its timestamp
    (seconds) and its RFC 3339 time."""
    return f"p{partition}:newest_event_ts", f"p{partition}:newest_event_at"


class ViewKeys:
    """Key names of one view generation."""

    __slots__ = ("prefix",)

    def __init__(self, generation: str) -> None:
        self.prefix = f"v:{generation}:"

    @property
    def pattern(self) -> str:
        """SCAN pattern matching every key of the generation (ids never contain ``*?[``)."""
        return f"{self.prefix}*"

    def order(self, order_id: str) -> str:
        return f"{self.prefix}order:{order_id}"

    def history(self, order_id: str) -> str:
        return f"{self.prefix}history:{order_id}"

    def by_customer(self, customer_id: str) -> str:
        return f"{self.prefix}by_customer:{customer_id}"

    def by_status(self, status: str) -> str:
        return f"{self.prefix}by_status:{status}"

    @property
    def all_orders(self) -> str:
        return f"{self.prefix}all"

    @property
    def stats(self) -> str:
        return f"{self.prefix}stats"

    @property
    def checkpoint(self) -> str:
        return f"{self.prefix}checkpoint"

    @property
    def meta(self) -> str:
        return f"{self.prefix}meta"

    @property
    def parked(self) -> str:
        return f"{self.prefix}parked"

    @property
    def progress(self) -> str:
        return f"{self.prefix}progress"
