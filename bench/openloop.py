"""Open-loop HTTP load: requests leave on a fixed schedule, whatever the server does.

Latency is measured from each request's *scheduled* time, so a slow server cannot slow
the generator down and hide its own queueing (no coordinated omission). Bounded by a
request count and a deadline; loopback only.

    python bench/openloop.py --url http://127.0.0.1:8001 --rate 500 --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

Request = tuple[str, str, dict[str, Any] | None]  # method, path, json body


@dataclass
class Result:
    rate: float
    seconds: float
    latencies_ms: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    errors: int = 0
    elapsed: float = 0.0
    cpu_s: float = 0.0

    def percentile(self, p: float) -> float | None:
        ordered = sorted(self.latencies_ms)
        if not ordered:
            return None
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]

    def summary(self) -> dict[str, Any]:
        done = len(self.latencies_ms)
        return {
            "offered_rate": self.rate,
            "achieved_rate": round(done / self.elapsed, 1) if self.elapsed else 0.0,
            "requests": done,
            "p50_ms": self.percentile(50),
            "p95_ms": self.percentile(95),
            "p99_ms": self.percentile(99),
            "p999_ms": self.percentile(99.9),
            "statuses": dict(self.statuses),
            "errors": self.errors,
            "generator_cpu_percent": round(100 * self.cpu_s / self.elapsed, 1)
            if self.elapsed
            else 0.0,
        }


def place_order(n: int) -> Request:
    body = {
        "order_id": f"bench-{uuid.uuid4().hex[:16]}",
        "customer_id": f"c{n % 1000}",
        "items": [{"sku": "apple", "quantity": 1 + n % 999, "unit_price_cents": 120}],
        "currency": "EUR",
    }
    return "POST", "/orders", body


async def run(
    url: str, rate: float, seconds: float, make: Callable[[int], Request], connections: int = 256
) -> Result:
    result = Result(rate=rate, seconds=seconds)
    total = int(rate * seconds)
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    connector = aiohttp.TCPConnector(limit=connections)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(url, connector=connector, timeout=timeout) as session:

        async def one(n: int, due: float) -> None:
            method, path, body = make(n)
            try:
                async with session.request(method, path, json=body) as response:
                    await response.read()
                    result.statuses[response.status] += 1
            except (aiohttp.ClientError, TimeoutError):
                result.errors += 1
                return
            result.latencies_ms.append((time.perf_counter() - due) * 1000)

        start = time.perf_counter()
        tasks = []
        for n in range(total):
            due = start + n / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(n, due)))
        await asyncio.gather(*tasks)
        result.elapsed = time.perf_counter() - start
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    result.cpu_s = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8001")
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    result = asyncio.run(run(args.url, args.rate, args.seconds, place_order))
    print(json.dumps(result.summary(), indent=2))


if __name__ == "__main__":
    main()
