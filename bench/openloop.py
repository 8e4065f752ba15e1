"""Load generator: open loop (requests leave on a fixed schedule) or closed loop (N workers).

Open loop measures latency from each request's *scheduled* time, so a slow server cannot
slow the generator down and hide its own queueing (no coordinated omission); how late
the generator itself started requests (``slip_ms``) and its CPU use are recorded, so a
saturated generator is visible. With ``--probe-redis``, about 20 acknowledged commands
per second are watched in Redis until the view reaches their version (ack → visible).
Bounded by a request count, a deadline and timeouts; loopback only.

    python -m bench.openloop --url http://127.0.0.1:8001 --kind place --rate 500 --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

from bench.probe import VisibilityProbe

Request = tuple[str, str, dict[str, Any] | None]  # method, path, json body
TIMEOUT_S = 10.0
OK = (200, 201)
"""Answers that count as served: goodput and the admitted requests' latency."""
SHED = (503, 429)
"""Answers that refuse load (``shed``)."""


def place_order(n: int) -> Request:
    body = {
        "order_id": f"load-{uuid.uuid4().hex[:16]}",
        "customer_id": f"c{n % 1000}",
        "items": [{"sku": "apple", "quantity": 1 + n % 999, "unit_price_cents": 120}],
        "currency": "EUR",
    }
    return "POST", "/orders", body


def kinds(orders: int) -> dict[str, Callable[[int], Request]]:
    """Request makers by name; ``get`` reads the bench's generated orders (``bench-o…``)."""
    return {
        "place": place_order,
        "get": lambda n: ("GET", f"/orders/bench-o{(n * 7919) % orders:08d}", None),
        "noop": lambda n: ("GET", "/noop", None),
    }


class Load:
    def __init__(self, make: Callable[[int], Request], probe: VisibilityProbe | None) -> None:
        self.make, self.probe = make, probe
        self.out: dict[str, Any] = {"latencies_ms": [], "ok_latencies_ms": [], "slip_ms": []}
        self.out.update(statuses={}, timeouts=0, transport_errors=0, sent=0, shed=0)

    async def one(self, session: aiohttp.ClientSession, n: int, due: float) -> None:
        method, path, body = self.make(n)
        self.out["sent"] += 1
        try:
            async with session.request(method, path, json=body) as response:
                data = await response.read()
                status = response.status
        except TimeoutError:
            self.out["timeouts"] += 1
            return
        except aiohttp.ClientError:
            self.out["transport_errors"] += 1
            return
        acked = time.perf_counter()
        self.out["latencies_ms"].append((acked - due) * 1000)
        self.out["statuses"][status] = self.out["statuses"].get(status, 0) + 1
        if status in SHED:
            self.out["shed"] += 1
        if status in OK:
            self.out["ok_latencies_ms"].append((acked - due) * 1000)
            if self.probe is not None:
                self.probe.offer(data, acked)

    async def open_loop(self, session: aiohttp.ClientSession, rate: float, seconds: float) -> None:
        start, tasks = time.perf_counter(), []
        for n in range(int(rate * seconds)):
            due = start + n / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            self.out["slip_ms"].append(max(0.0, time.perf_counter() - due) * 1000)
            tasks.append(asyncio.create_task(self.one(session, n, due)))
        self.out["send_s"] = time.perf_counter() - start
        await asyncio.gather(*tasks)

    async def closed_loop(
        self, session: aiohttp.ClientSession, workers: int, seconds: float
    ) -> None:
        deadline, counter = time.perf_counter() + seconds, iter(range(10**9))

        async def worker() -> None:
            while time.perf_counter() < deadline:
                await self.one(session, next(counter), time.perf_counter())

        await asyncio.gather(*(worker() for _ in range(workers)))
        self.out["send_s"] = seconds


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    probe = VisibilityProbe(args.probe_redis, args.rate) if args.probe_redis else None
    load = Load(kinds(args.orders)[args.kind], probe)
    cpu0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    connector = aiohttp.TCPConnector(limit=args.connections)
    timeout = aiohttp.ClientTimeout(total=TIMEOUT_S)
    headers = {"Authorization": f"Bearer {args.token}"} if args.token else {}
    async with aiohttp.ClientSession(
        args.url, connector=connector, timeout=timeout, headers=headers
    ) as session:
        if args.concurrency:
            await load.closed_loop(session, args.concurrency, args.seconds)
        else:
            await load.open_loop(session, args.rate, args.seconds)
    if probe is not None:
        await probe.finish()
    elapsed, cpu1 = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF)
    cpu = (cpu1.ru_utime - cpu0.ru_utime) + (cpu1.ru_stime - cpu0.ru_stime)
    load.out.update(rate=args.rate, elapsed_s=elapsed, cpu_percent=round(100 * cpu / elapsed, 1))
    load.out.update(visible_ms=probe.visible_ms if probe else [])
    load.out["visible_missed"] = probe.missed if probe else 0
    return load.out


def load_arguments(description: str) -> argparse.ArgumentParser:
    """The options every load generator's command line shares (this one and vegeta's)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--url", default="http://127.0.0.1:8001")
    parser.add_argument("--kind", choices=["place", "get", "noop"], default="place")
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--orders", type=int, default=1, help="how many bench-o… orders exist")
    parser.add_argument("--token", default=os.environ.get("ORDERS_WRITER_TOKEN", ""))
    return parser


def main() -> None:
    parser = load_arguments(__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=0, help="closed loop with N workers")
    parser.add_argument(
        "--connections", type=int, default=256, help="most requests in flight at once"
    )
    parser.add_argument("--probe-redis", default="", help="redis URL: watch ack -> visible")
    parser.add_argument("--out", type=Path, help="raw results (JSON); default: a summary")
    args = parser.parse_args()
    raw = asyncio.run(main_async(args))
    if args.out:
        args.out.write_text(json.dumps(raw))
        print(json.dumps({"written": str(args.out), "pid": os.getpid()}))
    else:
        from bench.stats import merge

        print(json.dumps(merge([raw]), indent=2))


if __name__ == "__main__":
    main()
