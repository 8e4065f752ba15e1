"""The fast path to a big synthetic log: the same orders as ``bench.datagen`` (five events
each, the same fates, fields and headers), written by Kafka's own console producer at
well over 10x datagen's rate, so 10M events take minutes, not hours.

How. Each of the four fates is encoded once with the real codec (``datagen.order_events``
of a template order, its per-order fields swapped for placeholders with ``model_copy``),
giving one ``%``-format template of five ``headers<TAB>key<TAB>value`` lines. An order is
then a single ``template % fields`` — its order id, customer, channel, payment and
tracking references, and event and command ids (deterministic, UUID-shaped, unique per
order and event) — piped to ``kafka-console-producer`` (``parse.key``, ``parse.headers``;
acks=all, idempotent, uncompressed like datagen). The key is the order id, so Kafka's
default partitioner (murmur2, the same in Java and kafka-python) puts an order's events
on the partition the decider owns it on.

Differences from datagen: the records are not transactional (no commit markers; a
read_committed reader sees them at once), and the event and command ids are not
UUIDv7s. ``check_template`` decodes a rendered order with the codec and compares it with
datagen's events; ``produce`` checks the topic grew by exactly the records sent.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import IO, Any

from kafka import KafkaConsumer, TopicPartition

from bench.datagen import CHANNELS, EVENTS_PER_ORDER, order_events, order_id
from ordersource import codec
from ordersource.domain import Event
from tests.support.kafka_infra import KAFKA_BIN

_PLACEHOLDERS = {
    "customer_id": "@@C@@",
    "channel": "@@H@@",
    "payment_ref": "@@P@@",
    "tracking_number": "@@T@@",
}
_FORMAT = {"@@O@@": "%(o)s", "@@C@@": "%(c)s", "@@H@@": "%(h)s", "@@P@@": "%(p)s",
           "@@T@@": "%(t)s"}  # fmt: skip
CHUNK_ORDERS = 2000
"""Orders rendered per write to the producer's stdin."""


def _event_id(slot: int) -> str:
    return f"00000000-0000-7000-8{slot:03d}-%(n)012d"


def _command_id(slot: int) -> str:
    return f"00000000-0000-7000-9{slot:03d}-%(n)012d"


def _template(fate: int, now: datetime) -> str:
    """The five lines of an order of this fate, with ``%(name)s`` where orders differ."""
    lines = []
    for slot, event in enumerate(order_events(fate, now)):
        data = event.data
        swap = {k: v for k, v in _PLACEHOLDERS.items() if k in type(data).model_fields}
        generic = event.model_copy(
            update={
                "order_id": "@@O@@",
                "event_id": "@E@",
                "command_id": "@K@",
                "data": data.model_copy(update=swap),
            }
        )
        value = codec.encode_event(generic).decode()
        headers = ",".join(f"{k}:{v.decode()}" for k, v in codec.event_headers(event))
        if any(c in value for c in "\t\n\r"):
            raise ValueError("an encoded event holds a tab or line break")
        lines.append(f"{headers}\t@@O@@\t{value}\n".replace("%", "%%"))
        lines[-1] = lines[-1].replace("@E@", _event_id(slot)).replace("@K@", _command_id(slot))
    text = "".join(lines)
    for token, field in _FORMAT.items():
        text = text.replace(token, field)
    if "@@" in text:
        raise ValueError(f"a placeholder was not replaced: {text}")
    return text


class Orders:
    """Renders orders ``first`` .. ``first + count - 1`` as console-producer lines."""

    def __init__(self, now: datetime | None = None) -> None:
        now = now or datetime.now(UTC)
        self.templates = [_template(fate, now) for fate in range(4)]
        self.now = now

    def render(self, n: int) -> str:
        fields: dict[str, Any] = {"o": order_id(n), "n": n, "c": f"c{n % 5000}",
                                  "h": CHANNELS[n % len(CHANNELS)], "p": f"psp-{n}",
                                  "t": f"t{n}"}  # fmt: skip
        return self.templates[n % 4] % fields

    def chunks(self, first: int, count: int) -> Iterator[bytes]:
        for start in range(first, first + count, CHUNK_ORDERS):
            stop = min(first + count, start + CHUNK_ORDERS)
            yield "".join(self.render(n) for n in range(start, stop)).encode()


def check_template(orders: Orders, n: int = 12345) -> None:
    """A rendered order decodes (the real codec) to datagen's events for the same order,
    ids aside, with the same headers and key; raises if not."""
    expected = list(order_events(n, orders.now))
    lines = orders.render(n).splitlines()
    assert len(lines) == len(expected) == EVENTS_PER_ORDER, lines
    seen_ids: set[str] = set()
    for line, want in zip(lines, expected, strict=True):
        header_text, key, value = line.split("\t")
        got: Event = codec.decode_event(value.encode())
        headers = [(h.split(":")[0], h.split(":")[1].encode()) for h in header_text.split(",")]
        assert headers == codec.event_headers(want), (headers, want)
        assert key == want.order_id, (key, want.order_id)
        ignore = {"event_id", "command_id"}
        assert got.model_dump(exclude=ignore) == want.model_dump(exclude=ignore), (got, want)
        seen_ids.update((got.event_id, got.command_id))
    assert len(seen_ids) == 2 * EVENTS_PER_ORDER, seen_ids


def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        parts = sorted(consumer.partitions_for_topic(topic) or [])
        ends = consumer.end_offsets([TopicPartition(topic, p) for p in parts])
        return {tp.partition: int(offset) for tp, offset in ends.items()}
    finally:
        consumer.close()


def producer_argv(bootstrap: str, topic: str) -> list[str]:
    argv = [str(KAFKA_BIN / "kafka-console-producer"), "--bootstrap-server", bootstrap]
    argv += ["--topic", topic, "--property", "parse.key=true", "--property", "parse.headers=true"]
    argv += ["--request-required-acks", "all", "--compression-codec", "none"]
    props = {"batch.size": 262144, "linger.ms": 20, "buffer.memory": 64 << 20,
             "request.timeout.ms": 30000, "delivery.timeout.ms": 300000,
             "retries": 2147483647, "enable.idempotence": "true",
             "max.request.size": 4 << 20}  # fmt: skip
    for key, value in props.items():
        argv += ["--producer-property", f"{key}={value}"]
    return argv


def _feed(stdin: IO[bytes], chunks: Iterator[bytes]) -> int:
    size = 0
    for chunk in chunks:
        stdin.write(chunk)
        size += len(chunk)
    stdin.close()
    return size


def produce(
    bootstrap: str, topic: str, first: int, orders: int, timeout: float = 1800.0
) -> dict[str, Any]:
    """Append orders ``first`` .. ``first + orders - 1`` to ``topic``; the fill rate."""
    rendered = Orders()
    check_template(rendered)
    before = end_offsets(bootstrap, topic)
    started = time.perf_counter()
    with tempfile.TemporaryFile() as errors:  # a file: a full pipe would stall the producer
        proc = subprocess.Popen(
            producer_argv(bootstrap, topic),
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=errors,
            start_new_session=True,
        )
        assert proc.stdin is not None
        try:
            line_bytes = _feed(proc.stdin, rendered.chunks(first, orders))
            proc.wait(timeout)
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        errors.seek(0)
        err = errors.read().decode(errors="replace")
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"kafka-console-producer exited {proc.returncode}:\n{err[-3000:]}")
    after = end_offsets(bootstrap, topic)
    events = orders * EVENTS_PER_ORDER
    grown = sum(after.values()) - sum(before.values())
    if grown != events:
        raise RuntimeError(
            f"topic grew by {grown} records, {events} sent; producer said:\n{err[-3000:]}"
        )
    return {
        "orders": orders,
        "events": events,
        "seconds": round(seconds, 2),
        "rate": round(events / seconds),
        "input_bytes": line_bytes,
        "per_partition": {p: after[p] - before.get(p, 0) for p in sorted(after)},
        "how": "kafka-console-producer, codec-encoded templates (bench.fastgen)",
    }
