"""CPU per command send: kafka-python's producer against aiokafka's, the way the command
API sends (one record per request, acks=all, awaited on an asyncio loop).

The figures behind the command API's choice of aiokafka (``command_service.api.commandlog``).
Loopback only; the topic must exist (``make run`` creates ``orders.commands``; the records
sent here are not commands, so use a scratch topic on a scratch broker, or accept that
the decider refuses them as undecodable).

    python -m bench.producers --bootstrap 127.0.0.1:9092 --topic bench.producers
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import time
from typing import Any

VALUE = b"x" * 300  # about a command record's size


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def kafka_python(bootstrap: str, topic: str, sends: int, gap_s: float) -> dict[str, Any]:
    from kafka import KafkaProducer

    producer = KafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        linger_ms=1,
        enable_idempotence=False,
        metrics_enabled=False,
    )
    producer.send(topic, VALUE).get(10)
    loop = asyncio.get_running_loop()
    cpu, started = _cpu(), time.perf_counter()
    for n in range(sends):
        done: asyncio.Future[Any] = loop.create_future()
        sent = producer.send(topic, key=str(n).encode(), value=VALUE)
        sent.add_callback(lambda md, f=done: loop.call_soon_threadsafe(f.set_result, md))
        await asyncio.sleep(gap_s)
    result = _figures(sends, cpu, started)
    producer.close()
    return result


async def aiokafka(bootstrap: str, topic: str, sends: int, gap_s: float) -> dict[str, Any]:
    from aiokafka import AIOKafkaProducer  # type: ignore[import-untyped]

    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=1, enable_idempotence=False
    )
    await producer.start()
    await (await producer.send(topic, VALUE))
    cpu, started = _cpu(), time.perf_counter()
    pending = []
    for n in range(sends):
        pending.append(await producer.send(topic, VALUE, key=str(n).encode()))
        await asyncio.sleep(gap_s)
    await asyncio.gather(*pending)
    result = _figures(sends, cpu, started)
    await producer.stop()
    return result


def _figures(sends: int, cpu: float, started: float) -> dict[str, Any]:
    elapsed = time.perf_counter() - started
    return {
        "sends": sends,
        "rate_per_s": round(sends / elapsed),
        "cpu_us_per_send": round((_cpu() - cpu) / sends * 1e6),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--topic", default="bench.producers")
    parser.add_argument("--sends", type=int, default=1000)
    parser.add_argument("--gap-ms", type=float, default=4.0, help="pause between sends")
    args = parser.parse_args()
    out = {}
    for name, run in (("kafka-python", kafka_python), ("aiokafka", aiokafka)):
        out[name] = asyncio.run(run(args.bootstrap, args.topic, args.sends, args.gap_ms / 1000))
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
