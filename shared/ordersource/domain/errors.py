"""Why a command was refused: one exception class per kind of refusal.

The class is the reason; ``detail`` says what went wrong for this command and ``extra``
carries facts a client can act on (the order's current status and version). Nothing here
knows HTTP: the command service maps each class onto a status code and a problem title
(``command_service.answers``, outside the domain), and the decider stores that answer
in the command's verdict so a retry gets the same bytes.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """A refused command (a business rule, by default)."""

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class OrderNotFound(DomainError):
    """The command is about an order that does not exist."""


class OrderAlreadyExists(DomainError):
    """A PlaceOrder for an order id that is taken."""


class RuleViolated(DomainError):
    """The order's status does not allow the command (e.g. paying a cancelled order)."""


class VersionMismatch(DomainError):
    """The order is not at the version the command expected (If-Match)."""


class InvalidCommand(DomainError):
    """The command cannot be carried out as given (amounts, lines, a reused request)."""
