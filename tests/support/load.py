"""Background command load at a fixed rate, recording a ``History`` (loopback only).

``slots`` orders are driven at once, each by one client that sends its commands one
after the other (place, a few modifies, pay), so the client knows the order's total and
a pay is valid. A modify carries ``If-Match`` with the version the client was last
acknowledged (a compare-and-set, for the linearizability check); a pay does not. Ticks
leave at ``rate`` per second; a tick finds an idle order or is dropped (counted as
``skipped``), so an outage cannot pile up unbounded work. Every command carries its own
Idempotency-Key; a 503, 202 or transport error is retried with the same key (safe by
contract) while the load runs. An order whose last command was not acknowledged is
retired: its state is no longer known to the client.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from ordersource.auth import ANONYMOUS, Principal
from ordersource.ids import command_id_for_key
from tests.support.history import ACKNOWLEDGED, REJECTED, REJECTIONS, History, Op, classify
from tests.support.http import limits

PRICE = 120


@dataclass
class _Order:
    order_id: str
    quantity: int = 0  # 0: not placed yet
    version: int = 0  # as last acknowledged
    modifies: int = 0
    seq: int = 0
    busy: bool = False


class CommandLoad:
    def __init__(
        self,
        base_url: str | Sequence[str],
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
        headers: Mapping[str, str] | None = None,
        principal: Principal = ANONYMOUS,
    ) -> None:
        """``price`` (cents) and ``max_quantity`` shape every order: one line of 1 to
        ``max_quantity`` units at ``price``, and a pay of exactly its total.

        Several base URLs: command APIs behind no balancer; the commands take turns
        among them and a retry goes to the next one (as a client-side balancer would).
        ``headers`` go with every request (e.g. ``Authorization``); ``principal``: whose
        token that is, as the API names it (a key is scoped to its sender, and so is the
        command id it stands for)."""
        self.bases = [base_url] if isinstance(base_url, str) else list(base_url)
        self.headers, self.principal = dict(headers or {}), principal
        self.rate, self.slots = rate, slots
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
        pool = limits((self.slots + 4) * len(self.bases))
        client = httpx.AsyncClient(timeout=self.timeout, limits=pool, headers=self.headers)
        async with client:
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

    def _next(self, order: _Order) -> tuple[str, str, dict[str, Any], int, int | None]:
        quantity = self._random.randint(1, self.max_quantity)
        if not order.quantity:
            body = {
                "order_id": order.order_id,
                "customer_id": f"c{self._random.randint(0, 9)}",
                "currency": "EUR",
                "items": [{"sku": "apple", "quantity": quantity, "unit_price_cents": self.price}],
            }
            return "place", "/orders", body, quantity, None
        path = f"/orders/{order.order_id}"
        if order.modifies < 3 and self._random.random() < 0.7:
            changes = {"changes": [{"sku": "apple", "quantity": quantity}]}
            return "modify", f"{path}/modify", changes, quantity, order.version
        pay = {"amount_cents": order.quantity * self.price, "payment_ref": f"psp-{order.seq}"}
        return "pay", f"{path}/pay", pay, order.quantity, None

    async def _drive(self, client: httpx.AsyncClient, slot: int) -> None:
        order = self._orders[slot]
        kind, path, body, quantity, expected = self._next(order)
        key = f"{order.order_id}.{order.seq}"
        order.seq += 1
        command_id = command_id_for_key(self.principal.scope(key))
        op = Op(key, command_id, order.order_id, kind, time.monotonic())
        op.expected = expected
        self.history.add(op)
        turn = len(self.history.ops) % len(self.bases)
        bases = self.bases[turn:] + self.bases[:turn]
        await send_recorded(
            client, op, path, body, self.max_attempts, self._stopping.is_set, bases=bases
        )
        if op.outcome == ACKNOWLEDGED and kind != "pay" and op.version is not None:
            order.quantity, order.modifies = quantity, order.modifies + (kind == "modify")
            order.version = op.version
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
    bases: Sequence[str] = ("",),
) -> None:
    """POST one command with its Idempotency-Key (``op.key``, and ``If-Match`` when
    ``op.expected`` is set) until it is acknowledged or rejected, at most ``max_attempts``
    times (a 503, 202 or transport error is retried with the same key after the API's
    Retry-After of 1 s), recording every attempt, the outcome, the acknowledged version
    and the version a refusal reports in ``op``. Attempt *n* goes to
    ``bases[n % len(bases)] + path`` (the default: the client's own base URL)."""
    for attempt in range(max_attempts):
        sent = time.monotonic()
        url = f"{bases[attempt % len(bases)]}{path}"
        status, answer = await post_command(client, url, body, op.key, op.expected)
        op.attempts.append((sent, time.monotonic(), status))
        op.outcome = classify(status)
        if op.outcome in (ACKNOWLEDGED, REJECTED) or stopping():
            break
        if attempt + 1 < max_attempts:
            await asyncio.sleep(1.0)
    if op.outcome == ACKNOWLEDGED:
        op.version = int(answer["version"])
    elif op.outcome == REJECTED and isinstance(answer, dict) and "version" in answer:
        op.reported = int(answer["version"])


async def post_command(
    client: httpx.AsyncClient,
    path: str,
    body: dict[str, Any],
    key: str,
    expected: int | None = None,
) -> tuple[int | str, Any]:
    """One attempt (with ``If-Match: "<expected>"`` if given): the HTTP status and, for
    200/201 and the refusals (404/409/412), the JSON answer; a transport error's name
    when the fate is unknown (refused, reset, timed out)."""
    headers = {"Idempotency-Key": key}
    if expected is not None:
        headers["If-Match"] = f'"{expected}"'
    try:
        response = await client.post(path, json=body, headers=headers)
    except httpx.HTTPError as exc:
        return type(exc).__name__, None
    answer = None
    if response.status_code in (200, 201) or response.status_code in REJECTIONS:
        with contextlib.suppress(ValueError):
            answer = response.json()
    return response.status_code, answer


RecordedCall = tuple[str, str, str, dict[str, Any], dict[str, str]]
"""order id, kind (place, modify …), path, JSON body, headers."""


def post_all_recorded(
    base_url: str,
    calls: Sequence[RecordedCall],
    history: History,
    concurrency: int = 50,
    timeout: float = 60.0,
) -> list[httpx.Response]:
    """Like ``tests.support.http.post_all`` (one attempt each, at most ``concurrency`` at a
    time, responses in call order, a transport error raised), recording each call in
    ``history`` as an ``Op``: its time, status, the version answered (2xx) or reported
    (409/412), its If-Match. Without an Idempotency-Key the op's key is only a label."""

    async def run() -> list[httpx.Response]:
        gate = asyncio.Semaphore(concurrency)
        pool = limits(concurrency)
        async with httpx.AsyncClient(base_url=base_url, timeout=timeout, limits=pool) as client:

            async def one(n: int, call: RecordedCall) -> httpx.Response:
                order_id, kind, path, body, headers = call
                async with gate:
                    op = Op(f"{order_id}#{n}", "", order_id, kind, time.monotonic())
                    match = headers.get("If-Match", "").strip('"')
                    op.expected = int(match) if match.isdigit() else None
                    history.add(op)
                    try:
                        response = await client.post(path, json=body, headers=headers)
                    except httpx.HTTPError as exc:
                        op.attempts.append((op.sent, time.monotonic(), type(exc).__name__))
                        raise
                    op.attempts.append((op.sent, time.monotonic(), response.status_code))
                op.outcome = classify(response.status_code)
                with contextlib.suppress(ValueError):
                    answer = response.json()
                    op.command_id = str(answer.get("command_id", ""))
                    if op.outcome == ACKNOWLEDGED:
                        op.version = int(answer["version"])
                    elif op.outcome == REJECTED and "version" in answer:
                        op.reported = int(answer["version"])
                return response

            return await asyncio.gather(*(one(n, c) for n, c in enumerate(calls)))

    return asyncio.run(run())


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
        pool = limits(concurrency)
        async with httpx.AsyncClient(base_url=base_url, timeout=12.0, limits=pool) as client:

            async def worker() -> None:
                while not queue.empty() and time.monotonic() < deadline:
                    i = queue.get_nowait()
                    order_id = f"h{run_id}-{i}"
                    items = MANY_LINES if i % many_lines_every == 0 else ONE_BIG_LINE
                    body = {"order_id": order_id, "customer_id": f"h{i % 5}", "currency": "EUR"}
                    key = f"{order_id}.0"
                    op = Op(key, command_id_for_key(key), order_id, "place", time.monotonic())
                    history.add(op)
                    # A client that sends as fast as it can is shed now and then
                    # (503 Overloaded, Retry-After 1 s): it retries, as a client should.
                    await send_recorded(client, op, "/orders", {**body, "items": items}, 10)
                    burst.acknowledged += op.outcome == ACKNOWLEDGED
                    if i % over_every == 0:
                        over = {**body, "order_id": f"{order_id}-over", "items": OVER_THE_BOUND}
                        status, _ = await post_command(client, "/orders", over, f"{order_id}.over")
                        burst.over_statuses.append(status)

            await asyncio.gather(*(worker() for _ in range(concurrency)))

    asyncio.run(run())
    return burst
