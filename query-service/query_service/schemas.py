"""Response bodies of the query API: what OpenAPI documents and generated clients parse.

The routes send pre-serialised JSON (the views are stored as JSON by the projector) and
declare these models as their ``response_model`` for the schema only;
``tests/unit/test_read_contracts.py`` validates real responses against them, and checks
that ``OrderView`` has exactly the fields of ``ordersource.views.to_view``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ordersource.domain.types import OrderStatus
from ordersource.web import Problem

_T1 = "2026-01-01T12:00:00.000000Z"
_T2 = "2026-01-01T12:00:05.000000Z"
LINE_EXAMPLE: dict[str, Any] = {
    "sku": "apple",
    "quantity": 6,
    "unit_price_cents": 120,
    "line_total_cents": 720,
}
VIEW_EXAMPLE: dict[str, Any] = {
    "order_id": "bob-1",
    "customer_id": "bob",
    "channel": "web",
    "status": "placed",
    "items": [LINE_EXAMPLE],
    "total_cents": 720,
    "currency": "EUR",
    "version": 2,
    "created_at": _T1,
    "updated_at": _T2,
}


class LineItem(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [LINE_EXAMPLE]})

    sku: str
    quantity: int = Field(ge=1)
    unit_price_cents: int = Field(ge=0, description="Price of one unit, in minor units")
    line_total_cents: int = Field(ge=0, description="quantity * unit_price_cents")


class OrderView(BaseModel):
    """One order as the projector last wrote it (or as it was, with time travel)."""

    model_config = ConfigDict(json_schema_extra={"examples": [VIEW_EXAMPLE]})

    order_id: str
    customer_id: str
    channel: str = Field(
        default="unknown",
        description="Where the order was placed (web, app, store, phone, api, ...); "
        "'unknown' for orders placed before the channel was recorded.",
    )
    status: OrderStatus
    items: list[LineItem]
    total_cents: int = Field(ge=0, description="Sum of the line totals, in minor units")
    currency: str = Field(description="ISO 4217 code, e.g. EUR")
    version: int = Field(ge=1, description="Number of events applied; the ETag")
    created_at: datetime
    updated_at: datetime


class OrderPage(BaseModel):
    """One page of orders, newest first."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"items": [VIEW_EXAMPLE], "next_cursor": None}]}
    )

    items: list[OrderView]
    next_cursor: str | None = Field(
        description="Pass as ?cursor= for the next (older) page; null on the last page."
    )


class HistoryEvent(BaseModel):
    """One event of the order as recorded in the log, at the schema version it was
    written with (``data`` depends on ``type`` and ``schema_version``)."""

    event_id: str
    type: str = Field(description="OrderPlaced, OrderModified, OrderPaid, ...")
    schema_version: int = Field(ge=1)
    order_id: str
    version: int = Field(ge=1)
    occurred_at: datetime
    command_id: str
    data: dict[str, Any]


class OrderHistory(BaseModel):
    """A page of one order's events, ascending by version (one per version); the next
    page starts at ``next_cursor``."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "order_id": "bob-1",
                    "version": 2,
                    "events": [
                        {
                            "event_id": "0197a3c0-0000-7000-8000-000000000001",
                            "type": "OrderPlaced",
                            "schema_version": 2,
                            "order_id": "bob-1",
                            "version": 1,
                            "occurred_at": _T1,
                            "command_id": "0197a3c0-0000-7000-8000-00000000000a",
                            "data": {
                                "customer_id": "bob",
                                "currency": "EUR",
                                "channel": "web",
                                "items": [{"sku": "apple", "quantity": 5, "unit_price_cents": 120}],
                            },
                        },
                        {
                            "event_id": "0197a3c0-0000-7000-8000-000000000002",
                            "type": "OrderModified",
                            "schema_version": 1,
                            "order_id": "bob-1",
                            "version": 2,
                            "occurred_at": _T2,
                            "command_id": "0197a3c0-0000-7000-8000-00000000000b",
                            "data": {"changes": [{"sku": "apple", "quantity": 6}]},
                        },
                    ],
                    "next_cursor": None,
                }
            ]
        }
    )

    order_id: str
    version: int = Field(ge=1, description="The latest version; the ETag")
    events: list[HistoryEvent] = Field(description="This page's events, ascending by version")
    next_cursor: str | None = Field(
        description="Pass as ?cursor= for the next page (later versions); null on the last."
    )


class CurrencyTotals(BaseModel):
    orders: int = Field(ge=0)
    total_cents: str = Field(
        pattern=r"^(0|[1-9][0-9]*)$",
        description="Sum of those orders' current totals, exact, as a string of decimal "
        "digits: the sum has no upper bound, and a JSON number above 2^53 - 1 is misread "
        "by JavaScript (each order total is at most 10^15 cents)",
        examples=["1320", "94000000000000000"],
    )


class Stats(BaseModel):
    """Counts over every order of the generation (cancelled ones included)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "generation": "1",
                    "orders": 2,
                    "by_status": {"placed": 1, "paid": 0, "shipped": 1, "cancelled": 0},
                    "by_currency": {"EUR": {"orders": 2, "total_cents": "1320"}},
                }
            ]
        }
    )

    generation: str = Field(description="The view generation these numbers come from")
    orders: int = Field(ge=0)
    by_status: dict[str, int] = Field(description="Orders per status; every status is listed")
    by_currency: dict[str, CurrencyTotals] = Field(description="Per ISO 4217 code")


class PartitionProgress(BaseModel):
    partition: int = Field(ge=0)
    applied_offset: int = Field(ge=0, description="Next event offset to apply (checkpoint)")
    end_offset: int | None = Field(description="Log end (last stable offset), as reported")
    lag: int | None = Field(description="Events not applied yet, as reported")
    caught_up: bool
    reported_at: datetime | None = Field(description="When the projector reported this")
    report_age_s: float | None = Field(description="Seconds since that report")
    newest_event_at: datetime | None = Field(
        default=None, description="When the newest event applied from this partition happened"
    )
    newest_event_age_s: float | None = Field(
        default=None, description="Seconds since then: how fresh this partition's views are"
    )


class ParkedEvent(BaseModel):
    """An event held back because the view is not at the version before it."""

    order_id: str
    version: int
    partition: int
    offset: int
    reason: str = Field(description="e.g. version gap: view at 3, got 5")
    event: dict[str, Any] = Field(description="The event as recorded in the log")


class ProjectionStatus(BaseModel):
    """How far the views are behind the event log, from what the projector reports."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "generation": "1",
                    "built": True,
                    "partitions": [
                        {
                            "partition": 0,
                            "applied_offset": 42,
                            "end_offset": 43,
                            "lag": 1,
                            "caught_up": True,
                            "reported_at": _T2,
                            "report_age_s": 0.3,
                            "newest_event_at": _T2,
                            "newest_event_age_s": 12.5,
                        }
                    ],
                    "lag": 1,
                    "caught_up": True,
                    "newest_event_at": _T2,
                    "newest_event_age_s": 12.5,
                    "events_applied": 40,
                    "events_parked": 0,
                    "dead_letters": 0,
                    "parked": [],
                }
            ]
        }
    )

    generation: str
    built: bool = Field(description="Whether the projector has written this generation yet")
    partitions: list[PartitionProgress]
    lag: int | None = Field(description="Total lag; null while a partition has no report")
    caught_up: bool = Field(
        description="Every partition caught up: all records below its last stable offset applied"
    )
    newest_event_at: datetime | None
    newest_event_age_s: float | None
    events_applied: int = Field(ge=0)
    events_parked: int = Field(ge=0, description="Events held back by a version gap")
    dead_letters: int = Field(ge=0, description="Undecodable records sent to the DLQ")
    parked: list[ParkedEvent] = Field(description="Up to about 20 of the parked events")


class ViewBehind(Problem):
    """409 on ``?min_version=``: the view has not reached it within ``wait_ms``."""

    order_id: str
    min_version: int
    current_version: int = Field(description="The view's version now (0: no view yet)")
    view: OrderView | None = Field(description="The view as it is now, if there is one")


class OrderProblem(Problem):
    """A problem about one order (404)."""

    order_id: str | None = None
    current_version: int | None = Field(
        default=None, description="On a time-travel 404: the order's latest version"
    )
