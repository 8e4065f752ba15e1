"""The markdown summary of one bench run (printed, saved, and pasted into the README)."""

from __future__ import annotations

from typing import Any

MIB = 1024 * 1024


TIMES = "\u00d7"


def _f(value: Any, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _ratio(a: Any, b: Any) -> str:
    return _f(a / b, 3) if a is not None and b else "-"


def _verdict(t: dict[str, Any]) -> str:
    ours, theirs = t["met"], t.get("vegeta_met")
    if theirs is None or ours == theirs:
        return "met" if ours else "**missed**"
    return (
        f"**split**: openloop {'met' if ours else 'missed'}, vegeta {'met' if theirs else 'missed'}"
    )


def _stack(out: dict[str, Any]) -> str:
    s = out.get("stack") or {}
    if not s:
        return "stack: not recorded"
    return (f"stack: like {s['like']} (auth {s['auth']}, a bearer token per role; Redis AOF "
            f"{'on' if s['redis_aof'] else 'off'}, Kafka heap {s['kafka_heap']}, "
            f"{s['partitions']} partitions), on free ports of its own.")  # fmt: skip


def _ceilings(out: dict[str, Any]) -> list[str]:
    c = out["ceilings"]
    noop, redis, producer = c["http_noop"], c["redis"], c["kafka_producer"]
    redis_shown = (
        redis["missing"] if "missing" in redis
        else f"SET {_f(redis.get('set'), 0)}/s, GET {_f(redis.get('get'), 0)}/s (pipelined 16)"
    )  # fmt: skip
    return [
        "| ceiling (same run, same machine) | figure |",
        "|---|---|",
        f"| no-op HTTP max (FastAPI/uvicorn, closed loop, {out['config']['workers']} workers) "
        f"| {_f(noop['max_rate'], 0)}/s |",
        f"| raw consume (kafka-python) | {_f(c['kafka_consume']['rate'], 0)} events/s |",
        f"| redis-benchmark | {redis_shown} |",
        f"| kafka-producer-perf-test (acks=all, {producer['record_size']} B) "
        f"| {_f(producer['rate'], 0)} records/s ({_f(producer['mb_per_s'], 1)} MB/s) |",
    ]


def _pair(title: str, pair: dict[str, Any] | None, capacity: float, commands: bool) -> list[str]:
    """One half-capacity or overload run: bench.openloop and vegeta side by side."""
    if not pair:
        return []
    o, v = pair["openloop"], pair["vegeta"]
    cap = f"{_f(capacity)}/s"

    def row(measure: str, a: Any, b: Any, ceiling: str = "-", ratio: str = "-") -> str:
        return f"| {measure} | {a} | {b} | {ceiling} | {ratio} |"

    oh, vh = o.get("health", {}), v.get("health", {})
    lines = [
        "",
        f"{title} ({_f(pair['rate'])}/s offered):",
        "",
        "| measure | bench.openloop | vegeta | ceiling | ratio |",
        "|---|---|---|---|---|",
        row("offered /s", _f(o["offered_rate"]), _f(v["offered_rate"]), f"{cap} capacity",
            _ratio(pair["rate"], capacity)),
        row("sent /s", _f(o["send_rate"]), _f(v["send_rate"])),
        row("goodput (200/201 per s)", _f(o["goodput"]), _f(v["goodput"]), f"{cap} capacity",
            f"{_ratio(o['goodput'], capacity)} / {_ratio(v['goodput'], capacity)}"),
        row("200/201 share", _f(o["ok_ratio"], 4), _f(v["good_ratio"], 4)),
        row("shed (503/429) share", _f(o["shed_ratio"], 4), _f(v["shed_ratio"], 4)),
        row("of which the API's admission counted", o.get("api_shed", "-"), v.get("api_shed", "-")),
        row("client timeouts (vegeta: no answer in 10 s)", o["timeouts"], v["no_answer"]),
        row("p50 / p99 ms, all answers", f"{_f(o['p50_ms'])} / {_f(o['p99_ms'])}",
            f"{_f(v['p50_ms'])} / {_f(v['p99_ms'])}"),
        row("p50 / p99 ms, admitted (200/201) only",
            f"{_f(o['ok_p50_ms'])} / {_f(o['ok_p99_ms'])}",
            f"{_f(v['ok_p50_ms'])} / {_f(v['ok_p99_ms'])}"),
        row("/healthz p50 / p99 ms (failures)",
            f"{_f(oh.get('p50_ms'))} / {_f(oh.get('p99_ms'))} ({oh.get('failures', '-')})",
            f"{_f(vh.get('p50_ms'))} / {_f(vh.get('p99_ms'))} ({vh.get('failures', '-')})"),
    ]  # fmt: skip
    if commands:
        visible = f"{_f(o['visible_p50_ms'])} / {_f(o['visible_p99_ms'])}"
        lines.append(row("ack → visible p50 / p99 ms", visible, "-"))
    others = {k: n for k, n in o["statuses"].items() if k not in ("200", "201", "503", "429")}
    errors = ", ".join(str(e) for e in v["errors"][:2]) or "-"
    lines.append(
        row(
            "other statuses; transport errors (vegeta: its errors)",
            f"{others or '-'}; {o['transport_errors']}",
            errors,
        )
    )
    cpu = "+".join(str(c) for c in o["generator_cpu_percent"])
    slip = f"{cpu}; {_f(o['schedule_slip_p99_ms'])}"
    lines.append(row("generator CPU %; schedule slip p99 ms", slip, "-"))
    return lines


def _vegeta_capacity(out: dict[str, Any]) -> str:
    c, q = out["commands"].get("vegeta_capacity"), out["queries"].get("vegeta_capacity")
    if c is None and q is None:
        return " (fixed-rate ladders with bench.openloop only)"
    return f" (with vegeta: commands {_f(c)}/s, reads {_f(q)}/s)"


def _vegeta_ladder(api: str, runs: dict[str, Any] | None) -> list[str]:
    """The fixed-rate ladder as vegeta saw it (full runs, or BENCH_VEGETA_LADDER=1)."""
    if not runs:
        return []
    lines = ["", f"The same fixed rates with vegeta ({api}):", "",
             "| offered/s | goodput/s | 200/201 share | p50 | p95 | p99 ms "
             "| shed (by admission) | no answer in 10 s |",
             "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for rate, v in runs.items():
        lines.append(
            f"| {rate} | {_f(v['goodput'])} | {_f(v['good_ratio'], 4)} | {_f(v['p50_ms'])} "
            f"| {_f(v['p95_ms'])} | {_f(v['p99_ms'])} | {v['shed']} ({v.get('api_shed', '-')}) "
            f"| {v['no_answer']} |"
        )
    return lines


def render(out: dict[str, Any], ratios: list[tuple[str, str, float | None]]) -> str:
    m = out["machine"]
    starts = out.get("phase_starts_s", {})
    loads = ", ".join(
        f"{k}{f' (at {starts[k]:.0f} s)' if k in starts else ''} {v[0]:.2f}"
        for k, v in out["loadavg"].items()
    )
    lines = [
        f"## Bench {out['timestamp']}{' (quick)' if out['quick'] else ''}",
        "",
        f"{m['cpus']} CPUs ({m['cpu_model']}), {m['memory_bytes'] / 2**30:.0f} GiB, "
        f"Linux {m['kernel']}, Python {m['python']}; took {out['duration_s']:.0f} s. "
        f"1-min load average: {loads}.",
        "",
        _stack(out),
        "",
        *_ceilings(out),
        "",
        f"Capacity = the highest offered rate whose fixed-rate run had at least 99.9 % "
        f"200/201 answers: commands {_f(out['commands'].get('capacity'))}/s, reads "
        f"{_f(out['queries'].get('capacity'))}/s"
        + _vegeta_capacity(out)
        + f". Half-capacity and 3{TIMES} overload runs "
        "go once with bench.openloop, then once with vegeta; each tool's figure is judged.",
        "",
        "| target | bench.openloop | vegeta | ceiling | ratio | |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| {t['target']} | {t['figure']} | {t.get('vegeta', '-')} | {t.get('ceiling', '-')} "
        f"| {_f(t.get('ratio'), 3)}"
        + (f" / {_f(t['vegeta_ratio'], 3)}" if t.get("vegeta_ratio") is not None else "")
        + f" | {_verdict(t)} |"
        for t in out["targets"]
    ]
    c, q = out["commands"], out["queries"]
    lines += _pair("Commands at half capacity", c.get("half"), c.get("capacity", 0.0), True)
    lines += _pair(f"Commands at 3{TIMES} capacity", c.get("overload"), c.get("capacity", 0.0),
                   True)  # fmt: skip
    lines += _pair("Reads at half capacity", q.get("half"), q.get("capacity", 0.0), False)
    lines += _pair(f"Reads at 3{TIMES} capacity", q.get("overload"), q.get("capacity", 0.0),
                   False)  # fmt: skip
    lines += ["", "Fixed-rate runs (bench.openloop):", "",
              "| command API offered/s | achieved/s | 200/201 share | p50 | p95 | p99 | p99.9 ms "
              "| errors (503 by admission) | 202 | visible p50 / p99 ms | generator CPU % |",
              "|---|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for rate, r in out["commands"]["rates"].items():
        errors = r["errors_non_2xx"] + r["timeouts"] + r["transport_errors"]
        lines.append(
            f"| {rate} | {_f(r['achieved_rate'])} | {_f(r.get('ok_ratio'), 4)} "
            f"| {_f(r['p50_ms'])} | {_f(r['p95_ms'])} "
            f"| {_f(r['p99_ms'])} | {_f(r['p999_ms'])} | {errors} ({r.get('api_shed', '-')}) "
            f"| {r['late_202']} "
            f"| {_f(r['visible_p50_ms'])} / {_f(r['visible_p99_ms'])} "
            f"| {'+'.join(str(c) for c in r['generator_cpu_percent'])} |"
        )
    lines += _vegeta_ladder("command API", out["commands"].get("vegeta_rates"))
    lines += ["", f"Query API `GET /orders/{{id}}`: max {_f(q['max_rate'])}/s closed loop "
              f"({out['config']['workers']} workers, 2 generator processes)."]  # fmt: skip
    for rate, r in q["fixed"].items():
        lines.append(
            f"At {rate}/s: achieved {_f(r['achieved_rate'])}/s, 200/201 share "
            f"{_f(r.get('ok_ratio'), 4)}, timeouts {r['timeouts']}, p50 {_f(r['p50_ms'])} ms, "
            f"p99 {_f(r['p99_ms'])} ms, p99.9 {_f(r['p999_ms'])} ms."
        )
    lines += _vegeta_ladder("query API", q.get("vegeta_fixed"))
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
