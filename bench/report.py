"""Targets (met / missed, with the figure), ratios to the ceilings, and the markdown summary."""

from __future__ import annotations

from typing import Any

MIB, KIB = 1024 * 1024, 1024


def _sustained(runs: dict[str, Any]) -> float:
    """Best achieved rate among runs with at most 1 % errors, timeouts or 202s."""
    best = 0.0
    for run in runs.values():
        bad = run["errors_non_2xx"] + run["timeouts"] + run["transport_errors"] + run["late_202"]
        if bad <= 0.01 * max(1, run["requests"]):
            best = max(best, run["achieved_rate"])
    return best


def _at(runs: dict[str, Any], rate: str, field: str) -> float | None:
    value = runs.get(rate, {}).get(field)
    return None if value is None else float(value)


def _row(name: str, figure: float | None, limit: float, unit: str, higher: bool) -> dict[str, Any]:
    met = figure is not None and (figure >= limit if higher else figure <= limit)
    sign = "≥" if higher else "≤"
    shown = "n/a" if figure is None else f"{figure:,.1f} {unit}"
    return {"target": f"{name} {sign} {limit:,g} {unit}", "figure": shown, "met": met}


def targets(out: dict[str, Any], events_per_order: int) -> list[dict[str, Any]]:
    cmd, qry = out["commands"]["rates"], out["queries"]
    book, mem = out["decider_book"], out["redis_memory"]
    peak = max(p.get("VmHWM", 0) for p in out["processes"].values()) / MIB
    return [
        _row("commands sustained", _sustained(cmd), 1000, "/s", True),
        _row("command p99 at 500/s", _at(cmd, "500", "p99_ms"), 50, "ms", False),
        _row("ack → visible p99 at 500/s", _at(cmd, "500", "visible_p99_ms"), 100, "ms", False),
        _row("replay", out["replay"]["rate"], 30_000, "events/s", True),
        _row("queries max", qry["max_rate"], 3000, "/s", True),
        _row("query p99 at 1500/s", _at(qry["fixed"], "1500", "p99_ms"), 10, "ms", False),
        _row("decider catch-up", out["decider"]["rate"], 50_000, "events/s", True),
        _row("decider state, open order", book["open"]["bytes_per_order"], KIB, "B", False),
        _row(
            "decider state, closed order",
            book["closed"]["bytes_per_order"],
            book["open"]["bytes_per_order"] / 4,
            "B",
            False,
        ),
        _row("Redis view + indexes per order", mem["view_and_indexes_per_order"], 1536, "B", False),
        _row("Redis history per event", mem["history_bytes_per_event"], 400, "B", False),
        _row("peak RSS of any Python process", peak, 300, "MiB", False),
    ]


def ratios(out: dict[str, Any]) -> list[tuple[str, str, float | None]]:
    c = out["ceilings"]
    noop, consume = c["http_noop"], c["kafka_consume"]["rate"]
    query_p99, noop_p99 = _at(out["queries"]["fixed"], "1500", "p99_ms"), None
    noop_p99 = _at(noop["fixed"], "1500", "p99_ms") if "1500" in noop["fixed"] else None

    def r(a: float | None, b: float | None) -> float | None:
        return round(a / b, 3) if a and b else None

    return [
        ("commands sustained / no-op HTTP max", f"{noop['max_rate']:,.0f}/s",
         r(_sustained(out["commands"]["rates"]), noop["max_rate"])),
        ("queries max / no-op HTTP max", f"{noop['max_rate']:,.0f}/s",
         r(out["queries"]["max_rate"], noop["max_rate"])),
        ("query p99 at 1500/s / no-op p99", f"{noop_p99} ms", r(query_p99, noop_p99)),
        ("decider catch-up / raw consume", f"{consume:,.0f} events/s",
         r(out["decider"]["rate"], consume)),
        ("replay / raw consume", f"{consume:,.0f} events/s", r(out["replay"]["rate"], consume)),
        ("replay / redis-benchmark SET (pipelined)", f"{c['redis'].get('set', 0):,.0f}/s",
         r(out["replay"]["rate"], c["redis"].get("set"))),
        ("data generation (Python producer) / kafka-producer-perf-test",
         f"{c['kafka_producer']['rate']:,.0f} records/s",
         r(out["data"]["rate"], c["kafka_producer"]["rate"])),
    ]  # fmt: skip


def markdown(out: dict[str, Any]) -> str:
    from bench.summary import render

    return render(out, ratios(out))
