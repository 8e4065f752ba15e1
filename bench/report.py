"""Targets (met / missed, with the figure), ratios to the ceilings, and the markdown summary.

The load targets are those of the capacity issue, judged as ratios to ceilings measured
in the same run: capacity (``bench.stats.sustained``) against the no-op HTTP max, and
latency, goodput and health at half and three times that capacity. Each half-capacity
and overload figure is taken by ``bench.openloop`` and by vegeta; a target is judged on
each tool's figure separately.
"""

from __future__ import annotations

from typing import Any

from bench.stats import sustained

MIB, KIB = 1024 * 1024, 1024
TIMES = "\u00d7"


def _sustained(runs: dict[str, Any]) -> float:
    return sustained(runs)


def _at(runs: dict[str, Any], rate: str, field: str) -> float | None:
    value = runs.get(rate, {}).get(field)
    return None if value is None else float(value)


def _get(run: dict[str, Any] | None, *path: str) -> float | None:
    value: Any = run
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return None if value is None else float(value)


def _shown(figure: float | None, unit: str) -> str:
    return "n/a" if figure is None else f"{figure:,.1f} {unit}".strip()


def _met(figure: float | None, limit: float, higher: bool) -> bool:
    return figure is not None and (figure >= limit if higher else figure <= limit)


def _row(name: str, figure: float | None, limit: float, unit: str, higher: bool) -> dict[str, Any]:
    """An absolute target (not a ratio): replay, decider and memory figures."""
    sign = "≥" if higher else "≤"
    return {"target": f"{name} {sign} {limit:,g} {unit}", "figure": _shown(figure, unit),
            "vegeta": "-", "ceiling": "-", "ratio": None,
            "met": _met(figure, limit, higher), "vegeta_met": None}  # fmt: skip


def _ratio_row(
    name: str,
    figure: float | None,
    share: float,
    ceiling: float | None,
    label: str,
    unit: str,
    vegeta: float | None = None,
) -> dict[str, Any]:
    """``figure ≥ share times ceiling``, the figure shown with its ratio to the ceiling;
    ``vegeta``: the same figure taken by vegeta, when it was (judged the same way)."""

    def ratio(x: float | None) -> float | None:
        return round(x / ceiling, 3) if x is not None and ceiling else None

    ours, theirs = ratio(figure), ratio(vegeta)
    return {"target": f"{name} ≥ {share:g} {TIMES} {label}", "figure": _shown(figure, unit),
            "vegeta": "-" if vegeta is None else _shown(vegeta, unit),
            "ceiling": f"{_shown(ceiling, unit)} ({label})", "ratio": ours,
            "vegeta_ratio": theirs, "met": ours is not None and ours >= share,
            "vegeta_met": None if vegeta is None else theirs is not None and theirs >= share,
            }  # fmt: skip


def _paired_row(
    name: str,
    pair: dict[str, Any] | None,
    path: tuple[str, ...],
    limit: float,
    unit: str,
    where: str,
    *,
    vegeta_path: tuple[str, ...] | None = (),
    higher: bool = False,
) -> dict[str, Any]:
    """A target on a half-capacity or overload run, judged on each tool's figure."""
    sign = "≥" if higher else "≤"
    ours = _get(pair, "openloop", *path)
    theirs = None if vegeta_path is None else _get(pair, "vegeta", *(vegeta_path or path))
    rate = _get(pair, "rate")
    return {
        "target": f"{name} {sign} {limit:,g} {unit}".strip(),
        "figure": _shown(ours, unit),
        "vegeta": "-" if vegeta_path is None else _shown(theirs, unit),
        "ceiling": f"at {_shown(rate, '/s')} = {where}",
        "ratio": None,
        "met": _met(ours, limit, higher),
        "vegeta_met": None if vegeta_path is None else _met(theirs, limit, higher),
    }


def _goodput_row(name: str, pair: dict[str, Any] | None, capacity: float) -> dict[str, Any]:
    """Goodput of an overload run ≥ 0.9 times capacity, for each tool."""
    share = 0.9
    ours, theirs = _get(pair, "openloop", "goodput"), _get(pair, "vegeta", "goodput")

    def ratio(x: float | None) -> float | None:
        return round(x / capacity, 3) if x is not None and capacity else None

    return {
        "target": f"{name} goodput ≥ {share:g} {TIMES} capacity",
        "figure": _shown(ours, "/s"),
        "vegeta": _shown(theirs, "/s"),
        "ceiling": f"{_shown(capacity, '/s')} (capacity)",
        "ratio": ratio(ours),
        "vegeta_ratio": ratio(theirs),
        "met": (ratio(ours) or 0) >= share,
        "vegeta_met": (ratio(theirs) or 0) >= share,
    }


def _load_targets(kind: str, side: dict[str, Any], noop_max: float, share: float) -> list[Any]:
    """The capacity issue's targets for ``commands`` or ``reads``."""
    capacity = float(side.get("capacity", 0.0))
    half, over = side.get("half"), side.get("overload")
    base = "capacity" if capacity else "lowest rate (none sustained)"
    single = "command" if kind == "commands" else "read"
    rows = [
        _ratio_row(f"{kind} sustained", capacity, share, noop_max, "no-op HTTP max", "/s",
                   side.get("vegeta_capacity")),
        _paired_row(f"{single} p99 at half capacity", half, ("p99_ms",), 50 if
                    kind == "commands" else 10, "ms", f"{base} / 2"),
    ]  # fmt: skip
    if kind == "commands":
        rows.append(
            _paired_row(
                "ack → visible p99 at half capacity",
                half,
                ("visible_p99_ms",),
                100,
                "ms",
                f"{base} / 2",
                vegeta_path=None,
            )
        )
    where = f"3 {TIMES} {base}"
    rows += [
        _paired_row(f"{kind} 3{TIMES} overload: client timeouts", over, ("timeouts",), 0, "",
                    where, vegeta_path=("no_answer",)),
        _goodput_row(f"{kind} 3{TIMES} overload:", over, capacity),
        _paired_row(f"{kind} 3{TIMES} overload: /healthz p99", over, ("health", "p99_ms"), 50,
                    "ms", where),
    ]  # fmt: skip
    return rows


def targets(out: dict[str, Any], events_per_order: int) -> list[dict[str, Any]]:
    qry = out["queries"]
    book, mem = out["decider_book"], out["redis_memory"]
    peak = max(p.get("VmHWM", 0) for p in out["processes"].values()) / MIB
    noop_max = float(out["ceilings"]["http_noop"]["max_rate"])
    return [
        *_load_targets("commands", out["commands"], noop_max, 0.2),
        *_load_targets("reads", qry, noop_max, 0.6),
        _row("replay", out["replay"]["rate"], 30_000, "events/s", True),
        _row("decider catch-up", out["decider"]["rate"], 50_000, "events/s", True),
        _row(
            "decider state on disk, open order",
            book["open"]["disk_bytes_per_order"],
            KIB,
            "B",
            False,
        ),
        _row(
            "decider state on disk, closed order",
            book["closed"]["disk_bytes_per_order"],
            book["open"]["disk_bytes_per_order"] / 2,
            "B",
            False,
        ),
        _row(
            "decider memory per order (1M orders in 300 MiB)",
            max(book["open"]["rss_bytes_per_order"], book["closed"]["rss_bytes_per_order"]),
            300 * MIB / 1_000_000,
            "B",
            False,
        ),
        _row("Redis view + indexes per order", mem["view_and_indexes_per_order"], 1536, "B", False),
        _row("Redis history per event", mem["history_bytes_per_event"], 400, "B", False),
        _row("peak RSS of any Python process", peak, 300, "MiB", False),
    ]


def _common_rate(reads: dict[str, Any], noop: dict[str, Any], capacity: float) -> str | None:
    """The highest fixed rate both the reads and the no-op ran at within read capacity,
    else the lowest both ran at."""
    both = sorted((r for r in reads if r in noop), key=float)
    within = [r for r in both if float(r) <= capacity]
    return within[-1] if within else (both[0] if both else None)


def ratios(out: dict[str, Any]) -> list[tuple[str, str, float | None]]:
    c = out["ceilings"]
    noop, consume = c["http_noop"], c["kafka_consume"]["rate"]
    reads = out["queries"]["fixed"]
    rate = _common_rate(reads, noop["fixed"], float(out["queries"].get("capacity", 0.0)))
    query_p99 = _at(reads, rate, "p99_ms") if rate else None
    noop_p99 = _at(noop["fixed"], rate, "p99_ms") if rate else None

    def r(a: float | None, b: float | None) -> float | None:
        return round(a / b, 3) if a and b else None

    return [
        ("commands sustained / no-op HTTP max", f"{noop['max_rate']:,.0f}/s",
         r(_sustained(out["commands"]["rates"]), noop["max_rate"])),
        ("reads sustained / no-op HTTP max", f"{noop['max_rate']:,.0f}/s",
         r(_sustained(reads), noop["max_rate"])),
        ("reads max (closed loop) / no-op HTTP max", f"{noop['max_rate']:,.0f}/s",
         r(out["queries"]["max_rate"], noop["max_rate"])),
        (f"read p99 at {rate}/s / no-op p99 at {rate}/s", f"{noop_p99} ms",
         r(query_p99, noop_p99)),
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


def main() -> None:
    """``python -m bench.report bench/results/<stamp>.json``: the targets and summary again."""
    import json
    import sys
    from pathlib import Path

    from bench.datagen import EVENTS_PER_ORDER

    out = json.loads(Path(sys.argv[1]).read_text())
    out["targets"] = targets(out, EVENTS_PER_ORDER)
    print(markdown(out))


if __name__ == "__main__":
    main()
