"""The one codec: events and commands to and from the bytes on Kafka.

Events are validated in one pass (pydantic-core, from JSON bytes). Anything that is not
a current-schema event takes the slow path: older schema versions are upcast, unknown
types and future versions raise ``UndecodableEvent`` so readers can dead-letter them.

Schema versions are per event type (``SCHEMA_VERSIONS``); ``UPCASTERS`` lifts a raw event
one version at a time, ``(type, N)`` -> N + 1. How to evolve a schema:
docs/schema-evolution.md.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from pydantic import TypeAdapter, ValidationError

from ordersource.domain.commands import Command
from ordersource.domain.events import SCHEMA_VERSIONS, Event
from ordersource.domain.types import UNKNOWN_CHANNEL

_EVENTS: TypeAdapter[Event] = TypeAdapter(Event)
_COMMANDS: TypeAdapter[Command] = TypeAdapter(Command)

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]
"""A raw event (parsed JSON) at version N -> the same event at N + 1. Pure: no I/O, no
clock, no randomness, no lookups — the same bytes must give the same event everywhere."""


def order_placed_v1_to_v2(raw: dict[str, Any]) -> dict[str, Any]:
    """OrderPlaced v2 added ``data.channel``; v1 orders were placed before it was recorded."""
    data = raw.get("data")
    if not isinstance(data, dict):
        return raw | {"schema_version": 2}  # not an OrderPlaced; v2 validation will say so
    return raw | {"schema_version": 2, "data": data | {"channel": UNKNOWN_CHANNEL}}


UPCASTERS: dict[tuple[str, int], Upcaster] = {
    ("OrderPlaced", 1): order_placed_v1_to_v2,
}
"""(event type, schema version N) -> function lifting a raw event to version N + 1."""

Headers = list[tuple[str, bytes]]


class UndecodableEvent(ValueError):
    """Bytes on the event topic that this code cannot read as an event."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class UnknownSchemaVersion(UndecodableEvent):
    pass


class UndecodableCommand(ValueError):
    pass


def encode_event(event: Event) -> bytes:
    return _EVENTS.dump_json(event)


def event_headers(event: Event) -> Headers:
    """``type`` and ``schema_version`` (the event type's own) for readers that route on them."""
    return [("type", event.type.encode()), ("schema_version", str(event.schema_version).encode())]


def decode_event(value: bytes | None) -> Event:
    if value is None:
        raise UndecodableEvent("empty record (tombstone)")
    try:
        event = _EVENTS.validate_json(value)
    except ValidationError as fast_error:
        return _decode_slow(value, fast_error)
    if "schema_version" not in event.model_fields_set:
        # The class default is for writing; a record must say which shape it has, or a
        # future version could be mistaken for the current one and skip its upcasters.
        raise UndecodableEvent("invalid event: schema_version missing")
    return event


def _decode_slow(value: bytes, fast_error: ValidationError) -> Event:
    try:
        raw = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise UndecodableEvent(f"not JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise UndecodableEvent("not a JSON object")
    kind, version = raw.get("type"), raw.get("schema_version")
    if not isinstance(kind, str) or kind not in SCHEMA_VERSIONS:
        raise UndecodableEvent(f"unknown event type {kind!r}")
    current = SCHEMA_VERSIONS[kind]
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        raise UndecodableEvent(f"invalid schema_version {version!r}")
    if version > current:
        raise UnknownSchemaVersion(
            f"{kind} schema_version {version} is newer than this reader ({current})"
        )
    if version == current:
        raise UndecodableEvent(_summary(fast_error))  # current, yet invalid: no second try
    while version < current:
        upcast = UPCASTERS.get((kind, version))
        if upcast is None:
            raise UndecodableEvent(f"no upcaster for {kind} schema_version {version}")
        raw = upcast(raw)
        if raw.get("schema_version") != version + 1:
            raise UndecodableEvent(f"upcaster for {kind} schema_version {version} did not lift it")
        version += 1
    try:
        return _EVENTS.validate_python(raw)
    except ValidationError as exc:
        raise UndecodableEvent(_summary(exc)) from None


def _summary(exc: ValidationError) -> str:
    parts = [f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()[:5]]
    return "invalid event: " + "; ".join(parts)


def encode_command(command: Command) -> bytes:
    return _COMMANDS.dump_json(command)


def decode_command(value: bytes | None) -> Command:
    if value is None:
        raise UndecodableCommand("empty record")
    try:
        return _COMMANDS.validate_json(value)
    except ValidationError as exc:
        raise UndecodableCommand(_summary(exc)) from None


def dumps(obj: Any) -> bytes:
    """JSON for everything else (results, views) — one JSON library in the project."""
    return orjson.dumps(obj)


def loads(data: bytes | str) -> Any:
    return orjson.loads(data)
