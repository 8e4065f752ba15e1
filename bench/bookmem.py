"""Decider state per order, open against closed: fold synthetic orders of one kind into
the decider's own ``PartitionBook`` (through the shared codec, as catch-up does) in a
fresh process and divide the RSS growth by the number of orders.

The idempotency memory (outcomes of recent commands) is not per-order state: it is
bounded by ``ORDERS_DECIDER_DEDUP_WINDOW`` per partition whatever the number of orders,
so it is held small here and priced separately (``bytes_per_remembered_command``).

    python -m bench.bookmem --orders 20000 --kind open
"""

from __future__ import annotations

import argparse
import gc
import json
from datetime import UTC, datetime
from pathlib import Path

from bench.datagen import order_events
from command_service.decider.book import PartitionBook
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
    # Both books stay alive, so the second cannot reuse memory the first gave back.
    small, large = PartitionBook(0, dedup_window=1000), PartitionBook(0, len(events))
    state_only = _grown(small, events)
    everything = _grown(large, events)
    return {
        "orders": len(numbers),
        "kind_open": kind == "open",
        "bytes_per_order": state_only / orders,
        "bytes_per_remembered_command": (everything - state_only) / len(events),
    }


def _grown(book: PartitionBook, events: list[bytes]) -> int:
    gc.collect()
    before = rss()
    for value in events:
        book.apply(codec.decode_event(value), None)
    gc.collect()
    return rss() - before


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=20000)
    parser.add_argument("--kind", choices=["open", "closed"], required=True)
    args = parser.parse_args()
    print(json.dumps(measure(args.orders, args.kind)))


if __name__ == "__main__":
    main()
