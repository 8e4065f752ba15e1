"""The fault results table: one row per fault run, rendered as markdown.

Columns (see docs/faults.md): commands sent, how many of them the client had to retry
(same Idempotency-Key after a 503, 202 or connection error), and what it was finally told —
acknowledged (2xx), rejected (404/409/412), unavailable (503), unknown (202, timeout,
connection error); ``resolved`` says where the unavailable + unknown ones ended up
(in the log once / absent); lost and duplicated must be 0. Times in seconds from the
fault: first acknowledged write sent after it, first read of such a write through the
query API; ``clean`` is from the end of the load until verify found no difference.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

HEADER = (
    "| fault | sent | retried | ack | rejected | unavailable | unknown "
    "| resolved (in log / absent) | lost | dup "
    "| fault lasted s | write back s | read back s | views clean s | ok |"
)


def _s(value: Any) -> str:
    return "-" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def render(rows: Sequence[dict[str, Any]]) -> str:
    lines = [HEADER, "|" + "---|" * HEADER.count(" | ") + "---|"]
    for r in rows:
        cells = [
            r["fault"],
            r["sent"],
            r["retried"],
            r["acknowledged"],
            r["rejected"],
            r["unavailable"],
            r["unknown"],
            f"{r['in_log']} / {r['absent']}",
            r["lost"],
            r["duplicated"],
            r["fault_s"],
            r["write_s"],
            r["read_s"],
            r["clean_s"],
            "yes" if r["ok"] else "**NO**",
        ]
        lines.append("| " + " | ".join(_s(c) for c in cells) + " |")
    return "\n".join(lines)


def write(rows: Sequence[dict[str, Any]], path: Path, seconds: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        f"# Fault runs\n\n{len(rows)} runs in {seconds:.0f} s "
        "(`make fault`; columns explained in docs/faults.md).\n\n" + render(rows) + "\n"
    )
