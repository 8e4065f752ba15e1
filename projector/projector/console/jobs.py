"""Long console actions (a blue/green replay, a dead-letter replay, a verify) as jobs.

One job runs at a time (a second is refused: two rebuilds would race for
``views:current``, and each reads the whole log); its progress and result are kept for
the page to poll. The last ``KEEP`` jobs are remembered, in memory only: the audit topic
is the lasting record. On shutdown a running job is cancelled (a replay then drops the
generation it was building, as ``orders replay`` does on Ctrl-C).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ordersource.views import rfc3339
from projector.console.audit import Actor

KEEP = 20
log = logging.getLogger(__name__)


class Busy(RuntimeError):
    def __init__(self, running: Job) -> None:
        super().__init__(f"job {running.id} ({running.kind}) is running")
        self.running = running


@dataclass
class Job:
    kind: str
    actor: Actor
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:16])
    started_at: str = field(default_factory=lambda: rfc3339(datetime.now(UTC)))
    began: float = field(default_factory=time.monotonic)
    state: str = "running"
    """running | done | failed | cancelled"""
    done: int = 0
    total: int | None = None
    phase: str = "starting"
    result: dict[str, Any] | None = None
    error: str | None = None
    finished_at: str | None = None
    seconds: float | None = None

    def progress(self, done: int, total: int) -> None:
        self.done, self.total = done, total

    def document(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "started_by": self.actor.document(),
            "started_at": self.started_at,
            "state": self.state,
            "phase": self.phase,
            "done": self.done,
            "total": self.total,
            "result": self.result,
            "error": self.error,
            "finished_at": self.finished_at,
            "seconds": self.seconds,
        }


Work = Callable[[Job], Awaitable[dict[str, Any]]]
Finished = Callable[[Job, str], Awaitable[None]]
"""Called with the job and how it ended (done, failed, cancelled) before it says so."""


class Jobs:
    def __init__(self, finished: Finished) -> None:
        self.finished = finished
        self.jobs: OrderedDict[str, Job] = OrderedDict()
        self.task: asyncio.Task[None] | None = None
        self.running: Job | None = None

    def start(self, job: Job, work: Work) -> Job:
        """Run ``work`` in the background (raises ``Busy`` while another job runs)."""
        if self.running is not None:
            raise Busy(self.running)
        self.running = job
        self.jobs[job.id] = job
        while len(self.jobs) > KEEP:
            self.jobs.popitem(last=False)
        self.task = asyncio.create_task(self._run(job, work), name=f"job-{job.kind}")
        return job

    async def _run(self, job: Job, work: Work) -> None:
        state = "done"
        try:
            job.result = await work(job)
        except asyncio.CancelledError:
            state, job.error = "cancelled", "the console stopped"
            raise
        except Exception as exc:  # reported on the page and in the audit trail
            log.exception("job %s (%s) failed", job.id, job.kind)
            state, job.error = "failed", f"{type(exc).__name__}: {exc}"
        finally:
            job.finished_at = rfc3339(datetime.now(UTC))
            job.seconds = round(time.monotonic() - job.began, 3)
            # The trail first: whoever sees the job ended finds its end in the trail.
            with contextlib.suppress(Exception):  # logged there; the job's end stands
                await asyncio.shield(self.finished(job, state))
            job.state = job.phase = state
            self.running = None

    def get(self, job_id: str) -> Job | None:
        return self.jobs.get(job_id)

    def recent(self) -> list[Job]:
        return list(self.jobs.values())[::-1]

    async def close(self) -> None:
        if self.task is not None and not self.task.done():
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.task
