"""Per-order linearizability of a ``History``, checked by porcupine (an established checker).

The search is porcupine's (github.com/anishathalye/porcupine, Go); the adapter in
``tests/support/linearizability/main.go`` only reads the history written here and states
the model of one order: a version register with compare-and-set (place 0 -> 1; a change
with If-Match ``e`` is ``e -> e+1``, without one ``v -> v+1``; 412/409/404 report the
version the order was at and change nothing; a command whose fate is unknown may or may
not have been applied, and returns after everything else).

One command is one operation, however many attempts it took (the Idempotency-Key makes a
retry the same command): from its first attempt's start to its last attempt's end, with
the last definite answer as its outcome. The checker is built once per version of its
sources into ``.cache/linearizability/`` (needs Go; the module comes from the proxy).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.support.history import ACKNOWLEDGED, REJECTED, History, Op, classify
from tests.support.processes import REPO_ROOT

SOURCE = Path(__file__).resolve().parent / "linearizability"
CACHE = REPO_ROOT / ".cache" / "linearizability"
CHECK_TIMEOUT_S = 120.0
"""porcupine's own search budget; past it the run fails as "unknown" (exit 2)."""
BUILD_TIMEOUT_S = 600.0


@dataclass(frozen=True)
class Result:
    ok: bool
    exit_code: int
    output: str
    html: Path | None


def operation(op: Op) -> dict[str, Any]:
    """One command as the adapter reads it (times in integer nanoseconds, monotonic)."""
    attempts = op.attempts
    definite = [a for a in attempts if classify(a[2]) in (ACKNOWLEDGED, REJECTED)]
    last = definite[-1] if definite else attempts[-1] if attempts else None
    outcome = classify(last[2]) if last else None
    result = {ACKNOWLEDGED: "ok", REJECTED: "refused"}.get(outcome or "", "unknown")
    version: int | None = None
    if result == "ok":
        version = op.version
    elif result == "refused":
        version = 0 if last and last[2] == 404 else op.reported
    return {
        "key": op.key,
        "order": op.order_id,
        "kind": "place" if op.kind == "place" else "change",
        "command": op.kind,
        "expect": op.expected,
        "call": _ns(attempts[0][0] if attempts else op.sent),
        "return": _ns(attempts[-1][1]) if result != "unknown" else None,
        "result": result,
        "status": str(last[2]) if last else "not sent",
        "version": version,
    }


def _ns(seconds: float) -> int:
    return round(seconds * 1e9)


def write_history(history: History | list[Op], path: Path) -> int:
    ops = history.ops if isinstance(history, History) else history
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"ops": [operation(op) for op in ops]}))
    return len(ops)


def _go() -> str:
    go = shutil.which("go") or next(
        (p for p in ("/usr/local/go/bin/go", "/usr/lib/go/bin/go") if os.access(p, os.X_OK)), None
    )
    if go is None:
        raise AssertionError(
            "the linearizability check needs Go (https://go.dev/dl/) on PATH or in "
            "/usr/local/go/bin: it builds tests/support/linearizability (porcupine)"
        )
    return go


def checker() -> Path:
    """The built checker, rebuilt when go.mod, go.sum or main.go change."""
    digest = hashlib.sha256()
    for name in ("go.mod", "go.sum", "main.go"):
        digest.update(name.encode() + b"\0" + (SOURCE / name).read_bytes())
    stamp, binary = CACHE / "checker.sha256", CACHE / "checker"
    CACHE.mkdir(parents=True, exist_ok=True)
    with (CACHE / "build.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # one build at a time (pytest-xdist, parallel runs)
        if binary.exists() and stamp.exists() and stamp.read_text() == digest.hexdigest():
            return binary
        partial = CACHE / f"checker.{os.getpid()}"
        env = {**os.environ, "GOFLAGS": "-mod=mod", "CGO_ENABLED": "0"}
        built = subprocess.run(
            [_go(), "build", "-o", str(partial), "."],
            cwd=SOURCE,
            env=env,
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT_S,
            check=False,
        )
        if built.returncode != 0:
            with contextlib.suppress(FileNotFoundError):
                partial.unlink()
            raise AssertionError(f"building the linearizability checker failed:\n{built.stderr}")
        partial.replace(binary)
        stamp.write_text(digest.hexdigest())
    return binary


def run_checker(
    history: History | list[Op], out_dir: Path, timeout: float = CHECK_TIMEOUT_S
) -> Result:
    """Write ``out_dir/history.porcupine.json``, check it; the output also goes to
    ``out_dir/linearizability.txt``, the visualization of failing orders to
    ``out_dir/linearizability.html``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path, html = out_dir / "history.porcupine.json", out_dir / "linearizability.html"
    write_history(history, path)
    command = [str(checker()), "-history", str(path), "-timeout", f"{timeout:g}s"]
    try:
        done = subprocess.run(
            [*command, "-html", str(html)],
            capture_output=True,
            text=True,
            timeout=2 * timeout + 30,  # the check, and the visualization's re-check
            check=False,
        )
        code, output = done.returncode, done.stdout + done.stderr
    except subprocess.TimeoutExpired:
        code, output = 2, f"the checker did not finish within {2 * timeout + 30:g} s"
    (out_dir / "linearizability.txt").write_text(output)
    return Result(code == 0, code, output.strip(), html if html.exists() else None)


def check_linearizable(history: History | list[Op], out_dir: Path) -> None:
    """Raise AssertionError unless porcupine finds every order's history linearizable."""
    result = run_checker(history, out_dir)
    if result.ok:
        return
    verdict = {1: "NOT linearizable", 2: "linearizability unknown (timeout or bad input)"}
    lines = [f"{verdict.get(result.exit_code, f'checker failed ({result.exit_code})')}:"]
    lines.append(result.output)
    if result.html and str(result.html) not in result.output:
        lines.append(f"porcupine's visualization: {result.html}")
    raise AssertionError("\n".join(lines))
