"""The command API's answers: the status code and body of every decision, in one place.

The domain refuses a command with an exception class (``ordersource.domain.errors``) and
knows nothing of HTTP; here each class gets its status code and problem title, and an
accepted command its 201 (an order placed) or 200. The decider stores the result as a
``Verdict`` (status and body, ``command_service.verdicts``), so a retried command, and
``GET /commands/{id}``, get byte-for-byte the answer the command had the first time —
whichever API process relays it, and however old the verdict is. Pure: no I/O, no web
framework: the decider builds the verdicts with it, the API relays them, so it sits beside
``verdicts`` in neither package.
"""

from __future__ import annotations

from typing import Protocol

from command_service.verdicts import Verdict
from ordersource.domain import (
    DomainError,
    InvalidCommand,
    OrderAlreadyExists,
    OrderNotFound,
    RuleViolated,
    VersionMismatch,
)
from ordersource.problems import problem

PLACED = 201
"""An accepted PlaceOrder: ``Location`` names the new order."""
CHANGED = 200
"""Any other accepted command (also a no-op)."""

REFUSALS: dict[type[DomainError], tuple[int, str]] = {
    OrderNotFound: (404, "Order not found"),
    OrderAlreadyExists: (409, "Order already exists"),
    RuleViolated: (409, "Business rule violated"),
    VersionMismatch: (412, "Order is not at the expected version"),
    InvalidCommand: (422, "Invalid command"),
    DomainError: (409, "Business rule violated"),
}
"""Status code and problem title per refusal; a subclass without a row of its own gets
its nearest ancestor's (the titles are part of the contract: the problem ``type`` is
made from them)."""


class Accepted(Protocol):
    """What an accepted command did (the decider's book keeps one per command)."""

    @property
    def order_id(self) -> str: ...
    @property
    def version(self) -> int: ...
    @property
    def status(self) -> str: ...
    @property
    def created(self) -> bool: ...
    def event_id_strings(self) -> list[str]: ...


def refusal(error: DomainError) -> tuple[int, str]:
    """The status code and problem title of a refusal."""
    for kind in type(error).__mro__:
        if kind in REFUSALS:
            return REFUSALS[kind]
    raise TypeError(f"not a DomainError: {error!r}")  # pragma: no cover - typed away


def refused(command_id: str, error: DomainError) -> Verdict:
    status, title = refusal(error)
    return Verdict(
        command_id=command_id,
        accepted=False,
        http_status=status,
        body=problem(status, title, error.detail, command_id=command_id, **error.extra),
    )


def accepted(command_id: str, outcome: Accepted) -> Verdict:
    body = {
        "order_id": outcome.order_id,
        "version": outcome.version,
        "status": outcome.status,
        "event_ids": outcome.event_id_strings(),
        "command_id": command_id,
    }
    status = PLACED if outcome.created else CHANGED
    return Verdict(command_id=command_id, accepted=True, http_status=status, body=body)


def verdict(command_id: str, decision: Accepted | DomainError) -> Verdict:
    """The stored answer to a decision: an outcome or a refusal."""
    if isinstance(decision, DomainError):
        return refused(command_id, decision)
    return accepted(command_id, decision)
