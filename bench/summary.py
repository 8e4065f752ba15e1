"""The markdown summary of one bench run (printed, saved, and pasted into the README)."""

from __future__ import annotations

from typing import Any

MIB = 1024 * 1024


def _f(value: Any, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def render(out: dict[str, Any], ratios: list[tuple[str, str, float | None]]) -> str:
    m = out["machine"]
    loads = ", ".join(f"{k} {v[0]:.2f}" for k, v in out["loadavg"].items())
    lines = [
        f"## Bench {out['timestamp']}{' (quick)' if out['quick'] else ''}",
        "",
        f"{m['cpus']} CPUs ({m['cpu_model']}), {m['memory_bytes'] / 2**30:.0f} GiB, "
        f"Linux {m['kernel']}, Python {m['python']}; took {out['duration_s']:.0f} s. "
        f"1-min load average: {loads}.",
        "",
        "| target | figure | |",
        "|---|---|---|",
    ]
    lines += [
        f"| {t['target']} | {t['figure']} | {'met' if t['met'] else '**missed**'} |"
        for t in out["targets"]
    ]
    lines += ["", "| command API offered/s | achieved/s | p50 | p95 | p99 | p99.9 ms "
              "| errors | 202 | visible p50 / p99 ms | generator CPU % |",
              "|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for rate, r in out["commands"]["rates"].items():
        errors = r["errors_non_2xx"] + r["timeouts"] + r["transport_errors"]
        lines.append(
            f"| {rate} | {_f(r['achieved_rate'])} | {_f(r['p50_ms'])} | {_f(r['p95_ms'])} "
            f"| {_f(r['p99_ms'])} | {_f(r['p999_ms'])} | {errors} | {r['late_202']} "
            f"| {_f(r['visible_p50_ms'])} / {_f(r['visible_p99_ms'])} "
            f"| {'+'.join(str(c) for c in r['generator_cpu_percent'])} |"
        )
    q = out["queries"]
    lines += ["", f"Query API `GET /orders/{{id}}`: max {_f(q['max_rate'])}/s closed loop "
              f"({out['config']['workers']} workers, 2 generator processes)."]  # fmt: skip
    for rate, r in q["fixed"].items():
        lines.append(
            f"At {rate}/s: achieved {_f(r['achieved_rate'])}/s, p50 {_f(r['p50_ms'])} ms, "
            f"p99 {_f(r['p99_ms'])} ms, p99.9 {_f(r['p999_ms'])} ms."
        )
    d, rp, data = out["decider"], out["replay"], out["data"]
    lines += [
        "",
        f"Data: {data['events']:,} events over {data['orders']:,} orders "
        f"({data['mean_record_bytes']} B each). Replay (`orders replay --to-earliest "
        f"--blue-green`): {_f(rp['rate'], 0)} events/s. Decider cold start: ready after "
        f"{d['ready_s']} s, catch-up {_f(d['rate'], 0)} events/s (it folded "
        f"{d['events_read']:,} events in {d['catchup_lines']} catch-up log lines).",
        "",
        "| ours / ceiling | ceiling | ratio |",
        "|---|---|---|",
    ]
    lines += [f"| {name} | {ceiling} | {_f(ratio, 3)} |" for name, ceiling, ratio in ratios]
    lines += ["", "| process | peak RSS MiB |", "|---|---|"]
    lines += [f"| {name} | {_f(p.get('VmHWM', 0) / MIB)} |" for name, p in out["processes"].items()]
    return "\n".join(lines) + "\n"
