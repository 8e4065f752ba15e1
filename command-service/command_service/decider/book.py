"""A partition's book: every order of one partition folded from the log, and what each
command already caused. Pure — the worker feeds it events and asks it to judge commands.

The book is rebuilt from ``orders.events`` on assignment, so idempotency (command_id ->
outcome) is as durable as the log itself.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from command_service import verdicts
from command_service.verdicts import Verdict
from ordersource.domain import (
    Command,
    DomainError,
    Event,
    InvalidCommand,
    OrderPlaced,
    OrderState,
    decide,
    evolve,
)

log = logging.getLogger(__name__)

RECENT = 1000
"""How many recent commands a rebuilt book re-announces (answers lost in a crash)."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What an accepted command did, enough to answer a retry with the original response."""

    order_id: str
    version: int
    status: str
    event_ids: tuple[str, ...]
    request_hash: str | None
    created: bool

    def verdict(self, command_id: str) -> Verdict:
        body = {
            "order_id": self.order_id,
            "version": self.version,
            "status": self.status,
            "event_ids": list(self.event_ids),
            "command_id": command_id,
        }
        status = 201 if self.created else 200
        return Verdict(command_id=command_id, accepted=True, http_status=status, body=body)


@dataclass
class PartitionBook:
    partition: int
    next_offset: int = 0
    orders: dict[str, OrderState] = field(default_factory=dict)
    outcomes: dict[str, Outcome] = field(default_factory=dict)
    recent: deque[str] = field(default_factory=lambda: deque(maxlen=RECENT))
    skipped: int = 0

    def apply(self, event: Event, request_hash: str | None) -> None:
        """Fold one event from the log. A version already applied loses (first writer wins)."""
        current = self.orders.get(event.order_id)
        if current is not None and event.version <= current.version:
            self.skipped += 1
            log.warning("skipping duplicate %s v%d", event.order_id, event.version)
            return
        state = evolve(current, event)
        self.orders[event.order_id] = state
        previous = self.outcomes.get(event.command_id)
        event_ids = (*previous.event_ids, event.event_id) if previous else (event.event_id,)
        self.outcomes[event.command_id] = Outcome(
            order_id=state.order_id,
            version=state.version,
            status=state.status.value,
            event_ids=event_ids,
            request_hash=request_hash,
            created=isinstance(event, OrderPlaced),
        )
        self.recent.append(event.command_id)

    def judge(
        self, command: Command, *, now: datetime, new_id: Callable[[], str]
    ) -> tuple[list[Event], Verdict]:
        """Decide ``command``; accepted events are applied to the book at once (tentatively:
        the worker throws the book away if the transaction that writes them fails)."""
        seen = self.outcomes.get(command.command_id)
        if seen is not None:
            if seen.request_hash != command.request_hash:
                error = InvalidCommand(
                    "this Idempotency-Key was already used with a different request"
                )
                return [], verdicts.rejected(command.command_id, error)
            return [], seen.verdict(command.command_id)
        try:
            events = decide(command, self.orders.get(command.order_id), now=now, new_id=new_id)
        except DomainError as error:
            return [], verdicts.rejected(command.command_id, error)
        for event in events:
            self.apply(event, command.request_hash)
        outcome = self.outcomes[command.command_id]
        return events, outcome.verdict(command.command_id)

    def recent_verdicts(self) -> list[Verdict]:
        return [self.outcomes[cid].verdict(cid) for cid in dict.fromkeys(self.recent)]
