"""``make bench``: every scenario against ceilings measured in the same run.

Starts its own Kafka, Redis and the four processes on free ports (``bench.env``),
generates its own data, and writes ``bench/results/<timestamp>.{json,md}`` and PNG plots.
``BENCH_QUICK=1``: fewer rates, shorter runs, a tenth of the data (about 4 minutes), and
the fixed-rate ladders with bench.openloop only (``BENCH_VEGETA_LADDER=1``: with vegeta
too, as in the full run).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import ceilings, coldstart, loadtests, machine, memory, plots, replaying, report
from bench.datagen import EVENTS_PER_ORDER
from bench.env import Stack, parallel_json

RESULTS = Path(__file__).resolve().parent / "results"
# The rate ladders reach well past capacity (on the 2-core machine about 250-350
# commands/s and 1,500-2,000 reads/s): capacity is the highest rate sustained.
FULL = {"orders": 200_000, "rates": [100, 250, 500, 1000, 2000], "seconds": 12.0,
        "query_rates": [500, 1000, 1500, 2000, 2500, 3000], "noop_rates": [500, 1500, 3000],
        "query_seconds": 10.0, "workers": 64, "vegeta_ladder": True,
        "perf_records": 1_000_000, "redis_requests": 500_000, "book_orders": 50_000,
        "warmup_seconds": 60.0}  # fmt: skip
QUICK = {**FULL, "orders": 20_000, "rates": [100, 200, 300, 400, 800], "seconds": 5.0,
         "query_rates": [500, 1000, 1500, 2000, 2500], "noop_rates": [500], "query_seconds": 5.0,
         "vegeta_ladder": False,
         "perf_records": 200_000,
         "redis_requests": 100_000, "book_orders": 20_000, "warmup_seconds": 30.0}  # fmt: skip


def generate(stack: Stack, orders: int) -> dict[str, Any]:
    half = orders // 2
    common = ["--bootstrap", stack.kafka.bootstrap, "--topic", stack.env["ORDERS_EVENTS_TOPIC"]]
    argsets = [
        [*common, "--first", str(i * half), "--orders", str(half), "--tid", f"bench-gen-{i}"]
        for i in range(2)
    ]
    started = time.perf_counter()
    parts = parallel_json("bench.datagen", argsets, timeout=900)
    seconds = time.perf_counter() - started
    events = sum(p["events"] for p in parts)
    size = sum(p["mean_record_bytes"] for p in parts) / 2
    return {"orders": orders, "events": events, "seconds": round(seconds, 2),
            "rate": round(events / seconds), "mean_record_bytes": round(size)}  # fmt: skip


def scenarios(stack: Stack, cfg: dict[str, Any], out: dict[str, Any]) -> None:
    load, starts = out["loadavg"], out.setdefault("phase_starts_s", {})
    assert stack.services is not None
    t0 = time.monotonic()

    def mark(phase: str) -> None:
        """The 1-min load average, and the seconds since the scenarios began."""
        load[phase] = os.getloadavg()
        starts[phase] = round(time.monotonic() - t0, 1)

    mark("start")
    empty = coldstart.baseline(stack)  # before any data: the decider's empty-log RSS
    out["data"] = generate(stack, cfg["orders"])
    size = out["data"]["mean_record_bytes"]
    mark("ceilings")
    out["ceilings"] = {
        "kafka_producer": ceilings.kafka_producer(stack, cfg["perf_records"], size),
        "kafka_consume": ceilings.kafka_consume(stack),
        "redis": ceilings.redis_benchmark(stack, cfg["redis_requests"]),
        "http_noop": ceilings.noop_http(
            stack, cfg["query_seconds"], cfg["noop_rates"], cfg["workers"]
        ),
    }
    mark("decider")
    out["decider"] = coldstart.cold_start(
        stack, cfg["orders"], out["data"]["events"], empty["VmRSS"]
    )
    out["decider_book"] = {
        kind: parallel_json("bench.bookmem", [["--orders", str(cfg["book_orders"]),
                                                "--kind", kind]], 300)[0]
        for kind in ("open", "closed")
    }  # fmt: skip
    client = stack.redis.client()
    before = memory.used_memory(client)
    mark("replay")
    out["replay"] = replaying.replay(stack)
    out["redis_memory"] = memory.redis_per_order(client, cfg["orders"], before)
    client.close()
    projector = stack.services("projector", timeout=180)
    command = stack.services("command-api")
    query = stack.services("query-api")
    mark("commands")
    out["commands"] = loadtests.commands(
        command,
        query,
        stack.redis.url,
        cfg["rates"],
        cfg["seconds"],
        stack.tokens,
        vegeta_ladder=cfg["vegeta_ladder"],
        warmup_s=cfg["warmup_seconds"],
    )
    mark("queries")
    out["queries"] = loadtests.queries(
        query,
        cfg["orders"],
        cfg["query_rates"],
        cfg["query_seconds"],
        cfg["workers"],
        stack.tokens["reader"],
        vegeta_ladder=cfg["vegeta_ladder"],
        warmup_s=cfg["warmup_seconds"] / 3,
    )
    mark("end")
    pids = {"decider": out["decider"]["pid"], "projector": projector.pid,
            "command-api": command.pid, "query-api": query.pid}  # fmt: skip
    out["processes"] = memory.peaks(pids)
    out["processes"]["orders replay (CLI)"] = {"VmHWM": out["replay"]["peak_rss_bytes"]}


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt  # SIGTERM ends the bench like Ctrl-C: through the finally


def main() -> int:
    quick = os.environ.get("BENCH_QUICK", "") not in ("", "0")
    cfg = dict(QUICK if quick else FULL)
    if os.environ.get("BENCH_VEGETA_LADDER", "") not in ("", "0"):
        cfg["vegeta_ladder"] = True  # the fixed-rate ladders with vegeta too, also in quick
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out: dict[str, Any] = {"timestamp": stamp, "quick": quick, "config": cfg,
                           "machine": machine.describe(), "loadavg": {}}  # fmt: skip
    signal.signal(signal.SIGTERM, _interrupt)
    stack = Stack()
    out["stack"] = stack.describe()
    started = time.monotonic()
    ok = False
    try:
        stack.start()
        scenarios(stack, cfg, out)
        ok = True
    finally:
        stack.close()
        if ok:  # the processes' logs stay with the results (git-ignored)
            RESULTS.mkdir(exist_ok=True)
            shutil.copytree(stack.tmp / "logs", RESULTS / f"{stamp}-logs", dirs_exist_ok=True)
            shutil.rmtree(stack.tmp, ignore_errors=True)
        else:
            print(f"bench failed; logs kept in {stack.tmp}", file=sys.stderr)
    out["duration_s"] = round(time.monotonic() - started, 1)
    RESULTS.mkdir(exist_ok=True)
    # The figures first: a summary that fails can be redone (python -m bench.report FILE).
    (RESULTS / f"{stamp}.json").write_text(json.dumps(out, indent=1, default=str))
    out["targets"] = report.targets(out, EVENTS_PER_ORDER)
    out["plots"] = plots.draw(out, RESULTS / stamp)
    (RESULTS / f"{stamp}.json").write_text(json.dumps(out, indent=1, default=str))
    summary = report.markdown(out)
    (RESULTS / f"{stamp}.md").write_text(summary)
    print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
