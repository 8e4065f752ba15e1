"""One fault experiment: stack up, load on, fault in, recover, check, report a row.

In the spirit of Kafka's produce-consume-validate system tests: the load records what
every client was told (``History``), the fault happens in between, and the validation
reads the event log (read_committed) and the views afterwards, and porcupine checks that
each order's history, as the clients saw it, is linearizable (``linearizability``). The
row is reported *before* anything is asserted, so a failing run still shows its numbers.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from ordersource.auth import ANONYMOUS, Principal
from projector.ops.verify import Difference, verify
from tests.support.eventlog import assert_contiguous, read_log
from tests.support.history import check
from tests.support.linearizability import check_linearizable
from tests.support.load import CommandLoad
from tests.support.pending import undecided_202s
from tests.support.probe import ReadProbe
from tests.support.read_side import settings_from
from tests.support.services import ServiceProcess, Services
from tests.support.waiting import wait_until

STACK = ("decider", "command-api", "projector", "query-api")
# A crashed decider's partitions move after 6 s (the minimum the settings allow).
TUNING = {"ORDERS_DECIDER_SESSION_TIMEOUT_MS": "6000"}
Record = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class Targets:
    """Where a run's load and read probe go: several APIs take turns; the headers carry
    the bearer tokens when the APIs check them."""

    command_urls: Sequence[str]
    query_urls: Sequence[str]
    writer_headers: Mapping[str, str] = field(default_factory=dict)
    reader_headers: Mapping[str, str] = field(default_factory=dict)
    writer: Principal = ANONYMOUS
    """Who the writer's token is (its keys, and so its command ids, are scoped to it)."""


settings_for = settings_from
"""The Settings a service started with ``env`` sees (``tests.support.read_side``)."""


class FaultRun:
    def __init__(
        self,
        name: str,
        env: Mapping[str, str],
        services: Services,
        record: Record,
        load: Mapping[str, Any] | None = None,
        targets: Targets | None = None,
    ):
        """``load``: options of the background ``CommandLoad`` (its price, quantities …);
        ``targets``: the APIs to load and probe when they are not this run's own
        processes (default: the ports in ``env``)."""
        self.name, self.env, self.services, self.record = name, dict(env), services, record
        self.procs: dict[str, ServiceProcess] = {}
        self.command_url = f"http://127.0.0.1:{env['ORDERS_COMMAND_API_PORT']}"
        query_url = f"http://127.0.0.1:{env['ORDERS_QUERY_API_PORT']}"
        self.targets = targets = targets or Targets([self.command_url], [query_url])
        self.load = CommandLoad(
            targets.command_urls,
            headers=targets.writer_headers,
            principal=targets.writer,
            **(load or {}),
        )
        self.probe = ReadProbe(
            targets.query_urls, self.load.history, headers=targets.reader_headers
        )
        self.t_fault = self.t_recovered = self.clean_at = 0.0
        self.poison: set[tuple[int, int]] = set()
        """(partition, offset) of records the test wrote to the events topic itself."""

    def start(self, warmup_acks: int = 100) -> FaultRun:
        """All four processes (started together, then awaited), then the load."""
        for name in STACK:
            self.procs[name] = self.services(name, env=TUNING, wait=False)
        for proc in self.procs.values():
            proc.wait_http_ok(proc.url("/readyz"), timeout=90)
        return self.begin(warmup_acks)

    def begin(self, warmup_acks: int = 100) -> FaultRun:
        """The load and the read probe, on processes that already run."""
        self.load.start()
        self.probe.start()
        self.wait_acks(warmup_acks, since=0.0, timeout=60, what="load never got going")
        return self

    def restart(self, name: str, **env: str) -> ServiceProcess:
        self.procs[name] = self.services(name, env={**TUNING, **env}, timeout=120)
        return self.procs[name]

    def hold(self, seconds: float) -> None:
        """The planned length of a fault (not a wait for a condition)."""
        threading.Event().wait(seconds)

    @contextlib.contextmanager
    def fault(self) -> Iterator[None]:
        """Times the fault: injected on entry, recovery action done on exit."""
        self.t_fault = time.monotonic()
        yield
        self.t_recovered = time.monotonic()

    def wait_acks(self, count: int, since: float, timeout: float, what: str) -> None:
        try:
            wait_until(
                lambda: len(self.load.history.acks(since)) >= count or not self.load.running,
                timeout,
                interval=0.1,
                message=what,
            )
            assert len(self.load.history.acks(since)) >= count, f"{what} (load ended)"
        except AssertionError:
            # A stall: have every live process write its thread stacks to its log, which
            # the fixture prints for a failed test.
            for proc in self.procs.values():
                proc.dump_stacks()
            raise

    def finish(
        self,
        after_recovery_acks: int = 100,
        clean_timeout: float = 120.0,
        violations: list[str] | None = None,
    ) -> None:
        """Validate and report; ``violations`` found earlier by the test join the row."""
        violations = list(violations or [])
        try:  # no stall: commands sent after the recovery get acknowledged, by themselves
            self.wait_acks(after_recovery_acks, self.t_recovered, 90, "no acks after recovery")
        except AssertionError as exc:
            violations.append(str(exc))
        self.close()
        self._dump_history()
        broken = undecided_202s(
            self.load.history.ops, self.env, headers=self.targets.writer_headers
        )
        violations += [f"202 but never decided: {op.key} {op.attempts}" for op in broken]
        checked = check(self.load.history.ops, logged := read_log(self.env, skip=self.poison))
        violations += checked.violations
        try:
            assert_contiguous(logged)
        except AssertionError as exc:
            violations.append(f"G2 versions not contiguous: {exc}")
        try:  # per order: place, If-Match modifies (CAS), pays; output next to the logs
            check_linearizable(self.load.history, self.services.log_dir / "linearizability")
        except AssertionError as exc:
            violations.append(f"per-order linearizability (porcupine): {exc}")
        load_end = time.monotonic()
        diffs = self._wait_clean(clean_timeout)
        if diffs:
            violations.append(f"G5 views differ from the log after {clean_timeout:g}s: {diffs[:3]}")
        self.record(self._row(checked.counts, load_end, violations))
        assert not violations, "\n".join(violations[:20])

    def close(self) -> None:
        """Stop the load and the probe (idempotent; also called at teardown)."""
        if self.load.running:
            self.load.stop()
        self.probe.stop()

    def _dump_history(self) -> None:
        """history.jsonl next to the service logs: what every client saw, for post-mortems."""
        path = self.services.log_dir / "history.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        origin = self.t_fault
        with path.open("w") as out:
            for op in self.load.history.ops:
                at = [(round(s - origin, 3), round(d - origin, 3), x) for s, d, x in op.attempts]
                row = {**asdict(op), "attempts": at, "sent": round(op.sent - origin, 3)}
                out.write(json.dumps(row) + "\n")

    def _wait_clean(self, timeout: float) -> list[Difference]:
        settings, last = settings_for(self.env), [Difference("none", "-", None, None)]

        def clean() -> bool:
            last[:] = verify(settings)
            return not last

        with contextlib.suppress(AssertionError):
            wait_until(clean, timeout, interval=0.5)
        self.clean_at = time.monotonic()
        return last

    def _row(
        self, counts: Mapping[str, int], load_end: float, violations: list[str]
    ) -> dict[str, Any]:
        def since(at: float | None, origin: float) -> float | None:
            return None if at is None else round(at - origin, 1)

        history = self.load.history
        return {
            "fault": self.name,
            **{k: counts.get(k, 0) for k in ("sent", "retried", "acknowledged", "rejected")},
            **{k: counts.get(k, 0) for k in ("unavailable", "unknown", "in_log", "absent")},
            **{k: counts.get(k, 0) for k in ("lost", "duplicated")},
            "write_s": since(history.first_ack_after(self.t_fault), self.t_fault),
            "read_s": since(self.probe.first_read_after(self.t_fault), self.t_fault),
            "clean_s": since(self.clean_at, load_end),
            "fault_s": round(self.t_recovered - self.t_fault, 1),
            "ok": not violations,
        }


MakeRun = Callable[..., FaultRun]
"""``fault_run(name, env, load=None, targets=None)``: the fixture that builds runs on an
environment."""
