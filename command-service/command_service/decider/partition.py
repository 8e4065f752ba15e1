"""One partition of ``orders.commands`` this decider owns: its book, and what the poll
loop, the catch-up and the writer tell each other about it.

The life of an owned partition:

1. assigned: ``needs_seek`` is set; the consumer keeps it paused.
2. the poll loop seeks it to its committed offset. The consumer reads ``read_committed``,
   so kafka-python asks for *stable* offsets (KIP-447 ``require_stable``): while a
   transaction of a previous owner that already carries this partition's offsets is
   still open, the broker answers "unstable" and the poll loop tries again. A stale
   owner's transaction is therefore finished (committed or aborted) before the next
   owner reads anything.
3. then ``start_catch_up`` folds the committed events past the book's offset on a thread
   of its own, re-announces the book's recent verdicts and sets ``caught_up``. The
   folds take turns (``CATCH_UPS_AT_ONCE``): under the GIL, parallel ones are not faster
   (kafka-python's parsing and the fold are Python), only bigger, and the first
   partitions are decided on sooner; what waits on Kafka before a fold (the store's
   checks, a snapshot's download) overlaps. The first catch-up of an assignment first checks
   the local store against the log and takes the partition's newest snapshot from Kafka
   if it is further ahead (``recovery.py``).
4. the writer decides its commands; a refused transaction discards the book's unflushed
   state (back to the store's last committed offset) and sets ``needs_seek`` again
   (step 2).
5. revoked (or the process stops): ``revoked`` is set; an open transaction holding its
   commands is abandoned, and the catch-up stops.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable

from kafka import TopicPartition
from kafka.errors import KafkaError

from command_service import answers
from command_service.decider import metrics
from command_service.decider.book import PartitionBook
from command_service.decider.catchup import catch_up
from command_service.decider.ports import Outbox, WriterClients
from command_service.verdicts import Verdict

log = logging.getLogger(__name__)

CATCH_UPS_AT_ONCE = 1
"""Partitions of one decider catching up at the same time. Measured on 2 cores, 500k
events over 6 partitions: 6 at once 11,436 events/s and 176 MiB peak RSS, 2 at once
11,572 and 110 MiB, one at a time 13,378 and 89 MiB (docs/performance.md)."""
CATCH_UP_RETRY_S = (0.5, 5.0)
"""Back-off between catch-up attempts while the broker refuses or is away (first, max)."""


Recover = Callable[[PartitionBook], PartitionBook]
"""Gives the book to catch up: its store checked against the log, a newer snapshot
swapped in (``recovery.Stores.book_for``)."""


class OwnedPartition:
    def __init__(
        self, tp: TopicPartition, book: PartitionBook | None = None, recover: Recover | None = None
    ) -> None:
        self.tp = tp
        self.book = book if book is not None else PartitionBook(tp.partition)
        """Until ``recover`` gives the real one: an empty stand-in, never written to."""
        self.recover = recover
        """Done by the first catch-up of the assignment, then no more."""
        self.epoch = 0
        """Bumped by the poll loop at each re-seek: deliveries fetched before are dropped."""
        self.needs_seek = threading.Event()
        self.caught_up = threading.Event()
        self.revoked = threading.Event()
        self.catching_up: threading.Thread | None = None

    @property
    def number(self) -> int:
        number: int = self.tp.partition
        return number

    def roll_back(self) -> None:
        """Forget the book's unflushed state (a transaction that did not commit) and have
        the poll loop re-seek; the next catch-up goes on from the store's offset — the
        last one known folded — never from 0."""
        self.book.discard()
        self.caught_up.clear()
        self.needs_seek.set()

    def _take_turn(self, turns: threading.Semaphore | None) -> bool:
        """Wait for this partition's turn to fold; False if it was revoked meanwhile."""
        if turns is None:
            return True
        while not turns.acquire(timeout=0.2):
            if self.revoked.is_set():
                return False
        return True

    def recent_verdicts(self) -> list[Verdict]:
        return [answers.accepted(cid, o) for cid, o in self.book.recent_outcomes()]

    def start_catch_up(
        self, clients: WriterClients, topic: str, outbox: Outbox, turns: threading.Semaphore
    ) -> None:
        """``turns``: the process's catch-ups take turns on it."""
        self.caught_up.clear()
        self.catching_up = threading.Thread(
            target=self._catch_up,
            args=(clients, topic, outbox, turns),
            name=f"catch-up-{self.number}",
            daemon=True,
        )
        self.catching_up.start()

    def _catch_up(
        self,
        clients: WriterClients,
        topic: str,
        outbox: Outbox,
        turns: threading.Semaphore | None = None,
    ) -> None:
        """Fold what the log holds past the book's offset, then re-announce the book's
        recent verdicts (``SET NX``: answers a crash may have lost). Retries with
        back-off until it succeeds or the partition is revoked; an attempt that fails
        half-way leaves the book consistent up to its ``next_offset``."""
        delay, longest = CATCH_UP_RETRY_S
        while not self.revoked.is_set():
            try:
                if self.recover is not None:
                    self.book = self.recover(self.book)
                    self.recover = None
                reader = clients.event_reader()
                try:
                    # Only the fold takes turns: the store checks and snapshot downloads
                    # before it wait on Kafka, and overlap.
                    if not self._take_turn(turns):
                        return
                    try:
                        with metrics.CATCHUP_SECONDS.time():
                            events = catch_up(reader, topic, self.book, self.revoked.is_set)
                    finally:
                        if turns is not None:
                            turns.release()
                finally:
                    reader.close()
            except (KafkaError, OSError, sqlite3.Error) as exc:
                log.warning("partition %d: catch-up failed (%s); retrying", self.number, exc)
                if self.revoked.wait(delay):
                    return
                delay = min(delay * 2, longest)
                continue
            metrics.CATCHUP_EVENTS.inc(events)
            if self.revoked.is_set():
                return
            outbox.announce(self.recent_verdicts(), only_missing=True)
            self.caught_up.set()
            return
