"""A background thread that samples something every ``interval`` s while a scenario runs
(projection lag, replay progress). Bounded: it stops on ``stop()`` or after ``limit_s``."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any


class Sampler:
    def __init__(
        self, sample: Callable[[], Any], interval: float = 0.5, limit_s: float = 1800
    ) -> None:
        self.sample, self.interval, self.limit_s = sample, interval, limit_s
        self.points: list[tuple[float, Any]] = []
        self.errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="bench-sampler", daemon=True)
        self.t0 = time.monotonic()

    def __enter__(self) -> Sampler:
        self.t0 = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stop.is_set() and time.monotonic() - self.t0 < self.limit_s:
            try:
                value = self.sample()
            except Exception:  # a sample that fails is a gap in the plot, not a failure
                self.errors += 1
            else:
                self.points.append((round(time.monotonic() - self.t0, 3), value))
            self._stop.wait(self.interval)
