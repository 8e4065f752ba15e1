"""Decider state snapshots in a compacted Kafka topic (``decider/snapshots.py``) on a real
broker: a round trip, and every snapshot that must be ignored — corrupt, of another
schema, written by a fenced writer (its tip is an aborted event), beyond a recreated
log — plus a writer killed with SIGKILL halfway through a snapshot."""

from __future__ import annotations

import hashlib
import os
import selectors
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import orjson
import pytest
from kafka import KafkaProducer, TopicPartition
from kafka.admin import ConfigResource, ConfigResourceType

from command_service.decider import metrics, snapshots
from command_service.decider.recovery import Snapshotter, Stores
from command_service.decider.snapshots import SnapshotHeader, WriterIdentity
from command_service.decider.store import SCHEMA, Outcome, StateStore, Tip, read_meta
from ordersource.domain import evolve
from ordersource.kafka_read import committed_reader, read_partition
from ordersource.settings import Settings
from tests.support.events import placed
from tests.support.kafka_infra import KafkaBroker
from tests.support.read_side import append
from tests.support.waiting import wait_until

pytestmark = pytest.mark.integration

WRITER = WriterIdentity("test-decider-0", producer_epoch=3, generation=7)


@dataclass
class Env:
    settings: Settings
    reader: Any
    producer: KafkaProducer
    tmp: Path

    @property
    def topic(self) -> str:
        return self.settings.snapshots_topic

    def event(self, order_id: str, *, abort: bool = False, partition: int = 0) -> Tip:
        """Append one event to the event log in a transaction (``abort``: aborted)."""
        event = placed(order_id)
        settings = self.settings
        (offset,) = append(
            settings.kafka_bootstrap,
            settings.events_topic,
            [event],
            abort=abort,
            partition=partition,
        )
        return Tip(offset, event.event_id)

    def store_file(
        self, partition: int, tip: Tip | None, next_offset: int, orders: int = 200
    ) -> Path:
        """A real store file folded up to ``next_offset`` (a ``copy_to`` copy)."""
        live = self.tmp / f"live-{uuid.uuid4().hex[:8]}.sqlite"
        store = StateStore(live, partition)
        try:
            states = [evolve(None, placed(f"order-{i}")) for i in range(orders)]
            outcomes = [
                (
                    str(uuid.uuid4()),
                    Outcome(s.order_id, 1, "placed", (str(uuid.uuid4()),), "h", True),
                )
                for s in states
            ]
            store.commit(states, outcomes, next_offset, tip, window=1000)
            copy = live.with_suffix(".copy")
            assert store.copy_to(copy) == (next_offset, tip)
        finally:
            store.close()
        return copy

    def publish(
        self, file: Path, next_offset: int, tip: Tip | None, partition: int = 0, **kw: Any
    ) -> SnapshotHeader:
        producer = kw.pop("producer", self.producer)
        previous = kw.pop("previous", None)
        return snapshots.publish(
            producer, self.topic, partition, file, next_offset, tip, WRITER, previous, **kw
        )

    def send(self, key: bytes, value: bytes | None, partition: int = 0) -> int:
        future = self.producer.send(self.topic, key=key, value=value, partition=partition)
        return int(future.get(timeout=10).offset)

    def restore(self, partition: int = 0, local_next_offset: int = 0) -> SnapshotHeader | None:
        target = self.tmp / f"restored-{partition}.sqlite"
        return snapshots.restore(self.reader, self.settings, partition, target, local_next_offset)


@pytest.fixture
def env(kafka: KafkaBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    prefix = f"t{uuid.uuid4().hex[:12]}"
    settings = Settings(
        kafka_bootstrap=kafka.bootstrap,
        events_topic=f"{prefix}.orders.events",
        snapshots_topic=f"{prefix}.orders.decider-snapshots",
        partitions=3,
    )
    kafka.create_topics(
        [settings.events_topic],
        partitions=3,
        configs={settings.events_topic: {"retention.ms": "-1", "cleanup.policy": "delete"}},
    )
    snapshots.ensure_topic(settings)
    monkeypatch.setattr(snapshots, "CHUNK_BYTES", 4096)  # several chunks per small store
    reader = committed_reader(settings, "test-snapshots")
    producer = snapshots.new_producer(settings, "test-snapshots")
    try:
        yield Env(settings, reader, producer, tmp_path)
    finally:
        producer.close()
        reader.close()


def ignored(reason: str) -> float:
    value = metrics.REGISTRY.get_sample_value(
        "orders_decider_snapshots_ignored_total", {"reason": reason}
    )
    assert value is not None
    return value


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_topic_is_compacted_and_ensure_topic_is_idempotent(
    env: Env, kafka: KafkaBroker
) -> None:
    snapshots.ensure_topic(env.settings)  # again: nothing to do
    with kafka.admin() as admin:
        (described,) = admin.describe_topics([env.topic])
        resource = ConfigResource(ConfigResourceType.TOPIC, env.topic)
        configs = admin.describe_configs([resource])["topic"][env.topic]
    assert len(described["partitions"]) == 3
    assert {k: configs[k]["value"] for k in snapshots.TOPIC_CONFIGS} == snapshots.TOPIC_CONFIGS


def test_publish_then_restore_round_trips_a_store(env: Env) -> None:
    env.event("before")
    tip = env.event("tip")
    file = env.store_file(0, tip, tip.offset + 2)  # + 2: past the commit marker
    restores = metrics.SNAPSHOT_RESTORES._value.get()

    header = env.publish(file, tip.offset + 2, tip)

    assert header.chunks == -(-file.stat().st_size // 4096) > 1
    assert header.size == file.stat().st_size
    assert header.sha256 == sha256(file)
    assert (header.schema, header.tip, header.partition) == (SCHEMA, tip, 0)
    assert (header.transactional_id, header.producer_epoch, header.generation) == (
        "test-decider-0",
        3,
        7,
    )
    assert snapshots.latest(env.reader, env.topic, 0) == header
    assert snapshots.latest(env.reader, env.topic, 1) is None

    restored = env.restore()
    assert restored == header
    target = env.tmp / "restored-0.sqlite"
    assert sha256(target) == header.sha256
    meta = read_meta(target)
    assert (meta["partition"], meta["next_offset"], meta["schema"]) == (0, tip.offset + 2, SCHEMA)
    assert (meta["tip_offset"], meta["tip_event_id"]) == (tip.offset, tip.event_id)
    assert StateStore(target, 0).counts() == {"open": 200, "closed": 0, "commands": 200}
    assert metrics.SNAPSHOT_RESTORES._value.get() == restores + 1

    # Not newer than the local store: not used, and not counted as ignored.
    before = {r: ignored(r) for r in ("corrupt", "schema", "tip")}
    assert env.restore(local_next_offset=tip.offset + 2) is None
    assert {r: ignored(r) for r in ("corrupt", "schema", "tip")} == before

    # The next snapshot supersedes it; the old one's chunks are tombstoned.
    later = env.event("later")
    second = env.publish(
        env.store_file(0, later, later.offset + 2), later.offset + 2, later, previous=header
    )
    assert env.restore(local_next_offset=tip.offset + 2) == second
    records = list(read_partition(env.reader, TopicPartition(env.topic, 0), timeout_s=30))
    tombstones = [
        r.key for r in records if r.value is None and r.offset > second.first_chunk_offset
    ]
    assert tombstones == header.chunk_keys()
    # ... and the header is written again after them: the partition's last record.
    assert (records[-1].offset, records[-1].key) == (second.offset, b"0")


class FlipByte:
    """A producer that corrupts one chunk on its way (after publish hashed it)."""

    def __init__(self, producer: KafkaProducer) -> None:
        self.producer, self.sent = producer, 0

    def send(self, topic: str, **kw: Any) -> Any:
        self.sent += 1
        if self.sent == 2:
            value = bytearray(kw["value"])
            value[100] ^= 0xFF
            kw["value"] = bytes(value)
        return self.producer.send(topic, **kw)

    def flush(self, timeout: float | None = None) -> None:
        self.producer.flush(timeout)


@pytest.mark.parametrize(
    ("damage", "logged"),
    [
        ("flipped-byte", "checksum mismatch"),
        ("checksum", "checksum mismatch"),
        ("missing-chunk", "chunk 0 of"),
        ("meta", "store meta disagrees on ['next_offset']"),
        ("not-a-store", "not a readable store"),
    ],
)
def test_a_corrupt_snapshot_is_ignored(
    env: Env, damage: str, logged: str, caplog: pytest.LogCaptureFixture
) -> None:
    tip = env.event("o")
    next_offset = tip.offset + 2
    file = env.store_file(0, tip, next_offset)
    before = ignored("corrupt")
    if damage == "flipped-byte":
        env.publish(file, next_offset, tip, producer=FlipByte(env.producer))
    elif damage == "checksum":
        header = env.publish(file, next_offset, tip)
        env.send(b"0", snapshots.encode_header(replace(header, sha256="0" * 64)))
    elif damage == "missing-chunk":
        header = env.publish(file, next_offset, tip)
        gone = replace(header, first_chunk_offset=header.first_chunk_offset + 1)
        env.send(b"0", snapshots.encode_header(gone))
    elif damage == "meta":
        env.event("another")  # the log reaches further, the store does not
        env.publish(file, next_offset + 1, tip)
    else:
        junk = env.tmp / "junk"
        junk.write_bytes(os.urandom(10_000))
        env.publish(junk, next_offset, tip)

    assert snapshots.latest(env.reader, env.topic, 0) is not None
    assert env.restore() is None
    assert ignored("corrupt") == before + 1
    assert logged in caplog.text
    assert not (env.tmp / "restored-0.sqlite").exists()
    assert not list(env.tmp.glob("*.part"))


def test_a_snapshot_of_another_schema_is_ignored(env: Env) -> None:
    tip = env.event("o")
    header = env.publish(env.store_file(0, tip, tip.offset + 2), tip.offset + 2, tip)
    env.send(b"0", snapshots.encode_header(replace(header, schema=SCHEMA + 1)))
    before = ignored("schema")
    assert env.restore() is None
    assert ignored("schema") == before + 1


def test_a_fenced_writers_snapshot_is_ignored(env: Env, caplog: pytest.LogCaptureFixture) -> None:
    committed = env.event("kept")
    zombie = env.event("ghost", abort=True)  # the zombie's transaction, aborted
    assert snapshots.tip_in_log(env.reader, env.settings.events_topic, 0, committed)
    assert not snapshots.tip_in_log(env.reader, env.settings.events_topic, 0, zombie)
    assert not snapshots.tip_in_log(
        env.reader, env.settings.events_topic, 0, Tip(committed.offset, "another-id")
    )
    assert not snapshots.tip_in_log(env.reader, env.settings.events_topic, 0, Tip(10_000, "x"))

    # The zombie folded its own aborted event and snapshotted that state.
    env.publish(env.store_file(0, zombie, zombie.offset + 1), zombie.offset + 1, zombie)
    before = ignored("tip")
    assert env.restore() is None
    assert ignored("tip") == before + 1
    assert f"its tip ghost-e1 at offset {zombie.offset} is not in the committed log" in caplog.text


def test_a_snapshot_beyond_the_log_is_ignored(env: Env, caplog: pytest.LogCaptureFixture) -> None:
    """The events topic was recreated: the snapshot's tip and offset are past its end."""
    tip = Tip(41, "gone-with-the-old-topic")
    env.publish(env.store_file(0, tip, 42), 42, tip)
    before = ignored("tip")
    assert env.restore() is None
    assert ignored("tip") == before + 1
    assert "it reaches offset 42, the log ends at 0" in caplog.text


def test_latest_skips_garbage_and_orphan_chunks(env: Env) -> None:
    tip = env.event("o")
    header = env.publish(env.store_file(0, tip, tip.offset + 2), tip.offset + 2, tip)
    before = ignored("corrupt")
    garbage = [
        b"garbage",
        b"\xff\xfe",
        b"[1, 2]",
        b"{}",
        b'{"kind": "header"}',
        b'{"kind": "header", "version": 99}',
        orjson.dumps({**orjson.loads(snapshots.encode_header(header)), "size": "big"}),
        snapshots.encode_header(replace(header, partition=2)),
    ]
    for value in garbage:
        env.send(b"0", value)
    env.send(b"0", None)
    for i in range(300):  # a crashed attempt's chunks: more than the first window
        env.producer.send(env.topic, key=f"0/orphan/{i}".encode(), value=b"x", partition=0)
    env.producer.flush(timeout=10)

    assert snapshots.latest(env.reader, env.topic, 0) == header
    assert ignored("corrupt") == before + len(garbage)
    assert env.restore() == header

    env.send(b"1", b"not a header", partition=1)
    assert snapshots.latest(env.reader, env.topic, 1) is None


KILLED_WRITER = """
import sys
from pathlib import Path

import orjson

from command_service.decider import snapshots
from command_service.decider.store import Tip
from ordersource.settings import Settings

args = orjson.loads(sys.argv[1])
settings = Settings(**args["settings"])
snapshots.CHUNK_BYTES = 1024
producer = snapshots.new_producer(settings, "killed-writer")


class Stalls:
    sent = 0

    def send(self, topic, **kw):
        future = producer.send(topic, **kw)
        self.sent += 1
        if self.sent == 3:
            producer.flush()
            print("stalled", flush=True)
            sys.stdin.read()  # until the test kills this process
        return future

    def flush(self, timeout=None):
        producer.flush(timeout)


tip = Tip(*args["tip"])
snapshots.publish(
    Stalls(), settings.snapshots_topic, 0, Path(args["file"]), args["next_offset"], tip,
    snapshots.WriterIdentity("killed-writer"), None,
)
print("published", flush=True)
"""


def test_kill_9_during_a_snapshot_write_leaves_the_previous_one(env: Env) -> None:
    first = env.event("first")
    a = env.publish(env.store_file(0, first, first.offset + 2), first.offset + 2, first)
    second = env.event("second")
    b_file = env.tmp / "b.sqlite"
    b_file.write_bytes(os.urandom(10 * 1024))  # 10 chunks of 1 KiB; it stalls after 3
    args = {
        "settings": env.settings.model_dump(
            include={"kafka_bootstrap", "events_topic", "snapshots_topic", "partitions"}
        ),
        "file": str(b_file),
        "next_offset": second.offset + 2,
        "tip": [second.offset, second.event_id],
    }
    writer = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, orjson.dumps(args).decode()],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert writer.stdout is not None
        with selectors.DefaultSelector() as selector:
            selector.register(writer.stdout, selectors.EVENT_READ)
            assert selector.select(timeout=60), "the writer never got to its third chunk"
        assert writer.stdout.readline() == b"stalled\n"
        strays = wait_until(
            lambda: snapshots.stray_chunks(env.reader, env.topic, 0, a),
            10,
            message="the killed writer's chunks never showed",
        )
        os.kill(writer.pid, signal.SIGKILL)
        assert writer.wait(timeout=10) == -signal.SIGKILL
    finally:
        if writer.poll() is None:
            writer.kill()
            writer.wait()

    assert len(strays) == 3
    assert all(k.startswith(b"0/") for k in strays)
    assert snapshots.latest(env.reader, env.topic, 0) == a
    assert env.restore() == a
    assert sha256(env.tmp / "restored-0.sqlite") == a.sha256

    # The next snapshot tombstones the orphans (compaction would keep them forever).
    c = env.publish(
        env.store_file(0, second, second.offset + 2),
        second.offset + 2,
        second,
        previous=a,
        strays=strays,
    )
    assert snapshots.stray_chunks(env.reader, env.topic, 0, c) == []
    assert snapshots.stray_chunks(env.reader, env.topic, 0, a) == c.chunk_keys()
    assert env.restore(local_next_offset=a.next_offset) == c


def test_a_refused_snapshot_is_said_and_retried_and_deciding_goes_on(
    env: Env, kafka: KafkaBroker
) -> None:
    """The broker answers but refuses every chunk (``max.message.bytes`` below a chunk):
    the round fails, ``status()`` (on /readyz) and the gauge say so with the reason and
    keep the first failure's time; once the topic takes chunks again, the next round
    writes the snapshot and clears both."""
    settings = env.settings.model_copy(update={"decider_snapshot_every_events": 100})
    stores = Stores(settings, env.tmp / "state", lambda: committed_reader(settings, "t-tips"))
    try:
        book = stores.book_for(0)
        events = [placed(f"order-{i}") for i in range(150)]
        offsets = append(settings.kafka_bootstrap, settings.events_topic, events, partition=0)
        book.store.commit(
            [evolve(None, e) for e in events],
            [],
            offsets[-1] + 2,  # past the commit marker
            Tip(offsets[-1], events[-1].event_id),
            window=1000,
        )
        snapshotter = Snapshotter(
            settings,
            stores,
            producer=lambda: snapshots.new_producer(settings, "t-snapshotter"),
            reader=lambda: committed_reader(settings, "t-snapshot-reader"),
            identity=lambda: WRITER,
            owned=lambda: [0],
        )
        failures = metrics.SNAPSHOT_FAILURES._value.get()
        with kafka.admin() as admin:
            admin.alter_configs([topic_configs(env.topic, {"max.message.bytes": "1024"})])
        wait_until(
            lambda: not snapshotter.attempt() and snapshotter.failure,
            30,
            message="a chunk over max.message.bytes was taken",
        )
        first = snapshotter.status()
        assert first["failing"] is True
        assert "TooLarge" in str(first["reason"]), first
        assert not snapshotter.attempt()
        assert snapshotter.status()["since"] == first["since"]  # the streak's start
        assert metrics.REGISTRY.get_sample_value("orders_decider_snapshots_failing") == 1
        assert metrics.SNAPSHOT_FAILURES._value.get() >= failures + 2
        assert snapshots.latest(env.reader, env.topic, 0) is None

        with kafka.admin() as admin:
            admin.alter_configs([topic_configs(env.topic, {"max.message.bytes": "1048588"})])
        wait_until(snapshotter.attempt, 30, message="the snapshot was never written")
        assert snapshotter.status() == {"failing": False}
        assert metrics.REGISTRY.get_sample_value("orders_decider_snapshots_failing") == 0
        header = snapshots.latest(env.reader, env.topic, 0)
        assert header is not None
        assert header.next_offset == offsets[-1] + 2
    finally:
        stores.close()


def topic_configs(topic: str, configs: dict[str, str]) -> ConfigResource:
    return ConfigResource(ConfigResourceType.TOPIC, topic, configs=configs)
