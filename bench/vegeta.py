"""The independent open-loop tool: vegeta (Go), built once from the Go module proxy into
``.cache/bin``. Every bench load figure is also taken with it, against the same stack.

vegeta sends at a fixed rate whatever the server does (open loop: it adds workers as
needed to keep the schedule) and counts a request that does not answer within
``TIMEOUT_S`` as a failure (status 0). Here ``goodput`` is what the bench calls it everywhere:
answers 200/201 per second of the attack.

    python -m bench.vegeta --url http://127.0.0.1:8001 --kind place --rate 300 --seconds 10
"""

from __future__ import annotations

import base64
import csv
import io
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.openloop import Request, kinds, load_arguments
from bench.stats import percentile

VERSION = "v12.13.0"
MODULE = f"github.com/tsenart/vegeta/v12@{VERSION}"
CACHE = Path(__file__).resolve().parent.parent / ".cache" / "bin"
TIMEOUT_S = 10


def binary() -> Path:
    """vegeta, built with ``go install`` the first time (about a minute)."""
    path = CACHE / f"vegeta-{VERSION}"
    if path.exists():
        return path
    go = shutil.which("go") or "/usr/local/go/bin/go"
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="vegeta-build-") as gobin:
        env = {**os.environ, "GOBIN": gobin, "GOFLAGS": "-mod=mod"}
        subprocess.run([go, "install", MODULE], env=env, check=True, timeout=900)
        shutil.move(str(Path(gobin) / "vegeta"), path)
    return path


def _targets(url: str, make: Callable[[int], Request], count: int, token: str) -> str:
    header = {"Content-Type": ["application/json"]}
    if token:
        header["Authorization"] = [f"Bearer {token}"]
    lines = []
    for n in range(count):
        method, path, body = make(n)
        target: dict[str, Any] = {"method": method, "url": url + path, "header": header}
        if body is not None:
            target["body"] = base64.b64encode(json.dumps(body).encode()).decode()
        lines.append(json.dumps(target))
    return "\n".join(lines) + "\n"


def attack(
    url: str,
    kind: str,
    *,
    rate: float,
    seconds: float,
    token: str = "",
    orders: int = 1,
) -> dict[str, Any]:
    """One open-loop attack of ``kind`` (``bench.openloop.kinds``) at ``rate`` per second."""
    vegeta = binary()
    count = max(1, int(rate * seconds))
    with tempfile.TemporaryDirectory(prefix="bench-vegeta-") as tmp:
        targets, results = Path(tmp) / "targets.jsonl", Path(tmp) / "results.bin"
        targets.write_text(_targets(url, kinds(orders)[kind], count, token))
        subprocess.run(
            [str(vegeta), "attack", "-format=json", f"-targets={targets}", f"-rate={rate:g}/1s",
             f"-duration={seconds:g}s", f"-timeout={TIMEOUT_S}s", "-max-body=0",
             "-keepalive=true", f"-output={results}"],
            check=True, timeout=seconds + TIMEOUT_S + 60,
        )  # fmt: skip
        report = subprocess.run(
            [str(vegeta), "report", "-type=json", str(results)],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        rows = subprocess.run(
            [str(vegeta), "encode", "-to=csv", str(results)],
            check=True, capture_output=True, text=True, timeout=120,
        )  # fmt: skip
    raw = json.loads(report.stdout)
    return summarize(raw, rate, seconds, admitted_ms(rows.stdout))


def admitted_ms(rows: str) -> list[float]:
    """Latencies (ms) of the 200/201 answers, from ``vegeta encode -to=csv`` (column 2
    the status, column 3 the latency in ns; ``-max-body=0`` keeps the bodies empty)."""
    found = []
    for row in csv.reader(io.StringIO(rows)):
        if len(row) > 2 and row[1] in ("200", "201"):
            found.append(int(row[2]) / 1e6)
    return found


def summarize(
    raw: dict[str, Any], rate: float, seconds: float, admitted: list[float] | None = None
) -> dict[str, Any]:
    """vegeta's JSON report in the bench's terms (latencies in ms; status 0 = no answer);
    ``admitted``: the 200/201 answers' latencies (ms), for ``ok_p50_ms``/``ok_p99_ms``."""
    codes = {str(k): v for k, v in (raw.get("status_codes") or {}).items()}
    good = codes.get("200", 0) + codes.get("201", 0)
    shed = codes.get("503", 0) + codes.get("429", 0)
    latencies = raw.get("latencies", {})
    ms = {f"p{p}_ms": round(latencies.get(key, 0) / 1e6, 2)
          for p, key in (("50", "50th"), ("95", "95th"), ("99", "99th"))}  # fmt: skip
    return {
        "tool": f"vegeta {VERSION}",
        "offered_rate": rate,
        "requests": raw.get("requests", 0),
        "goodput": round(good / seconds, 1),
        "statuses": codes,
        "no_answer": codes.get("0", 0),
        "shed": shed,
        "good_ratio": round(good / raw["requests"], 5) if raw.get("requests") else 0.0,
        "shed_ratio": round(shed / raw["requests"], 4) if raw.get("requests") else 0.0,
        "send_rate": round(raw.get("rate", 0.0), 1),
        **ms,
        "ok_p50_ms": percentile(admitted or [], 50),
        "ok_p99_ms": percentile(admitted or [], 99),
        "max_ms": round(latencies.get("max", 0) / 1e6, 2),
        "errors": (raw.get("errors") or [])[:5],
    }


def main() -> None:
    args = load_arguments(__doc__.splitlines()[0]).parse_args()
    result = attack(
        args.url,
        args.kind,
        rate=args.rate,
        seconds=args.seconds,
        token=args.token,
        orders=args.orders,
    )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
