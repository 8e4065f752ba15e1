"""The console's JSON API (``/console/api/...``): ``reading`` needs the reader role,
``acting`` the admin role (``projector.console.app`` attaches the checks).

Every answer is bounded: dead letters at most ``MAX_LETTERS`` per partition and their
values cut at ``VALUE_BYTES``, the audit trail at most ``MAX_AUDIT`` steps, a timeline
one history page. Every action is audited before it runs (``Console.act``).
"""

from __future__ import annotations

import asyncio
import base64
import logging
import re
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar
from urllib.parse import quote, urlencode

import httpx
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from redis.exceptions import RedisError
from tenacity import AsyncRetrying, RetryError, stop_after_attempt, wait_exponential

from ordersource import codec
from ordersource.auth import Principal
from ordersource.codec import UndecodableEvent
from ordersource.connections import async_redis_client
from ordersource.domain import FoldError
from ordersource.settings import Settings
from ordersource.views import from_view
from ordersource.web import ProblemError, principal
from projector import offsets
from projector.console.audit import Actor
from projector.console.clients import ConsoleClients, KafkaBusy, KafkaParts, KafkaUnavailable
from projector.console.jobs import Busy, Job, Jobs
from projector.console.metrics import ConsoleMetrics
from projector.console.timeline import timeline
from projector.ops import dlq, replay, verify
from projector.ops import status as status_module
from projector.ops.dlq import dlq_group

MAX_LETTERS = 200
VALUE_BYTES = 8192
MAX_AUDIT = 200
REPLAY_LETTERS = 10_000
"""Dead letters one replay triages at most (the rest wait for the next one)."""
SHOWN_DIFFERENCES = 20
CANCEL_POLL_S = 0.2
STATUS_TTL_S = 0.5
"""How long one Kafka status reading serves every tab that polls (bounds the load)."""
QUERY_PATHS = re.compile(r"^(orders(/[A-Za-z0-9._:-]{1,64}(/history)?)?|projection|stats)$")
"""The query API routes the console reads through; anything else is a 404 here."""
MAX_QUERY_STRING = 2048
FORWARDED = ("content-type", "etag", "x-view-status", "retry-after", "www-authenticate")

T = TypeVar("T")
log = logging.getLogger(__name__)
reading = APIRouter()
acting = APIRouter()
OrderIdQuery = Annotated[str, Query(pattern=r"^[A-Za-z0-9._:-]+$", min_length=1, max_length=64)]
Caller = Annotated[Principal, Depends(principal)]


class Console:
    """What every route works with (one per process, built in the lifespan)."""

    def __init__(self, settings: Settings, clients: ConsoleClients, metrics: ConsoleMetrics):
        self.settings, self.clients, self.metrics = settings, clients, metrics
        self.jobs = Jobs(self._job_finished)
        self._status: tuple[float, Any] | None = None
        self._status_lock = asyncio.Lock()

    async def redis_ok(self) -> bool:
        try:
            return bool(await self.clients.redis.ping())
        except Exception:  # any Redis failure means "not ready", reported, not raised
            self.metrics.upstream_errors.labels("redis").inc()
            return False

    async def kafka(self, call: Callable[[KafkaParts], T], *, queue: bool = True) -> T:
        try:
            return await self.clients.kafka(call, queue=queue)
        except KafkaUnavailable as exc:
            raise unavailable("Kafka", str(exc)) from exc
        except KafkaBusy as exc:
            raise ProblemError(
                503, "Console busy", f"{exc}; retry shortly", {"Retry-After": "1"}
            ) from exc
        except RedisError as exc:  # the status reads Redis on the Kafka thread
            self.metrics.upstream_errors.labels("redis").inc()
            raise unavailable("Redis", f"{type(exc).__name__}: {exc}") from exc
        except Exception as exc:
            from kafka.errors import KafkaError

            if isinstance(exc, KafkaError | TimeoutError | OSError):
                self.metrics.upstream_errors.labels("kafka").inc()
                raise unavailable("Kafka", f"{type(exc).__name__}: {exc}") from exc
            raise

    async def audit(
        self, actor: Actor, action: str, outcome: str, action_id: str, **detail: Any
    ) -> None:
        """Append one step to the trail. ``requested`` is tried once (if it cannot be
        written the action is refused); how an action ended is retried with back-off,
        and logged as lost if the trail stays unwritable."""

        def record(k: KafkaParts) -> None:
            k.audit.record(actor, action, outcome, action_id, **detail)

        if outcome == "requested":
            await self.kafka(record, queue=False)
        else:
            try:
                async for attempt in AsyncRetrying(
                    wait=wait_exponential(multiplier=0.5, max=4), stop=stop_after_attempt(6)
                ):
                    with attempt:
                        await self.kafka(record, queue=False)
            except RetryError:
                log.error(
                    "audit step lost: %s %s of %s by %s %s: %s",
                    action, outcome, action_id, actor.role, actor.name, detail,
                )  # fmt: skip
                self.metrics.actions.labels(action, "unaudited").inc()
                return
        self.metrics.actions.labels(action, outcome).inc()

    async def act(
        self,
        caller: Principal,
        action: str,
        detail: dict[str, Any],
        do: Callable[[], Awaitable[dict[str, Any]]],
    ) -> dict[str, Any]:
        """Audit the request (or refuse: 503 if the trail cannot be written), do it,
        audit how it ended."""
        actor, action_id = Actor.of(caller), uuid.uuid4().hex
        await self.audit(actor, action, "requested", action_id, **detail)
        try:
            result = await do()
        except ProblemError as exc:
            await self.audit(actor, action, "refused", action_id, reason=exc.detail)
            raise
        except Exception as exc:
            await self.audit(actor, action, "failed", action_id, error=f"{exc}")
            raise
        await self.audit(actor, action, "done", action_id, **result)
        return result

    async def start_job(
        self,
        caller: Principal,
        kind: str,
        detail: dict[str, Any],
        work: Callable[[Job], Awaitable[dict[str, Any]]],
    ) -> Job:
        actor = Actor.of(caller)
        job = Job(kind, actor)
        if (running := self.jobs.running) is not None:
            await self.audit(actor, kind, "refused", job.id, reason=f"job {running.id} runs")
            raise ProblemError(
                409,
                "A job is running",
                f"job {running.id} ({running.kind}) is running; wait for it to end",
                job=running.document(),
            )
        await self.audit(actor, kind, "requested", job.id, **detail)
        try:
            return self.jobs.start(job, work)
        except Busy as exc:  # another request started one since the check
            await self.audit(actor, kind, "refused", job.id, reason=str(exc))
            raise ProblemError(409, "A job is running", str(exc)) from exc

    async def _job_finished(self, job: Job, outcome: str) -> None:
        detail: dict[str, Any] = {"seconds": job.seconds}
        if job.error is not None:
            detail["error"] = job.error
        if job.result is not None:
            detail["result"] = job.result
        await self.audit(job.actor, job.kind, outcome, job.id, **detail)

    async def kafka_status(self) -> status_module.Status:
        async with self._status_lock:
            now = time.monotonic()
            if self._status is not None and now - self._status[0] < STATUS_TTL_S:
                cached: status_module.Status = self._status[1]
                return cached
            found = await self.kafka(
                lambda k: status_module.gather(self.settings, k.admin, self.clients.sync_redis)
            )
            self._status = (time.monotonic(), found)
            return found

    async def query(
        self, request: Request, path: str, query: str = "", *, conditional: bool = False
    ) -> httpx.Response:
        """GET a query API route with the caller's own credentials (and, ``conditional``,
        the caller's ``If-None-Match``: only when relaying the caller's own read)."""
        url = f"{self.settings.console_query_api_url.rstrip('/')}/{encode_path(path)}"
        names = ("authorization", "if-none-match") if conditional else ("authorization",)
        headers = {
            name: value for name in names if (value := request.headers.get(name)) is not None
        }
        try:
            return await self.clients.http.get(
                url + (f"?{query}" if query else ""), headers=headers
            )
        except httpx.HTTPError as exc:
            self.metrics.upstream_errors.labels("query_api").inc()
            raise unavailable("The query API", f"{type(exc).__name__}: {exc}") from exc


def encode_path(path: str) -> str:
    """Each segment percent-encoded, dots too: an order may be called ``..``, and an HTTP
    client resolves a literal ``..`` segment (``orders/../x`` is ``/x``)."""
    return "/".join(quote(segment, safe="").replace(".", "%2E") for segment in path.split("/"))


def unavailable(what: str, detail: str) -> ProblemError:
    return ProblemError(
        503, f"{what} unavailable", f"{what} does not answer: {detail}", {"Retry-After": "1"}
    )


async def get_console(request: Request) -> Console:
    console: Console = request.app.state.console
    return console


ConsoleDep = Annotated[Console, Depends(get_console)]


def json(body: Any, status: int = 200) -> Response:
    return Response(codec.dumps(body), status, media_type="application/json")


# -- reading -----------------------------------------------------------------------------


@reading.get("/session")
async def session(caller: Caller, console: ConsoleDep) -> Response:
    """Who the token is: the page shows admin controls only to an admin."""
    return json(
        {
            "role": caller.role.value,
            "name": caller.name,
            "can_act": caller.role.value == "admin",
            "auth": bool(console.settings.auth_tokens),
        }
    )


@reading.get("/query/{path:path}")
async def through_query_api(path: str, request: Request, console: ConsoleDep) -> Response:
    """A read of the query API, with the caller's token (the query API checks it)."""
    if not QUERY_PATHS.match(path):
        raise ProblemError(404, "Not Found", "the console reads only the query API's read routes")
    query = _bounded(request.url.query)
    return _relay(await console.query(request, path, query, conditional=True))


@reading.get("/order")
async def order_view(order_id: OrderIdQuery, request: Request, console: ConsoleDep) -> Response:
    """The query API's ``GET /orders/{order_id}`` with the other query parameters
    (``at_version``, ``as_of``, ...). The id is a query parameter here: a browser resolves
    an id of ``.`` or ``..`` in a URL's path, however it is encoded."""
    rest = [(k, v) for k, v in request.query_params.multi_items() if k != "order_id"]
    query = _bounded(urlencode(rest))
    return _relay(await console.query(request, f"orders/{order_id}", query, conditional=True))


@reading.get("/timeline")
async def order_timeline(
    order_id: OrderIdQuery,
    request: Request,
    console: ConsoleDep,
    after_version: Annotated[int, Query(ge=0, le=2**31)] = 0,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
) -> Response:
    """One page of the order's events, each with what it changed in the view."""
    page = await console.query(
        request,
        f"orders/{order_id}/history",
        f"after_version={after_version}&limit={limit}",
    )
    if page.status_code != 200:
        return _relay(page)
    history = page.json()
    events = history["events"]
    before = None
    if events and events[0]["version"] > 1:
        then = await console.query(
            request, f"orders/{order_id}", f"at_version={events[0]['version'] - 1}"
        )
        if then.status_code != 200:
            return _relay(then)
        before = from_view(then.json())
    try:
        entries = timeline(events, before)
    except (UndecodableEvent, FoldError) as exc:
        raise ProblemError(
            422, "Unreadable history", f"the current code cannot fold it: {exc}"
        ) from exc
    last = events[-1]["version"] if events else after_version
    return json(
        {
            "order_id": order_id,
            "version": history["version"],
            "entries": entries,
            "next_after_version": last if history.get("next_cursor") else None,
        }
    )


def _bounded(query: str) -> str:
    if len(query) > MAX_QUERY_STRING:
        raise ProblemError(414, "URI Too Long", f"query strings stop at {MAX_QUERY_STRING} bytes")
    return query


def _relay(answer: httpx.Response) -> Response:
    headers = {k: v for k, v in answer.headers.items() if k.lower() in FORWARDED}
    return Response(answer.content, answer.status_code, headers=headers)


@reading.get("/status")
async def projection_status(request: Request, console: ConsoleDep) -> Response:
    """Generations, per-partition progress (Kafka's end offsets against the views'
    checkpoints, beside what the projector last reported), the group, the DLQ."""
    found = await console.kafka_status()
    try:  # without the projector's report, Kafka's offsets against the checkpoints remain
        report_answer = await console.query(request, "projection")
        report_status = report_answer.status_code
        report = report_answer.json() if report_status == 200 else None
    except ProblemError as exc:
        report_status, report = exc.status, None
    reported = {p["partition"]: p for p in (report or {}).get("partitions", [])}
    partitions = []
    for p in found.partitions:
        said = reported.get(p["partition"], {})
        partitions.append(
            {
                "partition": p["partition"],
                "applied_offset": p["applied"],
                "end_offset": p["end"],
                "lag": 0
                if said.get("caught_up") and said.get("end_offset") == p["end"]
                else p["lag"],
                "reported_lag": said.get("lag"),
                "caught_up": said.get("caught_up"),
                "report_age_s": said.get("report_age_s"),
                "newest_event_at": said.get("newest_event_at"),
                "newest_event_age_s": said.get("newest_event_age_s"),
            }
        )
    return json(
        {
            "measured_at": time.time(),
            "current": found.current,
            "generations": [
                {"generation": g, **doc, "current": g == found.current}
                for g, doc in found.generations.items()
            ],
            "partitions": partitions,
            "lag": sum(p["lag"] for p in partitions),
            "members": found.members,
            "dead_letters": {"records": found.dlq_records, "unhandled": found.dlq_unhandled},
            "report": None
            if report is None
            else {
                k: report.get(k)
                for k in (
                    "generation",
                    "built",
                    "caught_up",
                    "events_applied",
                    "events_parked",
                    "newest_event_at",
                    "newest_event_age_s",
                )
            },
            "report_status": report_status,
        }
    )


@reading.get("/deciders")
async def deciders(console: ConsoleDep) -> Response:
    """Each configured decider's readiness and the partitions it owns."""

    async def one(url: str) -> dict[str, Any]:
        try:
            answer = await console.clients.http.get(f"{url.rstrip('/')}/readyz", timeout=2.0)
            body = answer.json()
        except (httpx.HTTPError, ValueError) as exc:
            console.metrics.upstream_errors.labels("decider").inc()
            return {"url": url, "reachable": False, "error": f"{type(exc).__name__}: {exc}"}
        return {"url": url, "reachable": True, "http_status": answer.status_code, **body}

    found = await asyncio.gather(*(one(url) for url in console.settings.console_decider_urls))
    return json({"deciders": found})


@reading.get("/dead-letters")
async def dead_letters(
    console: ConsoleDep,
    include_handled: Annotated[bool, Query(alias="all")] = False,
    limit: Annotated[int, Query(ge=1, le=MAX_LETTERS)] = 50,
) -> Response:
    """Dead letters (unhandled ones, or all), oldest first, at most ``limit`` per partition
    and ``MAX_LETTERS`` in all."""
    settings = console.settings

    def read(k: KafkaParts) -> tuple[list[dlq.DeadLetter], tuple[int, int], dict[int, int]]:
        letters = dlq.read(
            settings,
            k.admin,
            handled_too=include_handled,
            per_partition=limit,
            most=MAX_LETTERS,
            consumer=k.reader,
            cut=VALUE_BYTES,
            timeout_s=20,
        )
        committed = offsets.committed(k.admin, dlq_group(settings), settings.dlq_topic)
        marks = {p: c.offset for p, c in committed.items()}
        return letters, dlq.counts(settings, k.admin), marks

    letters, (records, unhandled), marks = await console.kafka(read)
    return json(
        {
            "topic": settings.dlq_topic,
            "records": records,
            "unhandled": unhandled,
            "letters": [_letter(d, marks) for d in letters],
        }
    )


def _letter(letter: dlq.DeadLetter, marks: dict[int, int]) -> dict[str, Any]:
    cut = letter.value or b""
    text, encoded = _as_text(cut, truncated=letter.size > len(cut)), None
    if text is None:
        encoded = base64.b64encode(cut).decode()
    return {
        "partition": letter.partition,
        "offset": letter.offset,
        "reason": letter.reason,
        "source_partition": letter.source_partition,
        "source_offset": letter.source_offset,
        "value": text,
        "value_base64": encoded,
        "value_bytes": letter.size,
        "truncated": letter.size > len(cut),
        "handled": letter.offset < marks.get(letter.partition, 0),
        "readable_now": letter.redecode() is None,
    }


def _as_text(value: bytes, truncated: bool) -> str | None:
    """The value as UTF-8 text, or None; a cut value may end inside a character."""
    for drop in range(4 if truncated else 1):
        try:
            return value[: len(value) - drop].decode("utf-8")
        except UnicodeDecodeError:
            continue
    return None


@reading.get("/jobs")
async def jobs(console: ConsoleDep) -> Response:
    """The last jobs (newest first) and the one running, if any."""
    running = console.jobs.running
    return json(
        {
            "running": running.document() if running else None,
            "jobs": [job.document() for job in console.jobs.recent()],
        }
    )


@reading.get("/jobs/{job_id}")
async def job(
    job_id: Annotated[str, Path(pattern=r"^[0-9a-f]{16}$")], console: ConsoleDep
) -> Response:
    found = console.jobs.get(job_id)
    if found is None:
        raise ProblemError(404, "Not Found", f"no job {job_id} (only the last ones are kept)")
    return json(found.document())


@reading.get("/audit")
async def audit_trail(
    console: ConsoleDep, limit: Annotated[int, Query(ge=1, le=MAX_AUDIT)] = 50
) -> Response:
    """The last steps of the audit trail, newest first."""
    entries = await console.kafka(lambda k: k.audit.recent(limit))
    return json({"topic": console.settings.audit_topic, "entries": entries})


# -- acting (admin) ----------------------------------------------------------------------


class HandledMark(BaseModel):
    """Mark a partition's dead letters handled up to and including ``offset``."""

    model_config = ConfigDict(extra="forbid")
    partition: int = Field(ge=0, le=100_000)
    offset: int = Field(ge=0, le=2**63 - 2)


@acting.post("/dead-letters/handled")
async def mark_handled(body: HandledMark, caller: Caller, console: ConsoleDep) -> Response:
    settings = console.settings

    async def do() -> dict[str, Any]:
        def mark(k: KafkaParts) -> dict[int, int]:
            try:
                return dlq.mark_through(settings, k.admin, body.partition, body.offset)
            except ValueError as exc:
                raise ProblemError(422, "Unknown partition", str(exc)) from exc

        marks = await console.kafka(mark)
        return {"marks": {str(p): o for p, o in sorted(marks.items())}}

    detail = {"partition": body.partition, "offset": body.offset}
    return json(await console.act(caller, "dead-letters.mark-handled", detail, do))


@acting.post("/dead-letters/replay", status_code=202)
async def replay_dead_letters(caller: Caller, console: ConsoleDep) -> Response:
    """Re-decode the unhandled dead letters with the current code; if some are readable
    now, rebuild the views blue/green so they are projected in log order; mark handled
    all but the first still unreadable one of each partition (as ``orders dlq replay``)."""
    settings = console.settings

    async def work(job: Job) -> dict[str, Any]:
        job.phase = "reading dead letters"
        letters = await console.kafka(
            queue=False,
            call=lambda k: dlq.read(
                settings,
                k.admin,
                handled_too=False,
                most=REPLAY_LETTERS,
                consumer=k.reader,
                cut=0,  # triaged as read: only where each one is and whether it reads
            ),
        )
        found = dlq.triage(letters)
        built = None
        if found.readable:
            job.phase = "rebuilding the views (blue/green)"
            built = await _blue_green(settings, job, "dlq-replay")
        job.phase = "marking handled"
        unreadable = [letter for letter, _ in found.unreadable]
        marks = await console.kafka(
            lambda k: dlq.mark_handled(settings, k.admin, letters, unreadable), queue=False
        )
        return {
            "letters": found.letters,
            "readable": len(found.readable),
            "still_unreadable": [
                {"partition": d.partition, "offset": d.offset, "reason": why}
                for d, why in found.unreadable[:MAX_LETTERS]
            ],
            "rebuilt": built,
            "marks": {str(p): o for p, o in sorted(marks.items())},
        }

    job = await console.start_job(caller, "dead-letters.replay", {}, work)
    return json(job.document(), 202)


@acting.post("/replays", status_code=202)
async def start_replay(caller: Caller, console: ConsoleDep) -> Response:
    """Rebuild every view from the earliest offsets into a new generation, then switch
    (blue/green: queries keep answering from the current one meanwhile)."""
    settings = console.settings

    async def work(job: Job) -> dict[str, Any]:
        job.phase = "rebuilding the views (blue/green)"
        return await _blue_green(settings, job, "console")

    job = await console.start_job(caller, "replay.blue-green", {}, work)
    return json(job.document(), 202)


@acting.post("/verify", status_code=202)
async def start_verify(caller: Caller, console: ConsoleDep) -> Response:
    """Fold the whole log and compare it with the current generation's views."""
    settings = console.settings

    async def work(job: Job) -> dict[str, Any]:
        job.phase = "folding the log and comparing it with Redis"
        report = await _verify(settings)
        return {
            "generation": report.generation,
            "events": report.events,
            "differences": len(report.differences),
            "equal": not report.differences,
            "first": [verify.describe(d) for d in report.differences[:SHOWN_DIFFERENCES]],
        }

    job = await console.start_job(caller, "verify", {}, work)
    return json(job.document(), 202)


async def _blue_green(settings: Settings, job: Job, origin: str) -> dict[str, Any]:
    """``replay.blue_green`` on a thread with an event loop and clients of its own: its
    Kafka admin calls block, and must not hold up the console's loop (``/healthz``, the
    pages). Cancelled (SIGTERM), it is cancelled on its own loop too: before the switch
    it drops the generation it was building, after it the old one."""
    cancel = threading.Event()

    async def replay_here() -> replay.Built:
        redis = async_redis_client(settings, timeout_s=30)
        admin = offsets.admin_client(settings, "orders-console-replay")
        try:
            main = asyncio.create_task(
                replay.blue_green(settings, redis, admin, origin, job.progress)
            )
            while not main.done():
                await asyncio.wait([main], timeout=CANCEL_POLL_S)
                if cancel.is_set():
                    main.cancel()
            return await main
        finally:
            admin.close()
            await redis.aclose()

    try:
        built = await asyncio.to_thread(asyncio.run, replay_here())
    except asyncio.CancelledError:
        cancel.set()
        raise
    return {
        "generation": built.generation,
        "replaced": built.replaced,
        "events": built.events,
        "seconds": round(built.seconds, 3),
        "events_per_s": round(built.rate, 1),
        "projector_followed": built.projector_followed,
        "dropped_keys": built.dropped_keys,
        "swept": built.swept,
    }


async def _verify(settings: Settings) -> verify.Report:
    """``verify.check`` on a thread; cancelled (SIGTERM), it stops reading the log."""
    cancel = threading.Event()
    try:
        return await asyncio.to_thread(verify.check, settings, None, cancel.is_set)
    except asyncio.CancelledError:
        cancel.set()
        raise
