"""A Jepsen-style history of client commands, and its check against the event log.

Every command the load sends is one ``Op``: its Idempotency-Key (hence its command id,
``uuid5`` of the key, known before any answer), the order, and the outcome the client
saw. ``check`` then reads the log and classifies: acknowledged commands must be in it
exactly once (G1) at the acknowledged version; commands whose fate the client does not
know (``unavailable``, ``unknown``) are resolved from the log — present once or absent,
never twice; nothing may be in the log that no client sent.
"""

from __future__ import annotations

import threading
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from tests.support.eventlog import Logged

ACKNOWLEDGED, REJECTED, UNAVAILABLE, UNKNOWN = "acknowledged", "rejected", "unavailable", "unknown"
# What a client may legitimately see for a well-formed command; anything else (500, 422 …)
# is a service bug or a harness bug and fails the check.
REJECTIONS = frozenset({404, 409, 412})


@dataclass
class Op:
    key: str
    command_id: str
    order_id: str
    kind: str
    sent: float  # monotonic time of the first attempt
    attempts: list[tuple[float, float, int | str]] = field(default_factory=list)
    """(sent, done, HTTP status or transport error name) per attempt."""
    outcome: str = UNKNOWN
    version: int | None = None
    """The order's version after the command, as acknowledged (200/201)."""
    expected: int | None = None
    """The If-Match version sent (None: no If-Match)."""
    reported: int | None = None
    """The version a refusal (409/412) reported the order at; None if none."""


def classify(status: int | str) -> str:
    if status in (200, 201):
        return ACKNOWLEDGED
    if status in REJECTIONS:
        return REJECTED
    if status == 503:
        return UNAVAILABLE
    return UNKNOWN  # 202, timeouts, refused/reset connections, and anything unexpected


class History:
    """Thread-safe list of ops; the load appends, the test reads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._ops: list[Op] = []

    def add(self, op: Op) -> None:
        with self._lock:
            self._ops.append(op)

    @property
    def ops(self) -> list[Op]:
        with self._lock:
            return list(self._ops)

    def acks(self, since: float = 0.0) -> list[tuple[float, float, Op]]:
        """(attempt sent, attempt done, op) of every acknowledged attempt sent at/after since."""
        return [
            (sent, done, op)
            for op in self.ops
            for sent, done, status in op.attempts
            if sent >= since and classify(status) == ACKNOWLEDGED
        ]

    def first_ack_after(self, since: float) -> float | None:
        """When the first command sent at/after ``since`` was acknowledged."""
        return min((done for _, done, _ in self.acks(since)), default=None)


@dataclass
class Checked:
    counts: Counter[str]
    violations: list[str]


def check(ops: list[Op], logged: list[Logged]) -> Checked:
    decisions: dict[str, Counter[str]] = defaultdict(Counter)
    versions: dict[str, int] = {}
    for entry in logged:
        event = entry.event
        decisions[event.command_id][event.type] += 1
        versions[event.command_id] = max(versions.get(event.command_id, 0), event.version)
    counts: Counter[str] = Counter(sent=len(ops))
    violations: list[str] = []
    for op in ops:
        counts[op.outcome] += 1
        counts["retried"] += len(op.attempts) > 1
        in_log = op.command_id in decisions
        if any(n > 1 for n in decisions.get(op.command_id, Counter()).values()):
            counts["duplicated"] += 1
            violations.append(f"duplicated: {op.key} {dict(decisions[op.command_id])}")
        if op.outcome == ACKNOWLEDGED and not in_log:
            counts["lost"] += 1
            violations.append(f"lost: {op.key} ({op.kind} {op.order_id} v{op.version})")
        elif op.outcome == ACKNOWLEDGED and versions[op.command_id] != op.version:
            violations.append(f"{op.key}: acknowledged v{op.version}, log has a different one")
        elif op.outcome == REJECTED and in_log:
            violations.append(f"rejected but applied: {op.key} {op.attempts}")
        elif op.outcome in (UNAVAILABLE, UNKNOWN):
            counts["in_log" if in_log else "absent"] += 1
        bad = [s for _, _, s in op.attempts if isinstance(s, int) and classify(s) == UNKNOWN]
        if any(s != 202 for s in bad):
            violations.append(f"unexpected HTTP status: {op.key} {op.attempts}")
    sent_ids = {op.command_id for op in ops}
    phantoms = sorted(set(decisions) - sent_ids)
    if phantoms:
        violations.append(f"{len(phantoms)} command ids in the log that nobody sent")
    return Checked(counts, violations)
