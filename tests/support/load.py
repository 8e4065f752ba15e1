"""Background command load at a fixed rate, recording a ``History`` (loopback only).

``slots`` orders are driven at once, each by one client that sends its commands one
after the other (place, a few modifies, pay), so the client knows the order's total and
a pay is valid. Ticks leave at ``rate`` per second; a tick finds an idle order or is
dropped (counted as ``skipped``), so an outage cannot pile up unbounded work. Every
command carries its own Idempotency-Key; a 503, 202 or transport error is retried with
the same key (safe by contract) while the load runs. An order whose last command was
not acknowledged is retired: its state is no longer known to the client.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from ordersource.ids import command_id_for_key
from tests.support.history import ACKNOWLEDGED, REJECTED, History, Op, classify

PRICE = 120


@dataclass
class _Order:
    order_id: str
    quantity: int = 0  # 0: not placed yet
    modifies: int = 0
    seq: int = 0
    busy: bool = False


class CommandLoad:
    def __init__(
        self,
        base_url: str,
        *,
        rate: float = 60.0,
        max_commands: int = 4000,
        max_seconds: float = 150.0,
        slots: int = 30,
        max_attempts: int = 3,
        timeout: float = 12.0,
        seed: int = 7,
        price: int = PRICE,
        max_quantity: int = 50,
    ) -> None:
        """``price`` (cents) and ``max_quantity`` shape every order: one line of 1 to
        ``max_quantity`` units at ``price``, and a pay of exactly its total."""
        self.base_url, self.rate, self.slots = base_url, rate, slots
        self.price, self.max_quantity = price, max_quantity
        self.max_commands, self.max_seconds = max_commands, max_seconds
        self.max_attempts, self.timeout = max_attempts, timeout
        self.history = History()
        self.skipped = 0
        self._run_id = uuid.uuid4().hex[:8]
        self._orders = [self._new_order() for _ in range(slots)]
        self._random = random.Random(seed)
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    def start(self) -> CommandLoad:
        self._thread.start()
        return self

    def stop(self, timeout: float = 90.0) -> None:
        """No new commands or retries; wait for those in flight (bounded by the timeouts)."""
        self._stopping.set()
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "load generator did not stop"

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def _new_order(self) -> _Order:
        return _Order(f"f{self._run_id}-{uuid.uuid4().hex[:10]}")

    async def _run(self) -> None:
        limits = httpx.Limits(max_connections=self.slots + 4)
        async with httpx.AsyncClient(
            base_url=self.base_url, timeout=self.timeout, limits=limits
        ) as client:
            tasks: set[asyncio.Task[None]] = set()
            start, tick, sent = time.monotonic(), 0, 0
            while not self._stopping.is_set() and sent < self.max_commands:
                if time.monotonic() - start > self.max_seconds:
                    break
                idle = [i for i, o in enumerate(self._orders) if not o.busy]
                if idle:
                    slot = self._random.choice(idle)
                    self._orders[slot].busy = True
                    task = asyncio.create_task(self._drive(client, slot))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                    sent += 1
                else:
                    self.skipped += 1
                tick += 1
                # Open loop: the schedule does not slow down when the server does.
                await asyncio.sleep(max(0.0, start + tick / self.rate - time.monotonic()))
            await asyncio.gather(*tasks)

    def _next(self, order: _Order) -> tuple[str, str, dict[str, Any], int]:
        quantity = self._random.randint(1, self.max_quantity)
        if not order.quantity:
            body = {
                "order_id": order.order_id,
                "customer_id": f"c{self._random.randint(0, 9)}",
                "currency": "EUR",
                "items": [{"sku": "apple", "quantity": quantity, "unit_price_cents": self.price}],
            }
            return "place", "/orders", body, quantity
        path = f"/orders/{order.order_id}"
        if order.modifies < 3 and self._random.random() < 0.7:
            changes = {"changes": [{"sku": "apple", "quantity": quantity}]}
            return "modify", f"{path}/modify", changes, quantity
        pay = {"amount_cents": order.quantity * self.price, "payment_ref": f"psp-{order.seq}"}
        return "pay", f"{path}/pay", pay, order.quantity

    async def _drive(self, client: httpx.AsyncClient, slot: int) -> None:
        order = self._orders[slot]
        kind, path, body, quantity = self._next(order)
        key = f"{order.order_id}.{order.seq}"
        order.seq += 1
        op = Op(key, command_id_for_key(key), order.order_id, kind, time.monotonic())
        self.history.add(op)
        await send_recorded(client, op, path, body, self.max_attempts, self._stopping.is_set)
        if op.outcome == ACKNOWLEDGED and kind != "pay":
            order.quantity, order.modifies = quantity, order.modifies + (kind == "modify")
            order.busy = False
        else:  # paid (done), rejected, or fate unknown: continue with a fresh order
            self._orders[slot] = self._new_order()


async def send_recorded(
    client: httpx.AsyncClient,
    op: Op,
    path: str,
    body: dict[str, Any],
    max_attempts: int,
    stopping: Callable[[], bool] = lambda: False,
) -> None:
    """POST one command with its Idempotency-Key (``op.key``) until it is acknowledged or
    rejected, at most ``max_attempts`` times (a 503, 202 or transport error is retried
    with the same key after the API's Retry-After of 1 s), recording every attempt, the
    outcome and the acknowledged version in ``op``."""
    for attempt in range(max_attempts):
        sent = time.monotonic()
        status, answer = await post_command(client, path, body, op.key)
        op.attempts.append((sent, time.monotonic(), status))
        op.outcome = classify(status)
        if op.outcome in (ACKNOWLEDGED, REJECTED) or stopping():
            break
        if attempt + 1 < max_attempts:
            await asyncio.sleep(1.0)
    if op.outcome == ACKNOWLEDGED:
        op.version = int(answer["version"])


async def post_command(
    client: httpx.AsyncClient, path: str, body: dict[str, Any], key: str
) -> tuple[int | str, Any]:
    """One attempt: the HTTP status and, for 200/201, the answer; a transport error's
    name when the fate is unknown (refused, reset, timed out)."""
    try:
        response = await client.post(path, json=body, headers={"Idempotency-Key": key})
    except httpx.HTTPError as exc:
        return type(exc).__name__, None
    answer = response.json() if response.status_code in (200, 201) else None
    return response.status_code, answer


ONE_BIG_LINE = [{"sku": "gold", "quantity": 1000, "unit_price_cents": 10**12}]
"""1,000 units at the largest unit price: 10^15 cents, the largest order total."""
MANY_LINES = [{"sku": f"s{i}", "quantity": 1000, "unit_price_cents": 10**10} for i in range(100)]
"""The most lines, each 1,000 units: 10^15 cents too (and the largest body)."""
OVER_THE_BOUND = [*ONE_BIG_LINE, {"sku": "one-more", "quantity": 1, "unit_price_cents": 1}]
"""10^15 + 1 cents: must be refused, and change nothing."""


@dataclass
class Burst:
    acknowledged: int = 0
    over_statuses: list[int | str] = field(default_factory=list)


def hostile_orders(
    base_url: str,
    history: History,
    count: int,
    *,
    concurrency: int = 16,
    max_seconds: float = 240.0,
    many_lines_every: int = 10,
    over_every: int = 100,
) -> Burst:
    """``count`` valid orders at the largest total (10^15 cents) in EUR, as fast as
    ``concurrency`` clients go, each recorded in ``history`` like the load's commands
    (retried with its key on 503/202/transport errors); every ``over_every``-th is
    followed by one just above the bound, whose answers are returned (all must be 422;
    they are not in the history, so one that reached the log is a phantom there)."""
    burst = Burst()
    run_id = uuid.uuid4().hex[:8]

    async def run() -> None:
        deadline = time.monotonic() + max_seconds
        queue: asyncio.Queue[int] = asyncio.Queue()
        for i in range(count):
            queue.put_nowait(i)
        limits = httpx.Limits(max_connections=concurrency)
        async with httpx.AsyncClient(base_url=base_url, timeout=12.0, limits=limits) as client:

            async def worker() -> None:
                while not queue.empty() and time.monotonic() < deadline:
                    i = queue.get_nowait()
                    order_id = f"h{run_id}-{i}"
                    items = MANY_LINES if i % many_lines_every == 0 else ONE_BIG_LINE
                    body = {"order_id": order_id, "customer_id": f"h{i % 5}", "currency": "EUR"}
                    key = f"{order_id}.0"
                    op = Op(key, command_id_for_key(key), order_id, "place", time.monotonic())
                    history.add(op)
                    await send_recorded(client, op, "/orders", {**body, "items": items}, 3)
                    burst.acknowledged += op.outcome == ACKNOWLEDGED
                    if i % over_every == 0:
                        over = {**body, "order_id": f"{order_id}-over", "items": OVER_THE_BOUND}
                        status, _ = await post_command(client, "/orders", over, f"{order_id}.over")
                        burst.over_statuses.append(status)

            await asyncio.gather(*(worker() for _ in range(concurrency)))

    asyncio.run(run())
    return burst
