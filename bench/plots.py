"""PNG plots of a run: latency percentiles against offered load, replay rate over time,
projection lag over time. Small on purpose (< 150 KB each)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

SIZE, DPI = (7.0, 3.4), 80
PERCENTILES = [("p50_ms", "p50"), ("p95_ms", "p95"), ("p99_ms", "p99"), ("p999_ms", "p99.9")]


def _latency(out: dict[str, Any], path: Path) -> None:
    fig, axes = plt.subplots(1, 2, figsize=SIZE, dpi=DPI)
    for ax, title, runs in (
        (axes[0], "command API (open loop)", out["commands"]["rates"]),
        (axes[1], "query API GET /orders/{id}", out["queries"]["fixed"]),
    ):
        rates = [float(r) for r in runs]
        for field, label in PERCENTILES:
            ax.plot(rates, [runs[r][field] or 0 for r in runs], marker="o", label=label)
        ax.set(title=title, xlabel="offered requests/s", ylabel="latency ms", yscale="log")
        ax.grid(alpha=0.3)
    noop = out["ceilings"]["http_noop"]["fixed"]
    axes[1].plot([float(r) for r in noop], [noop[r]["p99_ms"] or 0 for r in noop],
                 "k--", marker="x", label="no-op p99")  # fmt: skip
    axes[0].legend(fontsize=7)
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _series(path: Path, points: list[Any], title: str, ylabel: str, phases: Any = ()) -> None:
    fig, ax = plt.subplots(figsize=SIZE, dpi=DPI)
    ax.plot([p[0] for p in points], [p[1] for p in points], lw=1.2)
    for phase in phases:
        ax.axvspan(phase["start"], phase["end"], alpha=0.08)
        label = f"{phase.get('label', '')} {phase['rate']:g}/s".strip()
        ax.text(phase["start"], 0, label, fontsize=7, va="bottom")
    ax.set(title=title, xlabel="seconds", ylabel=ylabel)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def draw(out: dict[str, Any], stem: Path) -> dict[str, str]:
    paths = {k: Path(f"{stem}-{k}.png") for k in ("latency", "replay", "lag")}
    _latency(out, paths["latency"])
    _series(paths["replay"], out["replay"]["rate_over_time"], "replay rate", "events/s")
    lag = [(t, v["lag"] or 0) for t, v in out["commands"]["lag_over_time"]]
    _series(paths["lag"], lag, "projection lag during the command load", "events behind",
            out["commands"]["phases"])  # fmt: skip
    return {k: str(p) for k, p in paths.items()}
