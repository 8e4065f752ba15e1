"""Decider cold start: time from process start to ``/readyz`` 200 over a pre-filled log,
the catch-up rate from its own log lines (over the window they cover), and the book's
memory per order (RSS delta against a decider that started on the empty log).
"""

from __future__ import annotations

import re
import time
from datetime import datetime
from typing import Any

from bench.env import Stack, proc_status

CAUGHT_UP = re.compile(
    r"^(\S+ \S+) .*partition (\d+) caught up: (\d+) events in ([\d.]+)s", re.MULTILINE
)


def catch_up_window(log: str, until: float) -> tuple[int, float, int]:
    """Events and seconds of the catch-ups logged before ``until`` (epoch seconds).

    Partitions catch up side by side, so their seconds overlap: the window runs from the
    earliest start (line time minus its seconds) to the last line, not their sum."""
    lines = []
    for stamp, _, events, seconds in CAUGHT_UP.findall(log):
        at = datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f").timestamp()  # local, as logged
        if at <= until + 0.5:
            lines.append((at, int(events), float(seconds)))
    if not lines:
        return 0, 0.0, 0
    window = max(a for a, _, _ in lines) - min(a - s for a, _, s in lines)
    return sum(e for _, e, _ in lines), window, len(lines)


def baseline(stack: Stack) -> dict[str, int]:
    """RSS of a ready decider whose log is empty (run before the data is generated)."""
    assert stack.services is not None
    decider = stack.services("decider", timeout=120)
    time.sleep(1.0)  # let start-up allocations settle
    found = proc_status(decider.pid)
    decider.terminate()
    return found


def cold_start(stack: Stack, orders: int, log_events: int, empty_rss: int) -> dict[str, Any]:
    """``rate``: the log's events over the catch-up window; ``events_read`` shows how many
    the decider actually folded (more than the log when partitions were re-caught)."""
    assert stack.services is not None
    started = time.perf_counter()
    decider = stack.services("decider", wait=False)
    decider.wait_http_ok(decider.url("/readyz"), timeout=900)
    ready_s, ready_at = time.perf_counter() - started, time.time()
    status = proc_status(decider.pid)
    log = decider.log_path.read_text(errors="replace")
    events, busy, count = catch_up_window(log, ready_at)
    state = status["VmRSS"] - empty_rss
    return {
        "pid": decider.pid,
        "events": log_events,
        "events_read": events,
        "catchup_lines": count,  # more than the partitions: a rebalance re-caught some
        "ready_s": round(ready_s, 2),
        "catchup_s": round(busy, 2),
        "rate": round(log_events / busy, 0) if busy else None,
        "rate_to_ready": round(log_events / ready_s, 0),
        "rss_bytes": status["VmRSS"],
        "empty_rss_bytes": empty_rss,
        "state_bytes_per_order": round(state / orders, 1) if orders else None,
    }
