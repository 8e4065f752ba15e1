"""Structured logs: the JSON line formatter and the command a log line is about.

``bound(order_id=..., command_id=...)`` names, for the code inside the block (the
current thread or asyncio task: context variables), the command being handled; with
``ORDERS_LOG_FORMAT=json`` every line logged meanwhile carries those fields and the
current trace id. ``about`` is ``bound`` where it is only worth it with JSON logs.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any

import orjson

from ordersource import tracing

_ORDER_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("order_id", default=None)
_COMMAND_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("command_id", default=None)


_structured = False  # set by ``configure_logging`` with ``json``: the lines show the ids


def structured(on: bool) -> None:
    global _structured
    _structured = on


def about(*, order_id: str | None, command_id: str | None) -> AbstractContextManager[None]:
    """``bound``, for hot paths: with text logs (which show no ids) a shared no-op."""
    if not _structured:
        return _NOTHING
    return bound(order_id=order_id, command_id=command_id)


class bound:  # used as a function: ``with logs.bound(...)``
    """Log lines inside the block are about this command. A plain class, not a
    generator: this is on the decider's per-command path."""

    __slots__ = ("_command", "_order", "command_id", "order_id")

    def __init__(self, *, order_id: str | None, command_id: str | None) -> None:
        self.order_id, self.command_id = order_id, command_id

    def __enter__(self) -> None:
        self._order = _ORDER_ID.set(self.order_id)
        self._command = _COMMAND_ID.set(self.command_id)

    def __exit__(self, *exc: object) -> None:
        _COMMAND_ID.reset(self._command)
        _ORDER_ID.reset(self._order)


_NOTHING: AbstractContextManager[None] = contextlib.nullcontext()


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ``ts`` (RFC 3339, UTC), ``level``, ``service``,
    ``logger``, ``message``; ``order_id``, ``command_id``, ``trace_id`` and ``span_id``
    when known; ``exc_info`` / ``stack_info`` as text."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "message": record.getMessage(),
        }
        order_id, command_id = _ORDER_ID.get(), _COMMAND_ID.get()
        if order_id is not None:
            line["order_id"] = order_id
        if command_id is not None:
            line["command_id"] = command_id
        ids = tracing.current_ids()
        if ids is not None:
            line["trace_id"], line["span_id"] = ids
        if record.exc_info:
            line["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            line["stack_info"] = self.formatStack(record.stack_info)
        return orjson.dumps(line, default=str).decode()
