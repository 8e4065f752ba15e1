"""Percentiles and the merge of several load-generator processes' raw results."""

from __future__ import annotations

from collections import Counter
from typing import Any


def percentile(values: list[float], p: float) -> float | None:
    """Nearest-rank percentile of ``values`` (None when empty)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(p / 100 * len(ordered) + 0.5) - 1))
    return round(ordered[rank], 2)


def latency_summary(values: list[float], prefix: str = "") -> dict[str, float | None]:
    return {
        f"{prefix}p50_ms": percentile(values, 50),
        f"{prefix}p95_ms": percentile(values, 95),
        f"{prefix}p99_ms": percentile(values, 99),
        f"{prefix}p999_ms": percentile(values, 99.9),
    }


def merge(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """One summary from the raw results of generator processes that ran side by side."""
    latencies = [x for p in parts for x in p["latencies_ms"]]
    admitted = [x for p in parts for x in p.get("ok_latencies_ms", [])]
    visible = [x for p in parts for x in p["visible_ms"]]
    slips = [x for p in parts for x in p["slip_ms"]]
    statuses: Counter[str] = Counter()
    for p in parts:
        statuses.update({str(k): v for k, v in p["statuses"].items()})
    elapsed = max(p["elapsed_s"] for p in parts)
    ok = sum(v for k, v in statuses.items() if k.startswith("2") and k != "202")
    good = statuses.get("200", 0) + statuses.get("201", 0)
    requests = sum(p["sent"] for p in parts)
    window = max(p["send_s"] for p in parts)
    shed = statuses.get("503", 0) + statuses.get("429", 0)
    timeouts = sum(p["timeouts"] for p in parts)
    transport = sum(p["transport_errors"] for p in parts)
    return {
        "offered_rate": sum(p["rate"] for p in parts),
        "generator_processes": len(parts),
        "requests": requests,
        "achieved_rate": round(ok / elapsed, 1) if elapsed else 0.0,
        # Per second of the schedule (as vegeta's), not of the wait for the last answers.
        "goodput": round(good / window, 1) if window else 0.0,
        "ok_ratio": round(good / requests, 5) if requests else 0.0,
        "send_rate": round(requests / window, 1) if window else 0.0,
        **latency_summary(latencies),
        **latency_summary(admitted, "ok_"),
        "statuses": dict(statuses),
        "errors_non_2xx": sum(v for k, v in statuses.items() if not k.startswith("2")),
        "late_202": statuses.get("202", 0),
        "shed": shed,
        "shed_ratio": round(shed / requests, 4) if requests else 0.0,
        "timeouts": timeouts,
        "transport_errors": transport,
        "schedule_slip_p99_ms": percentile(slips, 99),
        "generator_cpu_percent": [p["cpu_percent"] for p in parts],
        "visibility_samples": len(visible),
        "visibility_missed": sum(p["visible_missed"] for p in parts),
        **latency_summary(visible, "visible_"),
    }


OK_SHARE = 0.999
"""Share of 200/201 answers a fixed-rate run needs for its rate to count as sustained."""


def served(run: dict[str, Any]) -> int:
    """200/201 answers of a merged run (``merge``)."""
    statuses = run["statuses"]
    return int(statuses.get("200", 0) + statuses.get("201", 0))


def sustained(runs: dict[str, Any]) -> float:
    """Capacity: the highest offered rate whose run had at least ``OK_SHARE`` 200/201
    answers; a timeout, a transport error, a 503, a 202 or any other status counts
    against it. 0.0 when no run qualifies."""
    best = 0.0
    for run in runs.values():
        if run["requests"] and served(run) >= OK_SHARE * run["requests"]:
            best = max(best, float(run["offered_rate"]))
    return best
