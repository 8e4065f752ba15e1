"""A partition's decider state on local disk: one SQLite file, consistent as of an offset
of ``orders.events``.

The decider keeps every order it has ever seen (a PlaceOrder of a closed order's id must
still be refused) and the outcomes of its partition's most recent commands (the
idempotency window). In memory that grew with the log; here it lives in a SQLite file
per partition, and memory holds only what one transaction has not committed yet (the
book's overlay, ``book.py``) and SQLite's page cache (``CACHE_KIB``).

The store is a cache of the log, never its own source of truth: it is written only with
events the broker has committed (the writer flushes after ``commit_transaction``, a
catch-up folds read_committed events), and ``next_offset`` says how far the log is folded
into it. A store that is lost, corrupt, of another schema or does not match the log is
thrown away and rebuilt — from the partition's newest snapshot in Kafka
(``snapshots.py``), then the events after it.

Why SQLite and not RocksDB (what Kafka Streams uses): it is in the standard library, has
one maintained binding, answers a point read in a few microseconds, commits a
transaction in ~0.1 ms in WAL mode, and ``VACUUM INTO`` makes the consistent copy a
snapshot needs while the writer goes on. The decider reads one order and one command id
per command; nothing here needs an LSM tree's write throughput.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import orjson

from ordersource.domain import Line, OrderState, OrderStatus

log = logging.getLogger(__name__)

SCHEMA = 1
"""The layout of the store (``PRAGMA user_version``). A file of another schema is not
read: it is rebuilt (a snapshot of another schema is ignored the same way)."""
CACHE_KIB = 4096
"""SQLite's page cache per partition: the decider's memory does not grow with the log."""
CLOSED = frozenset({OrderStatus.SHIPPED, OrderStatus.CANCELLED})
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)  # a closed order's stand-in timestamps (unused)

_TABLES = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS orders (
    order_id TEXT PRIMARY KEY,
    status TEXT NOT NULL,
    version INTEGER NOT NULL,
    body BLOB            -- NULL once closed: status and version are all a refusal needs
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS outcomes (
    seq INTEGER PRIMARY KEY,           -- order of first sight: the window forgets the lowest
    command_id TEXT NOT NULL UNIQUE,
    order_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    status TEXT NOT NULL,
    event_ids TEXT NOT NULL,           -- JSON array
    request_hash TEXT,
    created INTEGER NOT NULL
);
"""


_SELECT_OUTCOMES = (
    "SELECT command_id, order_id, version, status, event_ids, request_hash, created FROM outcomes"
)


class UnusableStore(Exception):
    """The file is not a store this decider can read (corrupt, another schema, another
    partition): it is set aside and rebuilt."""


@dataclass(frozen=True, slots=True)
class Tip:
    """The last event folded into a state: its offset in the partition and its id. A
    state whose tip is not in the committed log (topic recreated, a writer's aborted
    events) does not describe this log."""

    offset: int
    event_id: str


@dataclass(frozen=True, slots=True)
class Outcome:
    """What an accepted command did, enough to answer a retry with the original response."""

    order_id: str
    version: int
    status: str
    event_ids: tuple[str, ...]
    request_hash: str | None
    created: bool

    def event_id_strings(self) -> list[str]:
        return list(self.event_ids)

    def followed_by(self, later: Outcome) -> Outcome:
        """This outcome with the events of ``later`` (the same command's) after its own."""
        return Outcome(
            self.order_id,
            later.version,
            later.status,
            (*self.event_ids, *later.event_ids),
            self.request_hash,
            self.created,
        )


class StateStore:
    """One partition's state in one SQLite file (``path=None``: in memory, for tests).

    Used by one thread at a time (the partition's catch-up, then the writer); ``lock``
    makes a retired book's late flush and a new owner's reads take turns."""

    def __init__(self, path: Path | None, partition: int) -> None:
        self.path, self.partition = path, partition
        self.lock = threading.RLock()
        self.closed = False
        self._conn = _connect(path)
        try:
            self._prepare()
        except (sqlite3.DatabaseError, UnusableStore):
            self._conn.close()
            raise
        self.next_offset, self.tip = self._read_position()

    # -- reads -------------------------------------------------------------------------
    def order(self, order_id: str) -> OrderState | None:
        row = self._conn.execute(
            "SELECT status, version, body FROM orders WHERE order_id = ?", (order_id,)
        ).fetchone()
        return None if row is None else _state(order_id, *row)

    def outcome(self, command_id: str) -> Outcome | None:
        row = self._conn.execute(
            "SELECT order_id, version, status, event_ids, request_hash, created "
            "FROM outcomes WHERE command_id = ?",
            (command_id,),
        ).fetchone()
        return None if row is None else _outcome(row)

    def outcomes(self, command_ids: list[str]) -> dict[str, Outcome]:
        """The outcomes of those of ``command_ids`` the store remembers."""
        found: dict[str, Outcome] = {}
        for at in range(0, len(command_ids), 500):
            chunk = command_ids[at : at + 500]
            marks = ",".join("?" * len(chunk))  # placeholders only: the ids are parameters
            query = _SELECT_OUTCOMES + f" WHERE command_id IN ({marks})"
            rows = self._conn.execute(query, chunk).fetchall()
            found.update((r[0], _outcome(r[1:])) for r in rows)
        return found

    def recent(self, limit: int) -> list[tuple[str, Outcome]]:
        """The ``limit`` most recently first-seen commands' outcomes, oldest first."""
        rows = self._conn.execute(
            "SELECT command_id, order_id, version, status, event_ids, request_hash, created "
            "FROM outcomes ORDER BY seq DESC LIMIT ?",
            (limit,),
        ).fetchall()
        return [(r[0], _outcome(r[1:])) for r in reversed(rows)]

    def counts(self) -> dict[str, int]:
        """How many orders (open, closed) and remembered commands the store holds."""
        open_, closed = self._conn.execute(
            "SELECT count(body), count(*) - count(body) FROM orders"
        ).fetchone()
        (commands,) = self._conn.execute("SELECT count(*) FROM outcomes").fetchone()
        return {"open": open_, "closed": closed, "commands": commands}

    # -- the one write -----------------------------------------------------------------
    def commit(
        self,
        orders: Iterable[OrderState],
        outcomes: Iterable[tuple[str, Outcome]],
        next_offset: int,
        tip: Tip | None,
        window: int,
    ) -> None:
        """Write a folded stretch of the log in one SQLite transaction: the orders it
        changed, the outcomes of its commands (replacing the stored ones: the caller
        merged them; the window then forgets the oldest beyond ``window``) and how far
        it reaches."""
        conn = self._conn
        with self.lock:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany(
                    "INSERT OR REPLACE INTO orders (order_id, status, version, body) "
                    "VALUES (?, ?, ?, ?)",
                    [(s.order_id, s.status.value, s.version, _body(s)) for s in orders],
                )
                conn.executemany(
                    "INSERT INTO outcomes "
                    "(command_id, order_id, version, status, event_ids, request_hash, created) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (command_id) DO UPDATE SET "
                    "version = excluded.version, status = excluded.status, "
                    "event_ids = excluded.event_ids",
                    [_outcome_row(c, o) for c, o in outcomes],
                )
                conn.execute(
                    "DELETE FROM outcomes WHERE seq <= (SELECT max(seq) FROM outcomes) - ?",
                    (max(1, window),),
                )
                meta: dict[str, object] = {"next_offset": next_offset}
                if tip is not None:
                    meta |= {"tip_offset": tip.offset, "tip_event_id": tip.event_id}
                conn.executemany(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", list(meta.items())
                )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            self.next_offset = next_offset
            self.tip = tip if tip is not None else self.tip

    # -- copies ------------------------------------------------------------------------
    def copy_to(self, target: Path) -> tuple[int, Tip | None]:
        """A consistent, compact copy of the store in ``target`` (``VACUUM INTO``, from a
        connection of its own: the writer is not held up). Returns the position it is
        consistent as of."""
        if self.path is None:
            raise UnusableStore("an in-memory store has no file to copy")
        with contextlib.suppress(FileNotFoundError):
            target.unlink()
        reader = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, isolation_level=None)
        try:
            reader.execute("VACUUM INTO ?", (str(target),))
        finally:
            reader.close()
        copy = sqlite3.connect(f"file:{target}?mode=ro", uri=True)
        try:
            return _position(copy)  # the copy's own: it is one read transaction's view
        finally:
            copy.close()

    def close(self) -> None:
        with self.lock:
            self.closed = True
            self._conn.close()

    # -- set-up ------------------------------------------------------------------------
    def _prepare(self) -> None:
        conn = self._conn
        (version,) = conn.execute("PRAGMA user_version").fetchone()
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if version == 0 and not tables:
            conn.executescript(_TABLES + f"PRAGMA user_version = {SCHEMA};")
            conn.execute(
                "INSERT INTO meta (key, value) VALUES ('partition', ?), ('next_offset', 0)",
                (self.partition,),
            )
            return
        if version != SCHEMA:
            raise UnusableStore(f"schema {version}, not {SCHEMA}")
        row = conn.execute("SELECT value FROM meta WHERE key = 'partition'").fetchone()
        if row is None or row[0] != self.partition:
            raise UnusableStore(f"a store of partition {row and row[0]}, not {self.partition}")

    def _read_position(self) -> tuple[int, Tip | None]:
        return _position(self._conn)


def open_store(path: Path, partition: int) -> StateStore:
    """The store in ``path``; one that cannot be used is set aside (``<path>.unusable``,
    for a post-mortem) and a new empty one made in its place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        return StateStore(path, partition)
    except (sqlite3.DatabaseError, UnusableStore) as exc:
        log.warning("partition %d: local state %s unusable (%s); rebuilding", partition, path, exc)
        set_aside(path)
        return StateStore(path, partition)


def set_aside(path: Path) -> None:
    """Move a store file (and its WAL) out of the way, keeping the last one for a look."""
    for suffix in ("", "-wal", "-shm"):
        source = Path(f"{path}{suffix}")
        if source.exists():
            os.replace(source, Path(f"{path}.unusable{suffix}"))


def read_meta(path: Path) -> dict[str, object]:
    """The meta table of a store file that is not open (a downloaded snapshot)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        (version,) = conn.execute("PRAGMA user_version").fetchone()
        meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
        (ok,) = conn.execute("PRAGMA quick_check").fetchone()
    except sqlite3.DatabaseError as exc:
        raise UnusableStore(str(exc)) from exc
    finally:
        conn.close()
    if ok != "ok":
        raise UnusableStore(f"quick_check: {ok}")
    return {**meta, "schema": version}


def _connect(path: Path | None) -> sqlite3.Connection:
    conn = sqlite3.connect(
        ":memory:" if path is None else str(path), check_same_thread=False, isolation_level=None
    )
    if path is not None:
        conn.execute("PRAGMA journal_mode = WAL")
        # A commit survives the process's death (kill -9); only a power cut may lose the
        # last ones, and then the store is merely further behind the log.
        conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
    return conn


def _position(conn: sqlite3.Connection) -> tuple[int, Tip | None]:
    meta = dict(conn.execute("SELECT key, value FROM meta").fetchall())
    tip = None
    if "tip_offset" in meta:
        tip = Tip(int(meta["tip_offset"]), str(meta["tip_event_id"]))
    return int(meta.get("next_offset", 0)), tip


def _body(state: OrderState) -> bytes | None:
    if state.status in CLOSED:
        return None
    return orjson.dumps(
        [
            state.customer_id,
            state.currency,
            state.channel,
            [[line.sku, line.quantity, line.unit_price_cents] for line in state.items],
            state.created_at.isoformat(),
            state.updated_at.isoformat(),
        ]
    )


def _state(order_id: str, status: str, version: int, body: bytes | None) -> OrderState:
    if body is None:
        return OrderState(order_id, "", "", "", OrderStatus(status), (), version, _EPOCH, _EPOCH)
    customer, currency, channel, items, created, updated = orjson.loads(body)
    return OrderState(
        order_id,
        customer,
        currency,
        channel,
        OrderStatus(status),
        tuple(Line(sku=s, quantity=q, unit_price_cents=p) for s, q, p in items),
        version,
        datetime.fromisoformat(created),
        datetime.fromisoformat(updated),
    )


def _outcome_row(command_id: str, o: Outcome) -> tuple[object, ...]:
    return (
        command_id,
        o.order_id,
        o.version,
        o.status,
        orjson.dumps(o.event_ids).decode(),
        o.request_hash,
        int(o.created),
    )


def _outcome(row: tuple[object, ...]) -> Outcome:
    order_id, version, status, event_ids, request_hash, created = row
    return Outcome(
        str(order_id),
        int(version),  # type: ignore[call-overload]
        str(status),
        tuple(orjson.loads(str(event_ids))),
        request_hash,  # type: ignore[arg-type]
        bool(created),
    )
