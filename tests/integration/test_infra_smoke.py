"""The test infrastructure itself: a real broker survives kill -9, Redis answers."""

from __future__ import annotations

import uuid

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from ordersource.kafka_read import read_partition
from tests.support.kafka_infra import KafkaBroker
from tests.support.redis_infra import RedisBroker

pytestmark = pytest.mark.integration


def _read_all(bootstrap: str, topic: str) -> list[tuple[bytes, bytes]]:
    """Every record of partition 0 up to its end offset at call time."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        records = read_partition(consumer, TopicPartition(topic, 0), timeout_s=60)
        return [(r.key, r.value) for r in records]
    finally:
        consumer.close()


def test_kafka_keeps_an_acknowledged_record_across_kill_and_restart(own_kafka: KafkaBroker) -> None:
    topic = f"smoke-{uuid.uuid4().hex[:8]}"
    own_kafka.create_topics([topic], partitions=1, configs={topic: {"retention.ms": "-1"}})

    producer = KafkaProducer(bootstrap_servers=own_kafka.bootstrap, acks="all")
    try:
        producer.send(topic, key=b"o1", value=b"hello", partition=0).get(timeout=30)
    finally:
        producer.close()
    assert _read_all(own_kafka.bootstrap, topic) == [(b"o1", b"hello")]

    own_kafka.kill()
    assert not own_kafka.is_running()
    own_kafka.start()
    own_kafka.wait_ready()

    assert _read_all(own_kafka.bootstrap, topic) == [(b"o1", b"hello")]


def test_session_kafka_lists_created_topics(kafka: KafkaBroker) -> None:
    topic = f"smoke-{uuid.uuid4().hex[:8]}"
    kafka.create_topics([topic], partitions=3)
    with kafka.admin() as admin:
        (described,) = admin.describe_topics([topic])
    assert len(described["partitions"]) == 3


def test_redis_answers_and_restarts_empty(own_redis: RedisBroker) -> None:
    with own_redis.client() as r:
        assert r.ping()
        r.set("k", "v")
    own_redis.restart()
    with own_redis.client() as r:
        assert r.get("k") is None


def test_settings_env_is_private_to_the_test(
    settings_env: dict[str, str], redis_server: RedisBroker, kafka: KafkaBroker
) -> None:
    assert settings_env["ORDERS_REDIS_URL"] == redis_server.url
    assert settings_env["ORDERS_EVENTS_TOPIC"].endswith(".orders.events")
    with kafka.admin() as admin:
        topics = set(admin.list_topics())
    names = ("ORDERS_COMMANDS_TOPIC", "ORDERS_EVENTS_TOPIC", "ORDERS_DLQ_TOPIC")
    assert {settings_env[n] for n in names} <= topics
