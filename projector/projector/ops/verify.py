"""``verify(settings)``: fold the whole event log and diff it against the Redis views (G5).

The log is read like the projector reads it (read_committed), and folded by the
projector's rules, from the same code: the shared codec, the shared version rule
(``ordersource.domain.step``: duplicates skipped, an order stops at a version gap) and
``evolve``; undecodable records are ignored (the projector dead-letters them).

Every order's view, its history, its index entries and the stats are compared with the
generation named by ``views:current`` (or the one asked for; a ``bounded`` generation is
compared with the fold of the log up to its checkpoints, i.e. the log as of its
``until``). An empty list means Redis equals the fold of the log. Backs ``orders verify``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from kafka import TopicPartition

from ordersource import codec, keys
from ordersource.codec import UndecodableEvent, decode_event
from ordersource.connections import redis_client
from ordersource.domain import FoldError, OrderState, Step, evolve, step
from ordersource.generation import resolve_generation
from ordersource.kafka_read import committed_reader, read_partition
from ordersource.settings import Settings
from ordersource.views import index_score, stats_fields, stats_of, to_view


@dataclass(frozen=True)
class Difference:
    what: str
    """view | missing_view | extra_view | history | index | stats"""
    subject: str
    expected: Any
    actual: Any


@dataclass
class Folded:
    states: dict[str, OrderState]
    history: dict[str, dict[int, bytes]]
    events: int = 0
    """Events folded into the states (duplicates, gaps and unreadable records excluded)."""


@dataclass
class Report:
    generation: str
    events: int
    differences: list[Difference]


def fold_log(
    settings: Settings,
    timeout_s: float = 60.0,
    stop: dict[int, int] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> Folded:
    return fold_values(read_log(settings, timeout_s, stop, cancelled))


def fold_values(values: Iterable[bytes | None]) -> Folded:
    """The fold of record values in log order, by the projector's rules: the shared codec,
    the shared version rule (``step``) and ``evolve``. Pure."""
    folded = Folded({}, {})
    for value in values:
        try:
            event = decode_event(value)
        except UndecodableEvent:
            continue  # dead-lettered by the projector
        state = folded.states.get(event.order_id)
        if step(state, event) is not Step.NEXT:
            continue  # a duplicate (skipped) or a gap (parked) never changes the view
        try:
            folded.states[event.order_id] = evolve(state, event)
        except FoldError:
            continue  # dead-lettered by the projector
        folded.history.setdefault(event.order_id, {})[event.version] = value or b""
        folded.events += 1
    return folded


class Cancelled(RuntimeError):
    """``cancelled()`` said so: the reading stopped early (no result)."""


def read_log(
    settings: Settings,
    timeout_s: float = 60.0,
    stop: dict[int, int] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> list[bytes | None]:
    """Every committed record value of the events topic, partition by partition
    (below ``stop[partition]`` when given; a partition missing from ``stop``: none).
    ``cancelled`` is asked between polls; when it says so, ``Cancelled`` is raised."""
    consumer = committed_reader(settings, "orders-verify")
    try:
        parts = consumer.partitions_for_topic(settings.events_topic) or set()
        tps = [TopicPartition(settings.events_topic, p) for p in sorted(parts)]
        ends = consumer.end_offsets(tps)  # every end first: one moment of the log
        if stop is not None:
            ends = {tp: min(ends[tp], stop.get(tp.partition, 0)) for tp in tps}
        deadline = time.monotonic() + timeout_s
        values: list[bytes | None] = []
        for tp in tps:
            left = max(0.0, deadline - time.monotonic())
            records = read_partition(
                consumer, tp, None, ends[tp], timeout_s=left, max_records=5000, stop=cancelled
            )
            values += [r.value for r in records]
            if cancelled is not None and cancelled():
                raise Cancelled("verify cancelled")
        return values
    finally:
        consumer.close()


def describe(diff: Difference) -> str:
    """One line about a difference, for a person."""
    if diff.what == "view" and isinstance(diff.expected, dict) and isinstance(diff.actual, dict):
        fields = sorted(
            k
            for k in diff.expected.keys() | diff.actual.keys()
            if diff.expected.get(k) != diff.actual.get(k)
        )
        detail = "; ".join(
            f"{k}: log says {diff.expected.get(k)!r}, Redis has {diff.actual.get(k)!r}"
            for k in fields
        )
        return f"order {diff.subject}: view differs ({detail})"
    labels = {
        "missing_view": "no view in Redis",
        "extra_view": "a view for an order the log does not have",
        "history": "history versions differ",
        "index": "list index entries differ",
        "stats": "stats differ",
    }
    what = labels.get(diff.what, diff.what)
    subject = "stats" if diff.what == "stats" else f"order {diff.subject}"
    return f"{subject}: {what} (log: {diff.expected!r}, Redis: {diff.actual!r})"


def verify(settings: Settings, generation: str | None = None) -> list[Difference]:
    return check(settings, generation).differences


def check(
    settings: Settings,
    generation: str | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> Report:
    # Replies are bytes (no decode_responses); redis-py types them as unions, hence Any.
    client: Any = redis_client(settings, timeout_s=10)
    try:
        if generation is None:
            generation = resolve_generation(client) or keys.DEFAULT_GENERATION
        view = keys.ViewKeys(generation)
        doc = client.hget(keys.GENERATIONS, generation)
        stop = None
        if doc is not None and codec.loads(doc).get("state") == "bounded":
            stop = {int(p): int(o) for p, o in client.hgetall(view.checkpoint).items()}
        folded = fold_log(settings, stop=stop, cancelled=cancelled)
        return Report(generation, folded.events, _compare(folded, client, view))
    finally:
        client.close()


def _compare(folded: Folded, client: Any, k: keys.ViewKeys) -> list[Difference]:
    diffs: list[Difference] = []
    expected = {oid: to_view(s) for oid, s in folded.states.items()}
    listed = {m.decode(): int(s) for m, s in client.zrange(k.all_orders, 0, -1, withscores=True)}
    for oid in sorted(set(listed) - set(expected)):
        diffs.append(Difference("extra_view", oid, None, listed[oid]))
    ids = sorted(expected)
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        pipe = client.pipeline(transaction=False)
        for oid in chunk:
            pipe.get(k.order(oid))
            pipe.hgetall(k.history(oid))
            pipe.zscore(k.by_customer(expected[oid]["customer_id"]), oid)
            pipe.zscore(k.by_status(expected[oid]["status"]), oid)
        answers = pipe.execute()
        for i, oid in enumerate(chunk):
            raw, history, by_customer, by_status = answers[4 * i : 4 * i + 4]
            diffs += _compare_order(
                folded, oid, expected[oid], raw, history, listed.get(oid), (by_customer, by_status)
            )
    # The projector's stats function over the fold, and the query API's reading of Redis.
    want, have = stats_of(expected.values()), stats_fields(client.hgetall(k.stats))
    if want != have:
        diffs.append(Difference("stats", "stats", want, have))
    return diffs


def _compare_order(
    folded: Folded,
    oid: str,
    view: dict[str, Any],
    raw: bytes | None,
    history: dict[bytes, bytes],
    listed: int | None,
    indexed: tuple[Any, Any],
) -> list[Difference]:
    if raw is None:
        return [Difference("missing_view", oid, view, None)]
    diffs = []
    actual = codec.loads(raw)
    if actual != view:
        diffs.append(Difference("view", oid, view, actual))
    stored = {int(v): e for v, e in history.items()}
    if stored != folded.history.get(oid, {}):
        diffs.append(Difference("history", oid, sorted(folded.history[oid]), sorted(stored)))
    score = index_score(folded.states[oid].created_at)
    if listed != score or any(s is None or int(s) != score for s in indexed):
        diffs.append(Difference("index", oid, score, (listed, *indexed)))
    return diffs
