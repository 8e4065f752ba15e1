"""What a decider catch-up pays per event besides reading it, measured without Kafka: the
floor under ``catch-up rate / raw consume rate`` (``docs/performance.md``).

For N events of ``bench.datagen`` orders (the codec's bytes, the decider's headers), in
one process:

* ``decode``: ``codec.decode_event`` (pydantic's ``validate_json``, also the validation);
* ``fold``: the decider's book over a fresh SQLite store — ``PartitionBook.apply`` of the
  decoded events and a ``flush`` every ``FLUSH_EVERY``, as ``catchup.catch_up`` does;
* ``file raw``: the least a deferred fold would still do per event — take the command id
  out of the JSON (orjson) and append the raw event to a SQLite table in transactions of
  ``FLUSH_EVERY`` rows: without an index, with one on the order id (to find an order's
  pending events), and with a second on the command id (idempotency before folding).

    python -m bench.catchupfloor [--events 200000] [--raw-rate 47000]

``--raw-rate``: ``bench.rawconsume``'s events/s measured on the same machine and day;
then each line also gives the best ratio a catch-up doing only that could reach,
``raw_us / (raw_us + cost_us)``.
"""

from __future__ import annotations

import argparse
import functools
import json
import sqlite3
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import orjson

from bench.datagen import EVENTS_PER_ORDER, order_events
from command_service.decider import records
from command_service.decider.book import FLUSH_EVERY, PartitionBook
from command_service.decider.store import StateStore
from ordersource import codec
from ordersource.domain import Event

_FILE_INDEXES = {
    "file raw, no index": [],
    "file raw, order index": ["CREATE INDEX by_order ON pending(order_id)"],
    "file raw, order + command index": [
        "CREATE INDEX by_order ON pending(order_id)",
        "CREATE INDEX by_command ON pending(command_id)",
    ],
}


def _timed(work: Callable[[], None], count: int) -> float:
    """Microseconds per event of ``work``."""
    started = time.perf_counter()
    work()
    return (time.perf_counter() - started) / count * 1e6


def _file_raw(path: Path, indexes: list[str], raw: list[tuple[bytes, bytes]]) -> None:
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("PRAGMA cache_size=-4096")  # the store's page cache (CACHE_KIB)
        db.execute(
            "CREATE TABLE pending (offset INTEGER PRIMARY KEY, order_id TEXT, "
            "command_id TEXT, request_hash TEXT, value BLOB)"
        )
        for index in indexes:
            db.execute(index)
        rows: list[tuple[int, str, str, str, bytes]] = []
        for offset, (key, value) in enumerate(raw):
            rows.append((offset, key.decode(), orjson.loads(value)["command_id"], "h", value))
            if len(rows) >= FLUSH_EVERY or offset == len(raw) - 1:
                db.execute("BEGIN")
                db.executemany("INSERT INTO pending VALUES (?, ?, ?, ?, ?)", rows)
                db.execute("COMMIT")
                rows = []
    finally:
        db.close()


def measure(events: int) -> dict[str, float]:
    now = datetime.now(UTC)
    orders = range(events // EVENTS_PER_ORDER)
    decoded: list[Event] = [e for n in orders for e in order_events(n, now)]
    raw = [(e.order_id.encode(), codec.encode_event(e)) for e in decoded]
    count = len(raw)
    out: dict[str, float] = {"events": count}

    def decode() -> None:
        for _, value in raw:
            codec.decode_event(value)

    out["decode"] = _timed(decode, count)
    with tempfile.TemporaryDirectory() as scratch:
        store = StateStore(Path(scratch) / "p0.sqlite", 0)
        book = PartitionBook(0, 100_000, store)
        hash_header = records.event_record(decoded[0], "h" * 64, 0).headers

        def fold() -> None:
            for offset, event in enumerate(decoded):
                book.next_offset = offset + 1
                book.apply(event, records.request_hash(hash_header), offset)
                if book.unflushed >= FLUSH_EVERY:
                    book.flush()
            book.flush()

        try:
            out["fold"] = _timed(fold, count)
        finally:
            store.close()
        for name, indexes in _FILE_INDEXES.items():
            path = Path(scratch) / f"{len(indexes)}.sqlite"
            out[name] = _timed(functools.partial(_file_raw, path, indexes, raw), count)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--raw-rate", type=float, help="bench.rawconsume events/s, same day")
    args = parser.parse_args()
    result = measure(args.events)
    print(json.dumps({k: round(v, 2) for k, v in result.items()}))
    if args.raw_rate:
        raw_us = 1e6 / args.raw_rate
        print(f"raw consume {args.raw_rate:,.0f} events/s = {raw_us:.1f} us/event")
        for name in ["decode", "fold", *_FILE_INDEXES]:
            cost = result[name] + (result["decode"] if name == "fold" else 0.0)
            label = "decode + fold" if name == "fold" else name
            print(f"{label:34} {cost:6.1f} us/event -> at most {raw_us / (raw_us + cost):.2f} x")


if __name__ == "__main__":
    main()
