"""The pure domain: commands, events, state, ``decide`` and ``evolve``. No I/O here."""

from ordersource.domain.commands import (
    CancelOrder,
    Command,
    ModifyOrder,
    PayOrder,
    PlaceOrder,
    ShipOrder,
)
from ordersource.domain.decide import decide
from ordersource.domain.errors import (
    DomainError,
    InvalidCommand,
    OrderAlreadyExists,
    OrderNotFound,
    RuleViolated,
    VersionMismatch,
)
from ordersource.domain.events import (
    EVENT_TYPES,
    SCHEMA_VERSIONS,
    Event,
    OrderCancelled,
    OrderModified,
    OrderPaid,
    OrderPlaced,
    OrderShipped,
)
from ordersource.domain.evolve import FoldError, Step, evolve, fold, step
from ordersource.domain.state import OrderState
from ordersource.domain.types import Line, LineChange, OrderStatus

__all__ = [
    "EVENT_TYPES",
    "SCHEMA_VERSIONS",
    "CancelOrder",
    "Command",
    "DomainError",
    "Event",
    "FoldError",
    "InvalidCommand",
    "Line",
    "LineChange",
    "ModifyOrder",
    "OrderAlreadyExists",
    "OrderCancelled",
    "OrderModified",
    "OrderNotFound",
    "OrderPaid",
    "OrderPlaced",
    "OrderShipped",
    "OrderState",
    "OrderStatus",
    "PayOrder",
    "PlaceOrder",
    "RuleViolated",
    "ShipOrder",
    "Step",
    "VersionMismatch",
    "decide",
    "evolve",
    "fold",
    "step",
]
