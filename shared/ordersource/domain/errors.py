"""Why a command was refused. The HTTP layer maps ``status`` onto the response code."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A refused command. ``status`` follows the command API contract (404/409/412/422)."""

    status = 409
    title = "Business rule violated"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class OrderNotFound(DomainError):
    status = 404
    title = "Order not found"


class OrderAlreadyExists(DomainError):
    status = 409
    title = "Order already exists"


class RuleViolated(DomainError):
    status = 409
    title = "Business rule violated"


class VersionMismatch(DomainError):
    status = 412
    title = "Order is not at the expected version"


class InvalidCommand(DomainError):
    status = 422
    title = "Invalid command"
