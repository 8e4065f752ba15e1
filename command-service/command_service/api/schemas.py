"""Request and response bodies of the command API (what OpenAPI documents)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ordersource.domain.commands import Changes, Lines
from ordersource.domain.types import (
    DEFAULT_CHANNEL,
    Cents,
    Currency,
    Identifier,
    NewChannel,
    ShortText,
)


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
    amount_cents: Cents
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
    order_id: str
    version: int
    status: str
    event_ids: list[str]
    command_id: str


class CommandStatus(BaseModel):
    command_id: str
    status: Literal["pending", "accepted", "rejected"]
    http_status: int | None = None
    result: dict[str, Any] | None = None


class Problem(BaseModel):
    type: str
    title: str
    status: int
    detail: str | None = None
