"""Reads through the query API while the load runs, to time when reading works again.

Every ``interval`` the probe takes the newest acknowledged command of the history and
asks the query API for that order at that version (``min_version``, waiting up to 1 s).
A poll succeeds when the view shows at least the acknowledged version.
``first_read_after(t)`` is when a write acknowledged after ``t`` was first readable: the
read side's recovery time after a fault at ``t``.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence

import httpx

from tests.support.history import History


class ReadProbe:
    def __init__(
        self,
        query_url: str | Sequence[str],
        history: History,
        interval: float = 0.25,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Several query URLs: the polls take turns among those query APIs."""
        self.urls = [query_url] if isinstance(query_url, str) else list(query_url)
        self.history, self.interval, self.headers = history, interval, dict(headers or {})
        self.successes: list[tuple[float, float]] = []
        """(when the read succeeded, when the write it saw was sent)."""
        self.failures = 0
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> ReadProbe:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join(15)

    def first_read_after(self, since: float) -> float | None:
        return min((at for at, sent in self.successes if sent >= since), default=None)

    def _run(self) -> None:
        with httpx.Client(timeout=2.0, headers=self.headers) as client:
            # Event.wait: the poll interval, ended at once by stop().
            polls = 0
            while not self._stopping.wait(self.interval):
                base, polls = self.urls[polls % len(self.urls)], polls + 1
                acks = self.history.acks()
                if not acks:
                    continue
                sent, _, op = max(acks, key=lambda a: a[1])
                # Read-your-writes, as a client would: the newest acknowledged write is
                # projected milliseconds later, so ask for its version and wait briefly.
                query = {"min_version": op.version, "wait_ms": 1000} if op.version else {}
                try:
                    response = client.get(f"{base}/orders/{op.order_id}", params=query)
                    seen = response.json().get("version", 0) if response.is_success else 0
                except (httpx.HTTPError, ValueError):
                    seen = 0
                if op.version is not None and seen >= op.version:
                    self.successes.append((time.monotonic(), sent))
                else:
                    self.failures += 1
