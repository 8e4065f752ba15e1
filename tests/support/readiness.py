"""Watches a process's /readyz during a fault: what it answered, and when.

The fault tests that make Redis or the DLQ refuse use it to show that the projector
said why it was not ready (503 ``failing`` with the reason) and became ready again by
itself — without ever exiting.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import httpx


class ReadyzWatch:
    def __init__(self, url: str, interval: float = 0.2) -> None:
        self.url, self.interval = url, interval
        self.seen: list[tuple[float, int | None, dict[str, Any]]] = []
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> ReadyzWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()
        self._thread.join(10)

    def _run(self) -> None:
        with httpx.Client(timeout=2.0) as client:
            while not self._stopping.is_set():
                try:
                    response = client.get(self.url)
                    body = response.json() if response.content else {}
                    self.seen.append((time.monotonic(), response.status_code, body))
                except (httpx.HTTPError, ValueError):
                    self.seen.append((time.monotonic(), None, {}))
                self._stopping.wait(self.interval)

    def failing(self) -> list[dict[str, Any]]:
        """The bodies of 503 ``failing`` answers, in order."""
        return [b for _, status, b in self.seen if status == 503 and b.get("status") == "failing"]

    def ready_again_after(self, at: float) -> float | None:
        """Seconds from ``at`` to the first 200 after the last failing answer, if any."""
        last_failing = max((t for t, s, b in self.seen if b.get("status") == "failing"), default=at)
        back = [t for t, status, _ in self.seen if status == 200 and t > last_failing]
        return round(back[0] - at, 1) if back else None
