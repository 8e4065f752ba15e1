"""Request and response bodies of the command API (what OpenAPI documents)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ordersource.domain import OrderStatus
from ordersource.domain.commands import Changes, Lines
from ordersource.domain.types import (
    DEFAULT_CHANNEL,
    AmountCents,
    Currency,
    Identifier,
    NewChannel,
    ShortText,
)
from ordersource.web import Problem


class Body(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PlaceOrderRequest(Body):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "customer_id": "bob",
                    "items": [{"sku": "apple", "quantity": 5, "unit_price_cents": 120}],
                    "currency": "EUR",
                    "channel": "web",
                }
            ]
        }
    )
    customer_id: Identifier
    items: Lines
    currency: Currency
    order_id: Identifier | None = Field(
        default=None, description="Client-chosen id; the server picks a UUIDv7 when absent."
    )
    channel: NewChannel = Field(
        default=DEFAULT_CHANNEL,
        description="Where the order was placed (e.g. web, app, store, phone, api): 1-32 "
        "characters of [a-z0-9_-]; 'unknown' is reserved for orders from before channels.",
    )


class ModifyOrderRequest(Body):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"changes": [{"sku": "apple", "quantity": 6}]}]}
    )
    changes: Changes


class PayOrderRequest(Body):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"amount_cents": 720, "payment_ref": "psp-4711"}]}
    )
    amount_cents: AmountCents = Field(
        description="Must equal the order total (at most 10^15 cents, the largest total)"
    )
    payment_ref: ShortText


class ShipOrderRequest(Body):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"carrier": "DHL", "tracking_number": "JD0146"}]}
    )
    carrier: ShortText
    tracking_number: ShortText


class CancelOrderRequest(Body):
    model_config = ConfigDict(json_schema_extra={"examples": [{"reason": "changed my mind"}]})
    reason: ShortText


class OrderAccepted(BaseModel):
    """The decider accepted the command: its events are in the log (201 place, 200 else)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "order_id": "bob-1",
                    "version": 2,
                    "status": "placed",
                    "event_ids": ["0197a3c0-0000-7000-8000-000000000002"],
                    "command_id": "0197a3c0-0000-7000-8000-00000000000b",
                }
            ]
        }
    )
    order_id: str
    version: int = Field(description="The order's version after this command; the ETag")
    status: OrderStatus = Field(description="The order's status after this command")
    event_ids: list[str] = Field(description="The events it wrote (none on a no-op)")
    command_id: str


class PendingCommand(BaseModel):
    """202: the command is in the log but was not decided within the wait budget."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "command_id": "0197a3c0-0000-7000-8000-00000000000b",
                    "status": "pending",
                    "location": "/commands/0197a3c0-0000-7000-8000-00000000000b",
                }
            ]
        }
    )
    command_id: str
    status: Literal["pending"]
    location: str = Field(description="Poll this (GET /commands/{command_id}) for the verdict")


class Rejection(Problem):
    """A problem about a command. The decider's refusals (404, 409, 412, 422) carry the
    ``command_id``; conflicts (409, 412) also the order's current status and version."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": "/problems/order-is-not-at-the-expected-version",
                    "title": "Order is not at the expected version",
                    "status": 412,
                    "detail": "the order is at version 2, not 1",
                    "command_id": "0197a3c0-0000-7000-8000-00000000000b",
                    "order_status": "placed",
                    "version": 2,
                }
            ]
        }
    )
    command_id: str | None = None
    order_status: OrderStatus | None = None
    version: int | None = None


class CommandStatus(BaseModel):
    """Where a command stands; once decided, ``http_status`` and ``result`` are the
    answer the command would have had (``OrderAccepted`` or a problem document)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "command_id": "0197a3c0-0000-7000-8000-00000000000b",
                    "status": "pending",
                    "http_status": None,
                    "result": None,
                }
            ]
        }
    )
    command_id: str
    status: Literal["pending", "accepted", "rejected"]
    http_status: int | None = None
    result: OrderAccepted | Rejection | None = None
