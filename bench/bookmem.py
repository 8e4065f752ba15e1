"""Decider state per order, open against closed: fold synthetic orders of one kind into
the decider's own ``PartitionBook`` over a SQLite store on disk (through the shared
codec, flushing every ``FLUSH_EVERY`` events, as catch-up does) in a fresh process, and
divide the store's size by the number of orders. Memory per order is the RSS growth
over the second half of the orders (the first half fills SQLite's page cache and the
book's overlay, a fixed cost): it is the slope that says whether memory grows with the
orders.

The idempotency window (outcomes of recent commands) is not per-order state: it is
bounded by ``ORDERS_DECIDER_DEDUP_WINDOW`` per partition whatever the number of orders,
so it is held small here and priced separately (``disk_bytes_per_remembered_command``).

    python -m bench.bookmem --orders 20000 --kind open
"""

from __future__ import annotations

import argparse
import gc
import json
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from bench.datagen import order_events
from command_service.decider.book import FLUSH_EVERY, PartitionBook
from command_service.decider.store import StateStore
from ordersource import codec

OPEN_FATES = (2, 3)  # paid, placed
CLOSED_FATES = (0, 1)  # shipped, cancelled


def rss() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def measure(orders: int, kind: str) -> dict[str, float]:
    fates = OPEN_FATES if kind == "open" else CLOSED_FATES
    numbers = [n for n in range(orders * 2) if n % 4 in fates][:orders]
    now = datetime.now(UTC)
    events = [codec.encode_event(event) for n in numbers for event in order_events(n, now)]
    with tempfile.TemporaryDirectory() as scratch:
        small = _folded(Path(scratch) / "small.sqlite", 1000, events)
        large = _folded(Path(scratch) / "large.sqlite", len(events), events)
    return {
        "orders": len(numbers),
        "kind_open": kind == "open",
        "disk_bytes_per_order": small["disk"] / orders,
        "rss_bytes_per_order": small["rss_second_half"] / (orders - orders // 2),
        "disk_bytes_per_remembered_command": (large["disk"] - small["disk"]) / len(events),
    }


def _folded(path: Path, window: int, events: list[bytes]) -> dict[str, int]:
    """Fold ``events`` into a new store at ``path``: its size, and how much RSS grew
    while the second half was folded."""
    book = PartitionBook(0, window, StateStore(path, 0))
    half = len(events) // 2
    middle = 0
    for offset, value in enumerate(events):
        if offset == half:
            book.flush()
            gc.collect()
            middle = rss()
        book.apply(codec.decode_event(value), None, offset)
        book.next_offset = offset + 1
        if book.unflushed >= FLUSH_EVERY:
            book.flush()
    book.flush()
    gc.collect()
    grown = rss() - middle
    book.store.close()
    size = sum(p.stat().st_size for p in path.parent.glob(f"{path.name}*"))
    return {"disk": size, "rss_second_half": grown}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=20000)
    parser.add_argument("--kind", choices=["open", "closed"], required=True)
    args = parser.parse_args()
    print(json.dumps(measure(args.orders, args.kind)))


if __name__ == "__main__":
    main()
