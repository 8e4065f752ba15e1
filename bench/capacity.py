"""``make bench-capacity``: each process's CPU per command and per read, and the plan.

Also what the log and Redis take per event and per order, and the capacity plan built
from all of it (``bench.capacitymodel``) — the tables of docs/scaling.md.

On the bench's own stack (``bench.env.Stack``, configured like ``make run``: auth on,
Redis AOF, Kafka's 512 MiB heap, 6 partitions), in one run:

1. data: ``bench.run.generate`` writes ``orders`` orders (five events each, bench.datagen);
2. ceilings: the raw kafka-python consume of that log, redis-benchmark, the no-op
   FastAPI route's closed-loop maximum (``bench.ceilings``; no producer perf test);
3. replay: ``bench.replaying.replay`` (``orders replay --to-earliest --blue-green``, the
   projector's batch handler and store in one process) into the empty Redis, its
   events/s; then Redis bytes per order and per history event (``bench.memory``);
4. the decider (catching up on the log), projector, command API and query API start;
   unmeasured commands warm the broker's JIT and the processes (``loadtests.warmup``);
5. idle: every process's CPU over ``idle_seconds`` with no load;
6. commands: ``POST /orders`` open loop at ``command_rate`` for ``command_seconds``, then
   until the API is quiet and the projection has caught up. CPU of each process over
   that window (``/proc/<pid>/stat`` utime + stime of it and its descendants, and
   cutime + cstime of those already reaped) divided by the commands answered 200/201:
   *gross* ms per command; minus the idle rate over the same window: *marginal* ms
   (what the capacity model uses). Each accepted PlaceOrder is one event, so the
   projector's figure is also per event;
7. reads: ``GET /orders/{id}`` of the generated orders at ``read_rate`` for
   ``read_seconds`` after a warm-up, the same way, per read answered 200;
8. storage: bytes of the ``.log`` segments of each topic's partition directories in the
   broker's data dir, per event (the generated log alone, and what the decider wrote
   since, its transactions' markers included; records counted by a read_committed
   consume) and per command.

The whole machine's busy cores over each window (``/proc/stat``) are recorded beside our
processes' so a busy neighbour shows. Costs are taken at a fixed, modest rate (150
commands/s loaded the two cores of the first run to about 1.7), so batches are small:
the per-unit costs of a busier process are likely lower, and the plan errs on the safe
side. Results: ``bench/results/capacity-<UTC stamp>.{json,md}`` and the processes' logs
beside them.

    python -m bench.capacity [--quick]          # quick: smaller, about 2-3 minutes
    python -m bench.capacity --report FILE.json  # the planning tables from a results file
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import capacitymodel, ceilings, machine, memory, replaying
from bench.capacitymodel import COMMAND_API, DECIDER, KAFKA, PROJECTOR, QUERY_API, REDIS, TIMES
from bench.datagen import EVENTS_PER_ORDER
from bench.drive import drive
from bench.env import Stack, python_json
from bench.health import wait_quiet
from bench.loadtests import _drain, warmup
from bench.run import generate
from bench.stats import served

RESULTS = Path(__file__).resolve().parent / "results"
FULL = {"orders": 40_000, "command_rate": 150.0, "command_seconds": 40.0,
        "read_rate": 1000.0, "read_seconds": 20.0, "idle_seconds": 10.0,
        "warmup_seconds": 60.0, "redis_requests": 200_000, "noop_seconds": 10.0,
        "workers": 64}  # fmt: skip
QUICK = {**FULL, "orders": 10_000, "command_rate": 100.0, "command_seconds": 15.0,
         "read_rate": 500.0, "read_seconds": 10.0, "idle_seconds": 5.0,
         "warmup_seconds": 30.0, "redis_requests": 50_000, "noop_seconds": 5.0}  # fmt: skip


# -- CPU from /proc ---------------------------------------------------------------------


def _stat(pid: str) -> tuple[int, int] | None:
    """(parent pid, utime + stime + cutime + cstime in ticks) of a process, or None."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    rest = text[text.rindex(")") + 2 :].split()  # from field 3 (state); comm may hold spaces
    return int(rest[1]), sum(int(x) for x in rest[11:15])


def process_cpu(roots: Mapping[str, int]) -> dict[str, float]:
    """CPU seconds so far of each root process with its descendants (an API's ops agent,
    a Redis rewrite child), from ``/proc/<pid>/stat``. A child reaped meanwhile is in
    its parent's cutime/cstime, so a difference of two samples counts it once."""
    parent, ticks = {}, {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (found := _stat(entry.name)) is not None:
            parent[int(entry.name)], ticks[int(entry.name)] = found
    children: dict[int, list[int]] = {}
    for pid, ppid in parent.items():
        children.setdefault(ppid, []).append(pid)
    per_second = os.sysconf("SC_CLK_TCK")
    out = {}
    for name, root in roots.items():
        if root not in ticks:
            raise RuntimeError(f"{name} (pid {root}) is not running")
        tree, total = [root], 0
        while tree:
            pid = tree.pop()
            total += ticks.get(pid, 0)
            tree += children.get(pid, [])
        out[name] = total / per_second
    return out


def machine_busy() -> tuple[float, float]:
    """CPU seconds the whole machine was busy (user, nice, system, irq, softirq) and
    stolen so far, from the first line of ``/proc/stat``."""
    values = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    per_second = os.sysconf("SC_CLK_TCK")
    busy = values[0] + values[1] + values[2] + values[5] + values[6]
    return busy / per_second, (values[7] if len(values) > 7 else 0) / per_second


def cpu_window(roots: Mapping[str, int], action: Callable[[], Any]) -> dict[str, Any]:
    """``action()`` with every root's CPU seconds, and the machine's, sampled around it."""
    before, (busy0, steal0), t0 = process_cpu(roots), machine_busy(), time.monotonic()
    result = action()
    after, (busy1, steal1), wall = process_cpu(roots), machine_busy(), time.monotonic() - t0
    cpu = {name: round(after[name] - before[name], 3) for name in roots}
    return {
        "wall_s": round(wall, 2),
        "cpu_s": cpu,
        "cores": {name: round(s / wall, 4) for name, s in cpu.items()},
        "machine_busy_cores": round((busy1 - busy0) / wall, 3),
        "machine_steal_cores": round((steal1 - steal0) / wall, 3),
        "result": result,
    }


def per_unit(window: dict[str, Any], idle_cores: Mapping[str, float], units: int) -> None:
    """Adds ``gross_ms`` and ``marginal_ms`` (minus the idle rate) per unit to ``window``."""
    wall, cpu = window["wall_s"], window["cpu_s"]
    window["units"] = units
    window["gross_ms"] = {n: round(s * 1000 / units, 4) if units else None for n, s in cpu.items()}
    window["marginal_ms"] = {
        n: round(max(0.0, s - idle_cores[n] * wall) * 1000 / units, 4) if units else None
        for n, s in cpu.items()
    }


def others(window: dict[str, Any]) -> None:
    """Adds ``other_cores``: the machine's busy cores minus ours and the load generator's
    (its own CPU over its run), i.e. what else ran on the machine meanwhile."""
    ours = sum(window["cores"].values())
    generator = sum(window["result"]["generator_cpu_percent"]) / 100
    window["generator_cores"] = round(generator, 3)
    window["other_cores"] = round(window["machine_busy_cores"] - ours - generator, 3)


# -- Kafka storage ----------------------------------------------------------------------


def topic_bytes(data_dir: Path, topic: str) -> dict[str, int]:
    """Bytes of the ``.log`` segments of ``topic``'s partition directories (the indexes
    are preallocated, so they are left out)."""
    pattern = re.compile(rf"{re.escape(topic)}-\d+")
    size = segments = partitions = 0
    for folder in data_dir.iterdir():
        if folder.is_dir() and pattern.fullmatch(folder.name):
            partitions += 1
            for log in folder.glob("*.log"):
                size += log.stat().st_size
                segments += 1
    return {"bytes": size, "segments": segments, "partitions": partitions}


def count_records(stack: Stack, topic: str) -> int:
    """Records of ``topic`` a read_committed reader sees (``bench.rawconsume``)."""
    args = ["--bootstrap", stack.kafka.bootstrap, "--topic", topic]
    return int(python_json("bench.rawconsume", args, timeout=700)["events"])


def _ratio(a: float, b: float) -> float | None:
    return round(a / b, 1) if b else None


# -- the run ----------------------------------------------------------------------------


def scenarios(stack: Stack, cfg: dict[str, Any], out: dict[str, Any]) -> None:
    assert stack.services is not None
    t0 = time.monotonic()

    def mark(phase: str) -> None:
        out["loadavg"][phase] = os.getloadavg()
        out["phase_starts_s"][phase] = round(time.monotonic() - t0, 1)

    data_dir = stack.kafka.workdir / "state" / "data"
    events_topic = stack.env["ORDERS_EVENTS_TOPIC"]
    commands_topic = stack.env["ORDERS_COMMANDS_TOPIC"]
    mark("data")
    out["data"] = generate(stack, cfg["orders"])
    mark("ceilings")
    consume = ceilings.kafka_consume(stack)
    generated = {**topic_bytes(data_dir, events_topic), "events": consume["events"]}
    out["ceilings"] = {
        "kafka_consume": consume,
        "redis": ceilings.redis_benchmark(stack, cfg["redis_requests"]),  # flushes Redis
        "http_noop": ceilings.noop_http(stack, cfg["noop_seconds"], [], cfg["workers"]),
    }
    mark("replay")
    client = stack.redis.client()
    before = memory.used_memory(client)
    out["replay"] = replaying.replay(stack)
    out["redis_memory"] = memory.redis_per_order(client, cfg["orders"], before)
    client.close()
    mark("services")
    services = stack.services
    decider = services("decider", timeout=600)  # ready once it has caught up on the log
    projector = services("projector", timeout=180)
    command, query = services("command-api"), services("query-api")
    roots = {COMMAND_API: command.pid, DECIDER: decider.pid, PROJECTOR: projector.pid,
             QUERY_API: query.pid, KAFKA: stack.kafka.pid, REDIS: stack.redis.pid}  # fmt: skip
    writer, reader = stack.tokens["writer"], stack.tokens["reader"]
    url, qurl = command.url(), query.url()

    def drain() -> float:
        return wait_quiet(url, "command_api") + _drain(query, reader)

    mark("warmup")
    out["warmup"] = warmup(url, "place", cfg["warmup_seconds"], writer, drain)
    mark("idle")
    idle = cpu_window(roots, lambda: time.sleep(cfg["idle_seconds"]))
    out["idle"] = idle
    mark("commands")

    def commands() -> dict[str, Any]:
        run = drive(url, "place", rate=cfg["command_rate"], seconds=cfg["command_seconds"],
                    token=writer)  # fmt: skip
        run["drain_s"] = drain()
        return run

    window = cpu_window(roots, commands)
    others(window)
    accepted = served(window["result"])
    per_unit(window, idle["cores"], accepted)
    window["accepted"] = accepted
    window["events"] = accepted  # one OrderPlaced per accepted PlaceOrder
    out["commands"] = window
    mark("reads")

    def settle() -> float:
        return wait_quiet(qurl, "query_api")

    out["read_warmup"] = warmup(qurl, "get", cfg["warmup_seconds"] / 3, reader, settle,
                                orders=cfg["orders"])  # fmt: skip

    def reads() -> dict[str, Any]:
        run = drive(qurl, "get", rate=cfg["read_rate"], seconds=cfg["read_seconds"],
                    orders=cfg["orders"], token=reader)  # fmt: skip
        run["settle_s"] = settle()
        return run

    window = cpu_window(roots, reads)
    others(window)
    per_unit(window, idle["cores"], served(window["result"]))
    out["reads"] = window
    mark("storage")
    total = {**topic_bytes(data_dir, events_topic), "events": count_records(stack, events_topic)}
    written = total["events"] - generated["events"]
    commands_log: dict[str, Any] = {**topic_bytes(data_dir, commands_topic),
                                    "records": count_records(stack, commands_topic)}  # fmt: skip
    commands_log["bytes_per_record"] = _ratio(commands_log["bytes"], commands_log["records"])
    out["kafka_storage"] = {
        "events": {
            "generated": {**generated,
                          "bytes_per_event": _ratio(generated["bytes"], generated["events"])},
            "decider": {"bytes": total["bytes"] - generated["bytes"], "events": written,
                        "bytes_per_event": _ratio(total["bytes"] - generated["bytes"], written)},
            "total": {**total, "bytes_per_event": _ratio(total["bytes"], total["events"])},
        },
        "commands": commands_log,
    }  # fmt: skip
    mark("end")


def _f(value: Any, digits: int = 2) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def measured_markdown(out: dict[str, Any]) -> str:
    """What was measured: per-process CPU per command and per read, the ceilings."""
    m, c, r = out["machine"], out["commands"], out["reads"]
    names = list(c["cpu_s"])
    ceil = out["ceilings"]
    redis = ceil["redis"]
    redis_shown = redis.get("missing") or (
        f"SET {_f(redis.get('set'), 0)}/s, GET {_f(redis.get('get'), 0)}/s (pipelined 16)"
    )
    loads = ", ".join(f"{k} {v[0]:.2f}" for k, v in out["loadavg"].items())
    cmd_run, read_run = c["result"], r["result"]
    lines = [
        f"## Capacity {out['timestamp']}{' (quick)' if out['quick'] else ''}",
        "",
        f"{m['cpus']} CPUs ({m['cpu_model']}), {m['memory_bytes'] / 2**30:.0f} GiB, "
        f"Python {m['python']}; took {out.get('duration_s', 0):.0f} s. 1-min load average: "
        f"{loads}. Stack: like {out['stack']['like']} (auth {out['stack']['auth']}, Redis AOF "
        f"{'on' if out['stack']['redis_aof'] else 'off'}, {out['stack']['partitions']} "
        "partitions).",
        "",
        f"Commands: `POST /orders` at {_f(cmd_run['offered_rate'], 0)}/s for "
        f"{out['config']['command_seconds']:g} s, {c['accepted']:,} answered 200/201 "
        f"(p99 {_f(cmd_run['p99_ms'], 1)} ms), window {c['wall_s']} s with the drain. "
        f"Reads: `GET /orders/{{id}}` at {_f(read_run['offered_rate'], 0)}/s for "
        f"{out['config']['read_seconds']:g} s, {r['units']:,} answered 200 (p99 "
        f"{_f(read_run['p99_ms'], 1)} ms). Idle window {out['idle']['wall_s']} s.",
        "",
        "| process | idle cores | ms CPU per command, gross / marginal | ms CPU per read, "
        "gross / marginal |",
        "|---|---|---|---|",
    ]
    for n in names:
        lines.append(
            f"| {n} | {out['idle']['cores'][n]:.3f} | {_f(c['gross_ms'][n], 3)} / "
            f"{_f(c['marginal_ms'][n], 3)} | {_f(r['gross_ms'][n], 3)} / "
            f"{_f(r['marginal_ms'][n], 3)} |"
        )
    ours_c, ours_r = sum(c["cores"].values()), sum(r["cores"].values())
    lines += [
        "",
        f"Whole machine busy: {c['machine_busy_cores']} cores during the commands (ours "
        f"{ours_c:.2f}, the generator {c['generator_cores']:.2f}, other load "
        f"{c['other_cores']:.2f}), {r['machine_busy_cores']} during the reads (ours "
        f"{ours_r:.2f}, the generator {r['generator_cores']:.2f}, other load "
        f"{r['other_cores']:.2f}), {out['idle']['machine_busy_cores']} in the idle window.",
        "",
        "| ceiling (same run) | figure |",
        "|---|---|",
        f"| no-op HTTP max (FastAPI/uvicorn, closed loop) | "
        f"{_f(ceil['http_noop']['max_rate'], 0)}/s |",
        f"| raw consume (kafka-python) | {_f(ceil['kafka_consume']['rate'], 0)} events/s |",
        f"| redis-benchmark | {redis_shown} |",
        f"| replay (`orders replay --blue-green`) | {_f(out['replay']['rate'], 0)} events/s "
        f"({_f(out['replay']['rate'] / ceil['kafka_consume']['rate'], 3)} {TIMES} raw consume) |",
        "",
        "| Kafka storage | bytes | records | bytes per record |",
        "|---|---|---|---|",
    ]
    ks = out["kafka_storage"]
    for label, part in (("events: generated log (bench.datagen mix)", ks["events"]["generated"]),
                        ("events: written by the decider (OrderPlaced)", ks["events"]["decider"]),
                        ("events: whole topic", ks["events"]["total"])):  # fmt: skip
        lines.append(f"| {label} | {part['bytes']:,} | {part['events']:,} | "
                     f"{_f(part['bytes_per_event'], 1)} |")  # fmt: skip
    cl = ks["commands"]
    lines.append(f"| commands | {cl['bytes']:,} | {cl['records']:,} | "
                 f"{_f(cl['bytes_per_record'], 1)} |")  # fmt: skip
    mem = out["redis_memory"]
    lines += [
        "",
        f"Redis (after the replay of {out['data']['orders']:,} orders, {EVENTS_PER_ORDER} events "
        f"each): {_f(mem['view_and_indexes_per_order'], 1)} B view + indexes per order, "
        f"{_f(mem['history_bytes_per_event'], 1)} B history per event, "
        f"{_f(mem['per_order_total_bytes'], 1)} B per order in all (used_memory).",
    ]
    return "\n".join(lines) + "\n"


def report(out: dict[str, Any], a: capacitymodel.Assumptions) -> str:
    """The planning tables of a results document (what docs/scaling.md shows)."""
    costs = capacitymodel.from_results(out)
    smoke = " (quick run)" if out.get("quick") else ""
    head = f"## Capacity plan from {out['timestamp']}{smoke}\n\n"
    return head + capacitymodel.markdown(costs, a)


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt  # SIGTERM ends the run like Ctrl-C: through the finally


def assumption_arguments(parser: argparse.ArgumentParser) -> None:
    """One option per ``Assumptions`` field (``--commands-per-order 3`` ...)."""
    for f in fields(capacitymodel.Assumptions):
        default = getattr(capacitymodel.Assumptions(), f.name)
        kind = int if isinstance(default, int) or f.name == "partitions" else float
        parser.add_argument(f"--{f.name.replace('_', '-')}", type=kind, default=default,
                            help=f"model assumption (default {default})")  # fmt: skip


def measure(quick: bool) -> int:
    cfg = dict(QUICK if quick else FULL)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out: dict[str, Any] = {"timestamp": stamp, "quick": quick, "config": cfg,
                           "machine": machine.describe(), "loadavg": {}, "phase_starts_s": {},
                           "events_per_order_generated": EVENTS_PER_ORDER}  # fmt: skip
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
        if ok:
            RESULTS.mkdir(exist_ok=True)
            logs = RESULTS / f"capacity-{stamp}-logs"
            shutil.copytree(stack.tmp / "logs", logs, dirs_exist_ok=True)
            shutil.rmtree(stack.tmp, ignore_errors=True)
        else:
            print(f"capacity bench failed; logs kept in {stack.tmp}", file=sys.stderr)
    out["duration_s"] = round(time.monotonic() - started, 1)
    path = RESULTS / f"capacity-{stamp}.json"
    path.write_text(json.dumps(out, indent=1, default=str))
    summary = measured_markdown(out) + "\n" + report(out, capacitymodel.Assumptions())
    (RESULTS / f"capacity-{stamp}.md").write_text(summary)
    print(summary)
    print(f"results: {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller and shorter")
    parser.add_argument("--report", type=Path, help="print the planning tables of a results file")
    assumption_arguments(parser)
    args = parser.parse_args(argv)
    if args.report is None:
        return measure(args.quick)
    names = [f.name for f in fields(capacitymodel.Assumptions)]
    a = capacitymodel.Assumptions(**{n: getattr(args, n) for n in names})
    print(report(json.loads(args.report.read_text()), a))
    return 0


if __name__ == "__main__":
    sys.exit(main())
