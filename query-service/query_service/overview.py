"""``/stats`` and ``/projection``: what the views contain and how far behind the log they are.

Lag comes from what the projector reports into Redis (``v:{g}:progress``), so this
service never needs Kafka. ``reported_at`` tells how fresh that report is: a stopped
projector leaves an old report behind, and a client can see it.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from ordersource import codec
from ordersource.keys import newest_fields
from ordersource.views import rfc3339, stats_document
from ordersource.web import problem_responses
from query_service.deps import StoreDep, ViewsDep
from query_service.orders import COMMON
from query_service.schemas import ProjectionStatus, Stats

router = APIRouter(tags=["views"])


@router.get(
    "/stats",
    operation_id="stats",
    summary="Order counts and totals",
    response_model=Stats,
    responses={200: {"description": "Counts over the generation"}, **problem_responses(COMMON)},
)
async def stats(store: ViewsDep) -> Response:
    """Orders per status and, per currency, their number and current totals."""
    body = {"generation": await store.generation(), **stats_document(await store.stats())}
    return Response(codec.dumps(body), media_type="application/json")


@router.get(
    "/projection",
    operation_id="projection",
    summary="How far the views are behind the log",
    response_model=ProjectionStatus,
    responses={200: {"description": "Lag and bookkeeping"}, **problem_responses(COMMON)},
)
async def projection(store: StoreDep) -> Response:
    """Per-partition applied offset and lag as the projector last reported them (a stale
    ``reported_at`` means the projector is not reporting), parked events, dead letters."""
    info = await store.projection()
    meta, checkpoint, progress = info["meta"], info["checkpoint"], info["progress"]
    now = time.time()
    partitions = [
        _partition(p, checkpoint.get(p, 0), progress.get(p), meta, now)
        for p in sorted(set(checkpoint) | set(progress))
    ]
    newest = float(meta.get("newest_event_ts", 0) or 0)
    lags = [p["lag"] for p in partitions]
    body = {
        "generation": info["generation"],
        "built": bool(meta),
        "partitions": partitions,
        "lag": sum(lags) if lags and None not in lags else None,
        "caught_up": bool(partitions) and all(p["caught_up"] for p in partitions),
        "newest_event_at": meta.get("newest_event_at"),
        "newest_event_age_s": round(now - newest, 3) if newest else None,
        "events_applied": int(meta.get("events_applied", 0)),
        "events_parked": info["parked_count"],
        "dead_letters": int(meta.get("dead_letters", 0)),
        "parked": info["parked"],
    }
    return Response(codec.dumps(body), media_type="application/json")


def _partition(
    partition: int, applied: int, report: Any, meta: dict[str, Any], now: float
) -> dict[str, Any]:
    report = report or {}
    reported = report.get("reported_at")
    ts_field, at_field = newest_fields(partition)
    newest = float(meta.get(ts_field, 0) or 0)
    return {
        "partition": partition,
        "applied_offset": applied,
        "end_offset": report.get("end_offset"),
        "lag": report.get("lag"),
        "caught_up": bool(report.get("caught_up")),
        "reported_at": rfc3339(datetime.fromtimestamp(reported, UTC)) if reported else None,
        "report_age_s": round(now - reported, 3) if reported else None,
        "newest_event_at": meta.get(at_field),
        "newest_event_age_s": round(now - newest, 3) if newest else None,
    }
