"""The console's jobs (``projector.console.jobs``): one at a time, progress and result
kept, failures and cancellation reported, every end handed to the audit callback."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from projector.console.audit import Actor
from projector.console.jobs import KEEP, Busy, Job, Jobs

ADMIN = Actor("admin", "a1")


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def test_a_job_reports_progress_and_result_and_its_end_is_audited() -> None:
    async def scenario() -> tuple[Job, list[str]]:
        ended: list[str] = []

        async def finished(job: Job, state: str) -> None:
            assert job.state == "running"  # the trail hears of the end first
            ended.append(state)

        jobs = Jobs(finished)
        gate = asyncio.Event()

        async def work(job: Job) -> dict[str, Any]:
            job.progress(5, 10)
            await gate.wait()
            return {"events": 10}

        job = jobs.start(Job("replay", ADMIN), work)
        await asyncio.sleep(0)
        assert (job.state, job.done, job.total) == ("running", 5, 10)
        with pytest.raises(Busy):
            jobs.start(Job("verify", ADMIN), work)
        gate.set()
        assert jobs.task is not None
        await jobs.task
        return job, ended

    job, ended = run(scenario())
    assert job.state == "done"
    assert job.result == {"events": 10}
    assert job.document()["started_by"] == {"role": "admin", "name": "a1"}
    assert job.seconds is not None
    assert ended == ["done"]


def test_a_failing_job_says_why_and_frees_the_slot() -> None:
    async def scenario() -> tuple[Job, Jobs]:
        jobs = Jobs(lambda job, state: asyncio.sleep(0))

        async def work(job: Job) -> dict[str, Any]:
            raise RuntimeError("Redis lost the generation")

        job = jobs.start(Job("replay", ADMIN), work)
        assert jobs.task is not None
        await jobs.task
        return job, jobs

    job, jobs = run(scenario())
    assert job.state == "failed"
    assert job.error == "RuntimeError: Redis lost the generation"
    assert jobs.running is None


def test_closing_cancels_the_running_job() -> None:
    async def scenario() -> Job:
        ended: list[str] = []

        async def finished(job: Job, state: str) -> None:
            assert job.state == "running"  # the trail hears of the end first
            ended.append(state)

        jobs = Jobs(finished)
        job = jobs.start(Job("replay", ADMIN), lambda job: asyncio.sleep(3600))  # type: ignore[arg-type,return-value]
        await asyncio.sleep(0)
        await jobs.close()
        assert ended == ["cancelled"]
        return job

    assert run(scenario()).state == "cancelled"


def test_only_the_last_jobs_are_kept() -> None:
    async def scenario() -> Jobs:
        jobs = Jobs(lambda job, state: asyncio.sleep(0))

        async def work(job: Job) -> dict[str, Any]:
            return {}

        for _ in range(KEEP + 5):
            jobs.start(Job("verify", ADMIN), work)
            assert jobs.task is not None
            await jobs.task
        return jobs

    assert len(run(scenario()).recent()) == KEEP
