"""A partition's book: every order of one partition folded from the log, and what each
command already caused. Pure of Kafka and HTTP — its writer feeds it events and asks it to
judge commands; it answers in domain terms (an ``Outcome`` or a ``DomainError``).

The book is a small overlay over the partition's ``StateStore`` (SQLite, ``store.py``):
what it folds or decides waits in memory until ``flush`` writes it to the store (after the
Kafka transaction that carries it committed, or every ``FLUSH_EVERY`` events of a
catch-up) and ``discard`` forgets it (the transaction was refused). Memory holds only the
unflushed stretch; the store holds every order and the idempotency window, and is
rebuilt from the log (or a snapshot of it) when lost, so idempotency is as durable as the
log itself.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from command_service.decider.store import Outcome, StateStore, Tip
from ordersource.domain import (
    Command,
    DomainError,
    Event,
    InvalidCommand,
    OrderPlaced,
    OrderState,
    Step,
    decide,
    evolve,
    step,
)

log = logging.getLogger(__name__)

RECENT = 1000
"""How many recent commands a rebuilt book re-announces (answers lost in a crash)."""
FLUSH_EVERY = 5000
"""A catch-up writes its folded events to the store this often (bounded memory)."""

Decision = Outcome | DomainError
"""How the book judged a command: what it did, or why it was refused."""

__all__ = ["Decision", "Outcome", "PartitionBook"]


class PartitionBook:
    def __init__(
        self, partition: int, dedup_window: int = 100_000, store: StateStore | None = None
    ) -> None:
        self.partition = partition
        self.dedup_window = dedup_window
        """How many of the partition's most recent commands are remembered for idempotency."""
        self.store = store if store is not None else StateStore(None, partition)
        self.next_offset = self.store.next_offset
        """The offset of ``orders.events`` the book has folded up to (flushed or not)."""
        self.tip: Tip | None = self.store.tip
        """The last event folded (its offset and id): where a snapshot is checked."""
        self.orders: dict[str, OrderState] = {}  # changed since the last flush
        self.outcomes: dict[str, Outcome] = {}  # new since the last flush, in order
        self._decided: set[str] = set()  # of those, judged here: the store has none of them
        self.skipped = 0
        self.retired = False
        """Set (under the store's lock) once another book took over the store: a late
        flush of this one is dropped; what it held is in the log or nowhere."""

    @property
    def unflushed(self) -> int:
        return len(self.outcomes)

    def apply(self, event: Event, request_hash: str | None, offset: int | None = None) -> None:
        """Fold one event from the log (read at ``offset``; None: decided here, its offset
        is known after the commit). A version already applied loses (first writer wins)."""
        current = self.state_of(event.order_id)
        if step(current, event) is Step.DUPLICATE:
            self.skipped += 1
            log.warning("skipping duplicate %s v%d", event.order_id, event.version)
            return
        state = evolve(current, event)
        self.orders[state.order_id] = state
        outcome = Outcome(
            order_id=state.order_id,
            version=state.version,
            status=state.status.value,
            event_ids=(event.event_id,),
            request_hash=request_hash,
            created=isinstance(event, OrderPlaced),
        )
        # A command's later events extend its outcome; one the store already holds is
        # merged at the flush (one query for the stretch, not one per event).
        previous = self.outcomes.get(event.command_id)
        self.outcomes[event.command_id] = (
            outcome if previous is None else previous.followed_by(outcome)
        )
        if offset is not None:
            self.tip = Tip(offset, event.event_id)

    def state_of(self, order_id: str) -> OrderState | None:
        state = self.orders.get(order_id)
        return state if state is not None else self.store.order(order_id)

    def outcome(self, command_id: str) -> Outcome | None:
        seen = self.outcomes.get(command_id)
        return seen if seen is not None else self.store.outcome(command_id)

    def judge(
        self, command: Command, *, now: datetime, new_id: Callable[[], str]
    ) -> tuple[list[Event], Decision]:
        """Decide ``command``; accepted events are applied to the book at once (tentatively:
        the writer discards them if the transaction that writes them fails). A command the
        book has seen gets its original outcome again, and no events."""
        command_id = command.command_id
        seen = self.outcome(command_id)
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
        self._decided.add(command_id)  # ``outcome`` just found it nowhere, the store included
        return events, self.outcomes[command_id]

    def committed(self, next_offset: int, tip: Tip | None) -> None:
        """The transaction holding the unflushed decisions committed: its last event is
        ``tip`` and the log goes on at ``next_offset``."""
        self.next_offset = max(self.next_offset, next_offset)
        self.tip = tip or self.tip

    def flush(self) -> bool:
        """Write the unflushed stretch to the store (one SQLite transaction). False if
        this book was retired meanwhile (nothing written)."""
        with self.store.lock:
            if self.retired:
                return False
            if self.orders or self.outcomes or self.next_offset != self.store.next_offset:
                unchecked = [c for c in self.outcomes if c not in self._decided]
                stored = self.store.outcomes(unchecked)
                for command_id, earlier in stored.items():
                    self.outcomes[command_id] = earlier.followed_by(self.outcomes[command_id])
                self.store.commit(
                    self.orders.values(),
                    self.outcomes.items(),
                    self.next_offset,
                    self.tip,
                    self.dedup_window,
                )
        self.orders, self.outcomes, self._decided = {}, {}, set()
        return True

    def discard(self) -> None:
        """Forget what was not flushed: the book is the store's state again."""
        self.orders, self.outcomes, self._decided = {}, {}, set()
        self.next_offset, self.tip = self.store.next_offset, self.store.tip

    def retire(self) -> None:
        """Another book takes over the store: this one never writes to it again."""
        with self.store.lock:
            self.retired = True

    def recent_outcomes(self) -> list[tuple[str, Outcome]]:
        """The most recent commands' outcomes (up to ``RECENT``), by command id, oldest
        first: re-announced after a rebuild or when Redis comes back."""
        recent = dict(self.store.recent(RECENT))
        for command_id, outcome in self.outcomes.items():
            recent.pop(command_id, None)
            recent[command_id] = outcome
        return list(recent.items())[-RECENT:]
