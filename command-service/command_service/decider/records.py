"""Kafka records to and from the decider's terms: command records in, event records out.

The shared codec does the bytes; this module adds what only the decider's records carry:
an event's ``request_hash`` header (the fingerprint of the request that caused it, so a
rebuilt book still refuses an Idempotency-Key reused with another body) and the
partition: an order's events go to the partition of ``orders.events`` with the number
of the command partition they were decided on, where that partition's writer reads them
back when it catches up.
"""

from __future__ import annotations

from dataclasses import dataclass

from ordersource import codec
from ordersource.domain import Command, Event

REQUEST_HASH = "request_hash"
"""The event header naming the request fingerprint of the command that caused it."""

Headers = list[tuple[str, bytes]]


@dataclass(frozen=True, slots=True)
class EventRecord:
    """One event as the writer sends it to ``orders.events``."""

    key: bytes
    value: bytes
    headers: Headers
    partition: int


def decode_command(value: bytes | None) -> Command:
    """The command in a record of ``orders.commands``; raises ``codec.UndecodableCommand``."""
    return codec.decode_command(value)


def event_record(event: Event, request_hash: str | None, partition: int) -> EventRecord:
    headers = codec.event_headers(event)
    if request_hash:
        headers.append((REQUEST_HASH, request_hash.encode()))
    return EventRecord(
        key=event.order_id.encode(),
        value=codec.encode_event(event),
        headers=headers,
        partition=partition,
    )


def request_hash(headers: Headers | None) -> str | None:
    """The ``request_hash`` header of an event record read back from the log, if any."""
    for key, value in headers or ():
        if key == REQUEST_HASH:
            return value.decode()
    return None
