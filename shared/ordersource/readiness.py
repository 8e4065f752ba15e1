"""``/readyz`` for every process: one body shape, one rule for its status.

A probe (Kubernetes, ``make status``, the fault tests) reads the HTTP status: 200 ready,
503 not. An operator reads the body, the same shape in all four processes::

    {"ready": false, "status": "failing", "checks": {"redis": true, "assigned": true},
     "reason": "OutOfMemoryError: ...", ...}

``status`` says what kind of "not ready" it is:

* ``ok``: every check holds.
* ``unavailable``: a dependency (Redis, Kafka) does not answer.
* ``starting``: the dependencies answer, but the process is not there yet (not assigned,
  catching up with the log, the verdict subscription not yet made).
* ``failing``: the dependencies answer but refuse (Redis OOM or READONLY, a DLQ that
  takes nothing): the work is retried with back-off, and the body says why.

Anything else a process reports (the projector's reason and since, the decider's
undelivered verdicts) sits beside these keys.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field


class Status(enum.StrEnum):
    OK = "ok"
    UNAVAILABLE = "unavailable"
    STARTING = "starting"
    FAILING = "failing"


@dataclass(frozen=True, slots=True)
class Readiness:
    checks: Mapping[str, bool]
    """Everything that must hold for the process to be ready, by name."""
    dependencies: frozenset[str] = frozenset()
    """Which of ``checks`` are dependencies answering (a failed one: ``unavailable``)."""
    failure: Mapping[str, object] | None = None
    """Set while work keeps failing against a dependency that answers: why, since when."""
    details: Mapping[str, object] = field(default_factory=dict)

    @property
    def status(self) -> Status:
        # A dependency that does not answer explains everything else (a failure streak
        # against it included), so it is said first.
        if not all(ok for name, ok in self.checks.items() if name in self.dependencies):
            return Status.UNAVAILABLE
        if self.failure:
            return Status.FAILING
        return Status.OK if all(self.checks.values()) else Status.STARTING

    @property
    def ready(self) -> bool:
        return self.status is Status.OK

    @property
    def http_status(self) -> int:
        return 200 if self.ready else 503

    def body(self) -> dict[str, object]:
        return {
            "ready": self.ready,
            "status": str(self.status),
            "checks": dict(self.checks),
            **(self.failure or {}),
            **self.details,
        }


def readiness(
    checks: Mapping[str, bool],
    dependencies: Iterable[str] = (),
    failure: Mapping[str, object] | None = None,
    **details: object,
) -> Readiness:
    return Readiness(dict(checks), frozenset(dependencies), failure, details)
