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
    visible = [x for p in parts for x in p["visible_ms"]]
    slips = [x for p in parts for x in p["slip_ms"]]
    statuses: Counter[str] = Counter()
    for p in parts:
        statuses.update({str(k): v for k, v in p["statuses"].items()})
    elapsed = max(p["elapsed_s"] for p in parts)
    ok = sum(v for k, v in statuses.items() if k.startswith("2") and k != "202")
    timeouts = sum(p["timeouts"] for p in parts)
    transport = sum(p["transport_errors"] for p in parts)
    return {
        "offered_rate": sum(p["rate"] for p in parts),
        "generator_processes": len(parts),
        "requests": sum(p["sent"] for p in parts),
        "achieved_rate": round(ok / elapsed, 1) if elapsed else 0.0,
        "send_rate": round(sum(p["sent"] for p in parts) / max(p["send_s"] for p in parts), 1),
        **latency_summary(latencies),
        "statuses": dict(statuses),
        "errors_non_2xx": sum(v for k, v in statuses.items() if not k.startswith("2")),
        "late_202": statuses.get("202", 0),
        "timeouts": timeouts,
        "transport_errors": transport,
        "schedule_slip_p99_ms": percentile(slips, 99),
        "generator_cpu_percent": [p["cpu_percent"] for p in parts],
        "visibility_samples": len(visible),
        "visibility_missed": sum(p["visible_missed"] for p in parts),
        **latency_summary(visible, "visible_"),
    }
