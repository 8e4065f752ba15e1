"""HTTP routes of the command API: translate requests into commands, nothing more."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Request
from fastapi.responses import JSONResponse
from redis.exceptions import RedisError

from command_service.api import responses
from command_service.api.gateway import CommandFactory, CommandGateway, KeyReused, LogUnavailable
from command_service.api.schemas import (
    CancelOrderRequest,
    CommandStatus,
    ModifyOrderRequest,
    OrderAccepted,
    PayOrderRequest,
    PendingCommand,
    PlaceOrderRequest,
    Rejection,
    ShipOrderRequest,
)
from ordersource.auth import Principal
from ordersource.domain import CancelOrder, ModifyOrder, PayOrder, PlaceOrder, ShipOrder
from ordersource.domain.types import DEFAULT_CHANNEL
from ordersource.ids import new_id, order_id_for_key
from ordersource.web import ProblemError, principal, problem_responses

router = APIRouter(tags=["commands"])

OrderId = Annotated[
    str,
    Path(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9._:-]+$",
        examples=["bob-1"],
        description="The order's id",
    ),
]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=128,
        pattern=r"^[\x21-\x7e]+$",
        description="Retry-safe key, scoped to the bearer token: the same key and body always "
        "give the original answer.",
    ),
]
IfMatch = Annotated[
    str | None,
    Header(alias="If-Match", max_length=40, description='Expected version, e.g. "3" (else 412).'),
]
_VERSION_TAG = re.compile(r'^(?:W/)?"?(\d{1,12})"?$')

ERRORS = problem_responses(
    {
        400: "Malformed JSON or header",
        401: "No valid bearer token",
        403: "The token lacks the writer role",
        404: "Unknown order",
        409: "Business rule violated (body has order_status and version)",
        412: "The order is not at the If-Match version (body has order_status and version)",
        413: "Body larger than 64 KiB",
        415: "Body is not application/json",
        422: "Body does not match the schema, or Idempotency-Key reused",
        431: "Request headers larger than 16 KiB",
        503: "Event log unavailable, or the API is overloaded (too many requests in "
        "flight: the command was not taken); retry after Retry-After seconds (same "
        "Idempotency-Key is safe)",
    },
    {status: Rejection for status in (404, 409, 412, 422, 503)},
)


def _header(description: str) -> dict[str, Any]:
    return {"description": description, "schema": {"type": "string"}}


ETAG = _header('The order\'s version after the command, e.g. "2" (use it as If-Match)')
REPLAYED = _header('"true" when this is the stored answer to a retried Idempotency-Key')
ACCEPTED: dict[int | str, dict[str, Any]] = {
    202: {
        "description": "In the log but not decided within the wait budget; poll Location",
        "model": PendingCommand,
        "headers": {"Location": _header("/commands/{command_id}")},
    }
}
CHANGED: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "Accepted: the events are in the log",
        "headers": {"ETag": ETAG, "Idempotent-Replayed": REPLAYED},
    },
    **ERRORS,
    **ACCEPTED,
}
PLACED: dict[int | str, dict[str, Any]] = {
    201: {
        "description": "Placed: the OrderPlaced event is in the log",
        "headers": {
            "Location": _header("/orders/{order_id} (on the query API)"),
            "ETag": ETAG,
            "Idempotent-Replayed": REPLAYED,
        },
    },
    **ERRORS,
    **ACCEPTED,
}


async def gateway(request: Request) -> CommandGateway:
    gw: CommandGateway = request.app.state.gateway
    return gw


Gateway = Annotated[CommandGateway, Depends(gateway)]


async def scoped_key(
    caller: Annotated[Principal, Depends(principal)], key: IdempotencyKey = None
) -> str | None:
    """The Idempotency-Key as the caller's own (``Principal.scope``), or None."""
    return caller.scope(key) if key else None


ScopedKey = Annotated[str | None, Depends(scoped_key)]


def expected_version(if_match: str | None) -> int | None:
    if if_match is None:
        return None
    found = _VERSION_TAG.match(if_match.strip())
    if found is None:
        raise ProblemError(400, "Malformed If-Match", 'If-Match must be a version like "3"')
    return int(found.group(1))


@router.post(
    "/orders",
    status_code=201,
    response_model=OrderAccepted,
    responses=PLACED,
    operation_id="place_order",
    summary="Place an order",
)
async def place_order(
    body: PlaceOrderRequest,
    gw: Gateway,
    key: ScopedKey,
    if_match: IfMatch = None,
) -> JSONResponse:
    version = expected_version(if_match)
    if body.order_id is not None:
        order_id = body.order_id
    else:
        order_id = order_id_for_key(key) if key else new_id()

    def make(command_id: str, request_hash: str | None) -> PlaceOrder:
        return PlaceOrder(
            command_id=command_id,
            order_id=order_id,
            expected_version=version,
            request_hash=request_hash,
            customer_id=body.customer_id,
            currency=body.currency,
            items=body.items,
            channel=body.channel,
        )

    fields = body.model_dump(mode="json")
    if fields["channel"] == DEFAULT_CHANNEL:
        del fields["channel"]  # the default: same fingerprint as before channels existed
    fingerprint = ["place", fields, version]
    return await _send(gw, make, fingerprint, key)


async def _send(
    gw: CommandGateway, make: CommandFactory, fingerprint: Any, key: str | None
) -> JSONResponse:
    try:
        reply = await gw.submit(make, fingerprint=fingerprint, idempotency_key=key)
    except (LogUnavailable, KeyReused) as error:
        raise responses.refusal(error) from None
    return responses.respond(reply)


async def _submit(
    gw: CommandGateway,
    action: str,
    order_id: str,
    body: Any,
    command_type: type[ModifyOrder | PayOrder | ShipOrder | CancelOrder],
    key: str | None,
    if_match: str | None,
) -> JSONResponse:
    version = expected_version(if_match)
    fields = body.model_dump()

    def make(command_id: str, request_hash: str | None) -> Any:
        return command_type(
            command_id=command_id,
            order_id=order_id,
            expected_version=version,
            request_hash=request_hash,
            **fields,
        )

    fingerprint = [action, order_id, body.model_dump(mode="json"), version]
    return await _send(gw, make, fingerprint, key)


@router.post(
    "/orders/{order_id}/modify",
    response_model=OrderAccepted,
    responses=CHANGED,
    operation_id="modify_order",
    summary="Change line quantities",
)
async def modify_order(
    order_id: OrderId,
    body: ModifyOrderRequest,
    gw: Gateway,
    key: ScopedKey,
    if_match: IfMatch = None,
) -> JSONResponse:
    """Change line quantities (0 removes a line); new skus need ``unit_price_cents``."""
    return await _submit(gw, "modify", order_id, body, ModifyOrder, key, if_match)


@router.post(
    "/orders/{order_id}/pay",
    response_model=OrderAccepted,
    responses=CHANGED,
    operation_id="pay_order",
    summary="Pay an order",
)
async def pay_order(
    order_id: OrderId,
    body: PayOrderRequest,
    gw: Gateway,
    key: ScopedKey,
    if_match: IfMatch = None,
) -> JSONResponse:
    """Pay a placed order; ``amount_cents`` must equal its total."""
    return await _submit(gw, "pay", order_id, body, PayOrder, key, if_match)


@router.post(
    "/orders/{order_id}/ship",
    response_model=OrderAccepted,
    responses=CHANGED,
    operation_id="ship_order",
    summary="Ship an order",
)
async def ship_order(
    order_id: OrderId,
    body: ShipOrderRequest,
    gw: Gateway,
    key: ScopedKey,
    if_match: IfMatch = None,
) -> JSONResponse:
    """Ship a paid order."""
    return await _submit(gw, "ship", order_id, body, ShipOrder, key, if_match)


@router.post(
    "/orders/{order_id}/cancel",
    response_model=OrderAccepted,
    responses=CHANGED,
    operation_id="cancel_order",
    summary="Cancel an order",
)
async def cancel_order(
    order_id: OrderId,
    body: CancelOrderRequest,
    gw: Gateway,
    key: ScopedKey,
    if_match: IfMatch = None,
) -> JSONResponse:
    """Cancel a placed or paid order."""
    return await _submit(gw, "cancel", order_id, body, CancelOrder, key, if_match)


@router.get(
    "/commands/{command_id}",
    response_model=CommandStatus,
    responses={
        200: {"description": "Pending, or decided (with the answer it got)"},
        **problem_responses(
            {
                401: "No valid bearer token",
                403: "The token lacks the writer role",
                404: "No such command is known (never accepted, or its record expired)",
                422: "Not a valid command id",
                503: "Redis unavailable, or the API is overloaded (too many requests in "
                "flight); retry after Retry-After seconds",
            }
        ),
    },
    operation_id="command_status",
    summary="Where an accepted (202) command stands",
)
async def command_status(
    command_id: Annotated[
        str, Path(min_length=1, max_length=64, description="From the 202's Location")
    ],
    gw: Gateway,
) -> JSONResponse:
    """Pending, accepted or rejected; a decided command's verdict is relayed as it was
    (``http_status`` and ``result``: the answer the command itself would have had)."""
    try:
        status, verdict = await gw.status(command_id)
    except RedisError:
        raise ProblemError(
            503, "Verdicts unavailable", "Redis does not answer", {"Retry-After": "1"}
        ) from None
    if status == "unknown":
        raise ProblemError(404, "Unknown command", f"no command {command_id} is known")
    body: dict[str, Any] = {"command_id": command_id, "status": "pending"}
    if verdict is None:
        return JSONResponse({**body, "http_status": None, "result": None})
    body["status"] = "accepted" if verdict.accepted else "rejected"
    return JSONResponse({**body, "http_status": verdict.http_status, "result": verdict.body})
