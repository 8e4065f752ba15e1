"""A partition's book: every order of one partition folded from the log, and what each
command already caused. Pure — its writer feeds it events and asks it to judge commands;
it answers in domain terms (an ``Outcome`` or a ``DomainError``), never in HTTP ones.

The book is rebuilt from ``orders.events`` on assignment, so idempotency (command_id ->
outcome) is as durable as the log itself.
"""

from __future__ import annotations

import logging
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ordersource.domain import (
    Command,
    DomainError,
    Event,
    InvalidCommand,
    OrderPlaced,
    OrderState,
    OrderStatus,
    Step,
    decide,
    evolve,
    step,
)

log = logging.getLogger(__name__)

RECENT = 1000
"""How many recent commands a rebuilt book re-announces (answers lost in a crash)."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """What an accepted command did, enough to answer a retry with the original response.

    Kept for every command in the log, so it is stored compactly: ids as 16 UUID bytes,
    the order id and status shared with the state they came from.
    """

    order_id: str
    version: int
    status: str
    event_ids: tuple[bytes | str, ...]
    request_hash: str | None
    created: bool

    def event_id_strings(self) -> list[str]:
        return [unpack(e) for e in self.event_ids]


Decision = Outcome | DomainError
"""How the book judged a command: what it did, or why it was refused."""


CLOSED = frozenset({OrderStatus.SHIPPED, OrderStatus.CANCELLED})
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # a closed order's stand-in timestamps (unused)


@dataclass
class PartitionBook:
    partition: int
    dedup_window: int = 100_000
    """How many of the partition's most recent commands are remembered for idempotency."""
    next_offset: int = 0
    orders: dict[str, OrderState] = field(default_factory=dict)
    closed: dict[str, tuple[OrderStatus, int]] = field(default_factory=dict)
    outcomes: dict[bytes | str, Outcome] = field(default_factory=dict)
    recent: deque[bytes | str] = field(default_factory=lambda: deque(maxlen=RECENT))
    remembered: deque[bytes | str] = field(default_factory=deque)
    skipped: int = 0

    def apply(self, event: Event, request_hash: str | None) -> None:
        """Fold one event from the log. A version already applied loses (first writer wins)."""
        current = self.state_of(event.order_id)
        if step(current, event) is Step.DUPLICATE:
            self.skipped += 1
            log.warning("skipping duplicate %s v%d", event.order_id, event.version)
            return
        state = evolve(current, event)
        if state.status in CLOSED:
            # A closed order can only be refused from now on, and status and version say
            # why: that is all the decider keeps of it (it holds every order it owns).
            self.orders.pop(state.order_id, None)
            self.closed[state.order_id] = (state.status, state.version)
        else:
            self.orders[state.order_id] = state
        command_id = pack(event.command_id)
        previous = self.outcomes.get(command_id)
        event_id = pack(event.event_id)
        event_ids = (*previous.event_ids, event_id) if previous else (event_id,)
        self.outcomes[command_id] = Outcome(
            order_id=state.order_id,
            version=state.version,
            status=state.status.value,
            event_ids=event_ids,
            request_hash=request_hash,
            created=isinstance(event, OrderPlaced),
        )
        if previous is None:
            self._remember(command_id)
        self.recent.append(command_id)

    def state_of(self, order_id: str) -> OrderState | None:
        state = self.orders.get(order_id)
        if state is not None or order_id not in self.closed:
            return state
        status, version = self.closed[order_id]
        return OrderState(order_id, "", "", "", status, (), version, _EPOCH, _EPOCH)

    def _remember(self, command_id: bytes | str) -> None:
        """Forget the oldest command once the window is full (never the newest one)."""
        self.remembered.append(command_id)
        if len(self.remembered) > max(1, self.dedup_window):
            self.outcomes.pop(self.remembered.popleft(), None)

    def judge(
        self, command: Command, *, now: datetime, new_id: Callable[[], str]
    ) -> tuple[list[Event], Decision]:
        """Decide ``command``; accepted events are applied to the book at once (tentatively:
        the writer throws the book away if the transaction that writes them fails). A
        command the book has seen gets its original outcome again, and no events."""
        seen = self.outcomes.get(pack(command.command_id))
        if seen is not None:
            if seen.request_hash != command.request_hash:
                return [], InvalidCommand(
                    "this Idempotency-Key was already used with a different request"
                )
            return [], seen
        try:
            events = decide(command, self.state_of(command.order_id), now=now, new_id=new_id)
        except DomainError as error:
            return [], error
        for event in events:
            self.apply(event, command.request_hash)
        return events, self.outcomes[pack(command.command_id)]

    def recent_outcomes(self) -> list[tuple[str, Outcome]]:
        """The most recent commands' outcomes (up to ``RECENT``), by command id, oldest
        first: re-announced after a rebuild or when Redis comes back."""
        recent = [cid for cid in dict.fromkeys(self.recent) if cid in self.outcomes]
        return [(unpack(cid), self.outcomes[cid]) for cid in recent]


def pack(identifier: str) -> bytes | str:
    """A canonical UUID as its 16 bytes (a third of the string's size); anything else as is."""
    if len(identifier) == 36:
        try:
            packed = uuid.UUID(identifier)
        except ValueError:
            return identifier
        if str(packed) == identifier:
            return packed.bytes
    return identifier


def unpack(identifier: bytes | str) -> str:
    return str(uuid.UUID(bytes=identifier)) if isinstance(identifier, bytes) else identifier
