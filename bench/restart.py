"""``make bench-restart``: how fast the decider is back after ``kill -9``, with 1M and 10M
events in the log, against the raw consume ceiling measured in the same run.

For each log size, on a fresh ``bench.env.Stack`` (own Kafka, Redis and processes on free
ports, configured like ``make run``: auth on, default decider settings, 6 partitions):

1. fill: ``orders.events`` gets N events (N/5 orders) through ``bench.fastgen`` (Kafka's
   console producer fed codec-encoded templates); its rate is reported;
2. ceiling: ``bench.rawconsume`` reads the whole log (kafka-python, read_committed, no
   decoding), before any project process runs;
3. cold start: the decider over the full log, no local state, no snapshot: seconds to
   ``/readyz`` 200, catch-up rate from its "partition N caught up" lines, VmRSS/VmHWM;
   then one PayOrder on the log's last open order (If-Match its version) must be
   accepted — the generated log was folded right;
4. snapshots: waits until every partition's snapshot covers the log (its "snapshot ...
   at events offset" lines; ``orders_decider_snapshots_written_total`` is recorded);
5. restart, 5 times (their median: a start-up alone varies by ±0.3 s): ``kill -9``, start
   again on the same disk; seconds from the start to ``/readyz`` 200, and to the verdict
   of a PlaceOrder POSTed at the start (201 at once, or 202 and ``GET /commands/{id}``
   polled every 20 ms);
6. fresh disk: ``kill -9``, the decider's state dir deleted, started again: restored
   from the Kafka snapshots plus the log's tail (the "restored from snapshot" lines);
7. tail: SIGTERM, 300k more events appended, started again (local state): the catch-up
   rate of the tail against the ceiling; then ``kill -9``, state dir deleted, started
   again: the snapshot (from before the tail) restored and the tail folded on top.

Differs from ``make run`` only where the sizes need it: the log is written by the console
producer (not transactional, see ``bench.fastgen``), and when a partition holds fewer
events than ``ORDERS_DECIDER_SNAPSHOT_EVERY_EVENTS`` (small ``--events``), that is lowered
so the snapshots of step 4 are written at once (recorded as ``decider_env``).

    python -m bench.restart [--events 1000000 10000000] [--quick]

``--quick``: 100k and 300k events, a 30k tail (a few minutes). Results:
``bench/results/restart-<UTC stamp>.{json,md}``, the processes' logs beside them.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import signal
import statistics
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from bench import ceilings, fastgen, machine
from bench.coldstart import catch_up_window
from bench.datagen import EVENTS_PER_ORDER, order_id
from bench.env import PARTITIONS, Stack, proc_status
from ordersource.settings import Settings
from tests.support.net import http_status
from tests.support.services import ServiceProcess

RESULTS = Path(__file__).resolve().parent / "results"
FULL_SIZES = [1_000_000, 10_000_000]
QUICK_SIZES = [100_000, 300_000]
TAIL_EVENTS, QUICK_TAIL_EVENTS = 300_000, 30_000
RESTARTS = 5
POLL_S = 0.02
COLD_TIMEOUT_S = 3600.0
RESTART_TIMEOUT_S = 900.0
SNAPSHOT_TIMEOUT_S = 900.0
MIB = 1024 * 1024
TARGETS = {"restart_s": 5.0, "growth": 1.2, "rss_mib": 300, "tail_to_raw": 0.8}

SNAPSHOT_LINE = re.compile(r"partition (\d+): snapshot (\S+) at events offset (\d+) \((\d+) bytes")
RESTORED_LINE = re.compile(r"partition \d+: state restored from snapshot .*")
LOG_STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ")
PHASE_MARKERS = {"assigned": "] assigned", "snapshot_checked": "not newer than the local",
                 "restored": "restored snapshot", "caught_up": " caught up: "}  # fmt: skip
"""Log lines of a start's phases: the first "assigned", the last of the others."""
TROUBLE_LINE = re.compile(r".* (ERROR|CRITICAL) .*|.*(unreadable|snapshot ignored|Traceback).*")


class Run:
    """One log size on its own stack: the decider's starts, and what each one showed."""

    def __init__(self, stack: Stack, decider_env: dict[str, str]) -> None:
        assert stack.services is not None
        self.stack, self.services, self.decider_env = stack, stack.services, decider_env
        self.api = self.services("command-api")
        self.auth = {"Authorization": f"Bearer {stack.tokens['writer']}"}
        self.decider: ServiceProcess | None = None
        self.state_root = Path(stack.env["ORDERS_STATE_DIR"])

    # -- the decider's lives ------------------------------------------------------------
    def start(self, *, with_command: bool) -> dict[str, Any]:
        """Start the decider; seconds to ready (and to a PlaceOrder's verdict), its RSS,
        and its catch-up as logged before it was ready."""
        verdict: dict[str, Any] = {}
        started, spawned_at = time.perf_counter(), time.time()
        self.decider = proc = self.services("decider", env=self.decider_env, wait=False)
        poster = threading.Thread(target=self._place, args=(started, verdict), daemon=True)
        if with_command:
            poster.start()
        ready_s = self._wait_ready(proc, started)
        ready_at = time.time()
        status = proc_status(proc.pid)
        if with_command:
            poster.join(RESTART_TIMEOUT_S)
            if "decided_s" not in verdict:
                raise RuntimeError(f"no verdict for the PlaceOrder: {verdict}\n{proc.tail()}")
        log = proc.log_path.read_text(errors="replace")
        events, window, lines = catch_up_window(log, ready_at)
        found: dict[str, Any] = {
            "log": proc.log_path.name,
            "ready_s": round(ready_s, 3),
            "catchup_events": events,
            "catchup_lines": lines,
            "catchup_s": round(window, 2),
            "catchup_rate": round(events / window) if window else None,
            "rss_bytes": status["VmRSS"],
            "hwm_bytes": status["VmHWM"],
            "phases_s": phases(log, spawned_at),
            "restored": RESTORED_LINE.findall(log),
            "trouble": [m.group(0) for m in TROUBLE_LINE.finditer(log)][:5],
        }
        if with_command:
            found |= verdict
            found["restart_s"] = round(max(ready_s, verdict["decided_s"]), 3)
        return found

    def _wait_ready(self, proc: ServiceProcess, started: float) -> float:
        url, deadline = proc.url("/readyz"), started + COLD_TIMEOUT_S
        while http_status(url, timeout=1.0) != 200:
            if not proc.alive or time.perf_counter() > deadline:
                raise RuntimeError(f"decider not ready (exit {proc.returncode}):\n{proc.tail(80)}")
            time.sleep(POLL_S)
        return time.perf_counter() - started

    def _place(self, started: float, out: dict[str, Any]) -> None:
        """POST a new order at once; when its verdict is known, seconds since ``started``."""
        body = {"order_id": f"restart-{uuid.uuid4().hex[:12]}", "customer_id": "bench",
                "currency": "EUR", "items": [{"sku": "apple", "quantity": 1,
                                              "unit_price_cents": 120}]}  # fmt: skip
        deadline = started + RESTART_TIMEOUT_S
        try:
            with httpx.Client(base_url=self.api.url(), headers=self.auth, timeout=30) as http:
                reply = http.post("/orders", json=body)
                out["post_status"] = reply.status_code
                if reply.status_code == 202:
                    location = f"/commands/{reply.json()['command_id']}"
                    while (reply := http.get(location)).json()["status"] == "pending":
                        if time.perf_counter() > deadline:
                            raise TimeoutError(f"{location} still pending")
                        time.sleep(POLL_S)
                    out["verdict"] = reply.json()["status"]
                elif reply.status_code == 201:
                    out["verdict"] = "accepted"
                else:
                    out["verdict"] = f"HTTP {reply.status_code}: {reply.text[:300]}"
                out["decided_s"] = round(time.perf_counter() - started, 3)
        except (httpx.HTTPError, TimeoutError, KeyError, ValueError) as exc:
            out["error"] = repr(exc)

    def kill(self) -> dict[str, int]:
        """``kill -9``; the process's VmRSS and VmHWM just before."""
        assert self.decider is not None
        last = proc_status(self.decider.pid)
        self.decider.kill()
        return last

    def stop(self) -> None:
        assert self.decider is not None
        self.decider.terminate()

    def wipe_state(self) -> int:
        """Delete the decider's state dir(s); the bytes they held."""
        size = 0
        for folder in self.state_root.glob("decider-*"):
            size += sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
            shutil.rmtree(folder)
        return size

    def state_bytes(self) -> int:
        return sum(f.stat().st_size for f in self.state_root.glob("decider-*/**/*") if f.is_file())

    # -- checks -----------------------------------------------------------------------
    def pay_last_open(self, orders: int) -> dict[str, Any]:
        """Pay the log's last "placed" order (fate 3: five versions, quantity 5); accepted
        with version 6 only if the decider folded the generated log as written."""
        n = max(k for k in range(max(0, orders - 4), orders) if k % 4 == 3)
        body = {"amount_cents": 5 * 120, "payment_ref": "bench-check"}
        headers = {**self.auth, "If-Match": '"5"'}
        with httpx.Client(base_url=self.api.url(), timeout=30) as http:
            reply = http.post(f"/orders/{order_id(n)}/pay", json=body, headers=headers)
        found = {"order": order_id(n), "status": reply.status_code, "body": reply.json()}
        found["ok"] = reply.status_code == 200 and found["body"].get("version") == 6
        return found

    def wait_snapshots(self, ends: dict[int, int]) -> dict[str, Any]:
        """Until every partition has a snapshot at (or past) its end offset ``ends``."""
        assert self.decider is not None
        started, latest = time.perf_counter(), dict.fromkeys(ends, -1)
        sizes: dict[int, int] = {}
        while any(latest[p] < end for p, end in ends.items()):
            if time.perf_counter() - started > SNAPSHOT_TIMEOUT_S or not self.decider.alive:
                raise RuntimeError(f"snapshots {latest}, log ends {ends}\n{self.decider.tail()}")
            time.sleep(0.5)
            for part, _, offset, size in SNAPSHOT_LINE.findall(self.decider.log_path.read_text()):
                if int(offset) > latest[int(part)]:
                    latest[int(part)], sizes[int(part)] = int(offset), int(size)
        return {
            "waited_s": round(time.perf_counter() - started, 1),
            "offsets": latest,
            "bytes": sum(sizes.values()),
            "written_total": self._metric("orders_decider_snapshots_written_total"),
        }

    def _metric(self, name: str) -> float | None:
        assert self.decider is not None
        text = httpx.get(self.decider.url("/metrics"), timeout=5).text
        found = re.search(rf"^{name} ([\d.e+]+)$", text, re.MULTILINE)
        return float(found.group(1)) if found else None


def phases(log: str, spawned_at: float) -> dict[str, float]:
    """Seconds from the process's start to its first log line, to its assignment, to its
    last snapshot check (``latest`` header read: restored or not newer) and to its last
    partition caught up, from the log's own timestamps (1 ms)."""
    found: dict[str, float] = {}
    for line in log.splitlines():
        stamp = LOG_STAMP.match(line)
        if stamp is None:
            continue
        at = datetime.strptime(stamp.group(1), "%Y-%m-%d %H:%M:%S,%f").timestamp() - spawned_at
        found.setdefault("first_line", at)
        for phase, marker in PHASE_MARKERS.items():
            first_only = phase == "assigned" and phase in found
            if marker in line and not first_only:
                found[phase] = at
    return {k: round(v, 3) for k, v in found.items()}


def decider_env(events: int) -> dict[str, str]:
    """Like ``make run``, but snapshots at once when partitions are smaller than the
    default snapshot interval (small ``--events`` only)."""
    per_partition = events // PARTITIONS
    default = Settings.model_fields["decider_snapshot_every_events"].default
    if per_partition >= default:
        return {}
    return {"ORDERS_DECIDER_SNAPSHOT_EVERY_EVENTS": str(max(100, per_partition // 2))}


def one_size(stack: Stack, events: int, tail: int, log: Any) -> dict[str, Any]:
    orders = events // EVENTS_PER_ORDER
    topic = stack.env["ORDERS_EVENTS_TOPIC"]
    out: dict[str, Any] = {"events": events, "orders": orders, "decider_env": decider_env(events)}
    log(f"fill {events} events")
    out["fill"] = fastgen.produce(stack.kafka.bootstrap, topic, 0, orders)
    log(f"fill: {out['fill']['rate']} events/s; raw consume")
    out["raw_consume"] = ceilings.kafka_consume(stack)
    raw_rate = out["raw_consume"]["rate"]
    run = Run(stack, out["decider_env"])
    log(f"raw consume: {raw_rate:.0f} events/s; cold start")
    out["cold"] = run.start(with_command=False)
    out["cold"]["rate_to_raw"] = _ratio(out["cold"]["catchup_rate"], raw_rate)
    log(f"cold: ready in {out['cold']['ready_s']} s")
    # The log as filled (the check's transaction adds an event and a commit marker).
    ends = {int(p): n for p, n in out["fill"]["per_partition"].items()}
    out["check_pay"] = run.pay_last_open(orders)
    out["snapshots"] = run.wait_snapshots(ends)
    out["cold"]["at_kill"] = run.kill()
    out["state_bytes"] = run.state_bytes()
    log(f"snapshots: {out['snapshots']}; restarts")
    restarts = []
    for i in range(RESTARTS):
        restarts.append(run.start(with_command=True))
        log(f"restart {i + 1}: {restarts[-1]['ready_s']} s ready, {restarts[-1]['decided_s']} s")
        restarts[-1]["at_kill"] = run.kill()
    out["restarts"] = restarts
    out["restart_median"] = {
        key: round(statistics.median(r[key] for r in restarts), 3)
        for key in ("ready_s", "decided_s", "restart_s")
    }
    out["fresh_disk_deleted_bytes"] = run.wipe_state()
    out["fresh_disk"] = run.start(with_command=True)
    log(f"fresh disk: {out['fresh_disk']['ready_s']} s; tail of {tail}")
    run.stop()
    out["tail_fill"] = fastgen.produce(stack.kafka.bootstrap, topic, orders, tail // 5)
    out["tail"] = run.start(with_command=False)
    out["tail"]["rate_to_raw"] = _ratio(out["tail"]["catchup_rate"], raw_rate)
    run.kill()
    run.wipe_state()
    out["fresh_disk_tail"] = run.start(with_command=False)
    out["fresh_disk_tail"]["rate_to_raw"] = _ratio(out["fresh_disk_tail"]["catchup_rate"], raw_rate)
    log(f"tail: {out['tail']['catchup_rate']} events/s; fresh disk + tail: "
        f"{out['fresh_disk_tail']['catchup_rate']} events/s")  # fmt: skip
    run.stop()
    return out


def _ratio(value: float | None, ceiling: float) -> float | None:
    return round(value / ceiling, 3) if value and ceiling else None


def targets(sizes: list[dict[str, Any]]) -> dict[str, Any]:
    """The issue's targets, on the figures of the smallest and the largest size."""
    if not sizes:
        return {}
    small, big = sizes[0], sizes[-1]
    restart = big["restart_median"]["restart_s"]
    rss = max(s["cold"]["rss_bytes"] for s in sizes) / MIB
    tail = min(s["tail"]["rate_to_raw"] or 0.0 for s in sizes)
    growth = restart / small["restart_median"]["restart_s"]
    return {
        f"restart at {big['events']} <= {TARGETS['restart_s']} s": [restart, restart <= 5.0],
        f"restart at {big['events']} <= 1.2 x at {small['events']}": [
            round(growth, 2),
            growth <= TARGETS["growth"],
        ],
        f"decider RSS <= {TARGETS['rss_mib']} MiB (largest, at {big['orders']} orders)": [
            round(rss),
            rss <= TARGETS["rss_mib"],
        ],
        f"tail catch-up >= {TARGETS['tail_to_raw']} x raw consume (worst)": [
            tail,
            tail >= TARGETS["tail_to_raw"],
        ],
    }


def markdown(out: dict[str, Any]) -> str:
    m = out["machine"]
    lines = [
        f"# Decider restart bench {out['timestamp']}",
        "",
        f"{m['cpus']} CPUs ({m['cpu_model']}), {m['memory_bytes'] / 2**30:.1f} GiB, "
        f"Python {m['python']}, kernel {m['kernel']}; stack: {out['stack']}. "
        "Rates in events/s; x raw = against the raw consume of the same run.",
        "",
        "| log | fill | raw consume | cold ready | cold catch-up | RSS / HWM MiB "
        f"| restart ready ({RESTARTS}) | first verdict ({RESTARTS}) | fresh disk ready "
        "| tail catch-up | fresh disk + tail |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in out["sizes"]:
        cold, fresh, tail, ftail = s["cold"], s["fresh_disk"], s["tail"], s["fresh_disk_tail"]
        readies = " ".join(f"{r['ready_s']:.2f}" for r in s["restarts"])
        verdicts = " ".join(f"{r['decided_s']:.2f}" for r in s["restarts"])
        med = s["restart_median"]
        lines.append(
            f"| {s['events']:,} ev ({s['orders']:,} orders) | {s['fill']['rate']:,} "
            f"| {s['raw_consume']['rate']:,.0f} | {cold['ready_s']:.1f} s "
            f"| {cold['catchup_rate'] or 0:,} ({cold['rate_to_raw']}x raw) "
            f"| {cold['rss_bytes'] / MIB:.0f} / {cold['at_kill']['VmHWM'] / MIB:.0f} "
            f"| {readies} (median {med['ready_s']:.2f}) s "
            f"| {verdicts} (median {med['decided_s']:.2f}) s "
            f"| {fresh['ready_s']:.2f} s, verdict {fresh['decided_s']:.2f} s, "
            f"{len(fresh['restored'])} restored "
            f"| {tail['catchup_events']:,} ev: {tail['catchup_rate'] or 0:,} "
            f"({tail['rate_to_raw']}x raw), ready {tail['ready_s']:.1f} s "
            f"| {ftail['catchup_events']:,} ev: {ftail['catchup_rate'] or 0:,} "
            f"({ftail['rate_to_raw']}x raw), ready {ftail['ready_s']:.1f} s |"
        )
    lines += ["", "| target | figure | met |", "|---|---|---|"]
    for name, (figure, met) in out["targets"].items():
        lines.append(f"| {name} | {figure} | {'yes' if met else '**no**'} |")
    lines += ["", "Snapshots (bytes, all partitions), local state, checks:", ""]
    for s in out["sizes"]:
        restored = s["fresh_disk"]["restored"][:1]
        lines.append(
            f"- {s['events']:,}: snapshots {s['snapshots']['bytes'] / MIB:.1f} MiB "
            f"(waited {s['snapshots']['waited_s']} s after ready), local state "
            f"{s['state_bytes'] / MIB:.1f} MiB; pay of {s['check_pay']['order']}: "
            f"{s['check_pay']['status']}; fresh disk log: `{restored[0] if restored else '-'}`"
        )
        lines.append(
            f"  - phases, s from process start (last restart): {s['restarts'][-1]['phases_s']}; "
            f"fresh disk: {s['fresh_disk']['phases_s']}"
        )
        trouble = [t for k in ("cold", "fresh_disk", "tail") for t in s[k]["trouble"]]
        if trouble:
            lines.append(f"  - log trouble: {trouble[:3]}")
    return "\n".join(lines) + "\n"


def _interrupt(*_: object) -> None:
    raise KeyboardInterrupt


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, nargs="+", help="log sizes (default 1M 10M)")
    parser.add_argument("--quick", action="store_true", help="100k and 300k, a 30k tail")
    parser.add_argument("--tail", type=int, help="events appended for the tail catch-up")
    args = parser.parse_args()
    sizes = args.events or (QUICK_SIZES if args.quick else FULL_SIZES)
    tail = args.tail or (QUICK_TAIL_EVENTS if args.quick else TAIL_EVENTS)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out: dict[str, Any] = {"timestamp": stamp, "machine": machine.describe(),
                           "config": {"sizes": sizes, "tail": tail, "restarts": RESTARTS},
                           "sizes": []}  # fmt: skip
    signal.signal(signal.SIGTERM, _interrupt)
    started = time.monotonic()

    def log(message: str) -> None:
        print(f"[{time.monotonic() - started:7.1f}s] {message}", file=sys.stderr, flush=True)

    RESULTS.mkdir(exist_ok=True)
    for events in sorted(sizes):
        stack = Stack()
        out["stack"] = stack.describe()
        ok = False
        try:
            stack.start()
            out["sizes"].append(one_size(stack, events, tail, log))
            ok = True
        finally:
            stack.close()
            if ok:
                logs = RESULTS / f"restart-{stamp}-logs" / str(events)
                shutil.copytree(stack.tmp / "logs", logs, dirs_exist_ok=True)
                shutil.rmtree(stack.tmp, ignore_errors=True)
            else:
                print(f"bench failed; logs kept in {stack.tmp}", file=sys.stderr)
            out["duration_s"] = round(time.monotonic() - started, 1)
            (RESULTS / f"restart-{stamp}.json").write_text(json.dumps(out, indent=1))
    out["targets"] = targets(out["sizes"])
    (RESULTS / f"restart-{stamp}.json").write_text(json.dumps(out, indent=1))
    summary = markdown(out)
    (RESULTS / f"restart-{stamp}.md").write_text(summary)
    print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
