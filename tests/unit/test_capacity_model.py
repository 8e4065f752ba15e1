"""The capacity model (``bench.capacitymodel``): pure arithmetic on measured costs. The
figures here are made up for the tests; real ones come from ``python -m bench.capacity``."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import pytest

from bench import capacitymodel as cm
from bench.capacity import per_unit, topic_bytes

pytestmark = pytest.mark.unit


def costs(idle: float = 0.0, **changes: Any) -> cm.Costs:
    base = cm.Costs(
        command_ms={cm.COMMAND_API: 1.8, cm.DECIDER: 1.5, cm.KAFKA: 1.2, cm.REDIS: 0.1},
        event_ms={cm.PROJECTOR: 1.2},
        read_ms={cm.QUERY_API: 0.6, cm.REDIS: 0.05},
        idle_cores={k: idle for k in (*cm.PYTHON_KINDS, cm.KAFKA, cm.REDIS)},
        event_log_bytes=400.0,
        command_log_bytes=500.0,
        redis_order_bytes=1000.0,
        redis_event_bytes=300.0,
        replay_events_per_s=30_000.0,
    )
    return dataclasses.replace(base, **changes)


A = cm.Assumptions()


@pytest.mark.parametrize("rate", [100.0, 1_000.0, 37_000.0])
def test_doubling_the_rate_doubles_the_cores(rate: float) -> None:
    c = costs()
    one, two = cm.plan_rate(rate, c, A), cm.plan_rate(2 * rate, c, A)
    for kind in cm.PYTHON_KINDS:
        assert two.process(kind).work_cores == pytest.approx(2 * one.process(kind).work_cores)
        assert two.process(kind).cores == pytest.approx(2 * one.process(kind).cores)
    assert two.broker_cores == pytest.approx(2 * one.broker_cores)
    assert two.redis_cores == pytest.approx(2 * one.redis_cores)
    assert two.event_log_bytes_per_day == pytest.approx(2 * one.event_log_bytes_per_day)


def test_instances_are_the_cores_over_the_utilisation() -> None:
    plan = cm.plan_rate(10_000.0, costs(), A)
    decider = plan.process(cm.DECIDER)
    assert decider.rate == 30_000.0  # 3 commands per order
    assert decider.work_cores == pytest.approx(45.0)  # 30,000/s x 1.5 ms
    assert decider.instances == math.ceil(45.0 / 0.6)


def test_idle_cores_take_room_from_every_instance() -> None:
    busy, calm = cm.plan_rate(10_000.0, costs(idle=0.1), A), cm.plan_rate(10_000.0, costs(), A)
    decider = busy.process(cm.DECIDER)
    assert decider.instances == math.ceil(45.0 / 0.5)
    assert decider.instances > calm.process(cm.DECIDER).instances
    assert decider.cores == pytest.approx(45.0 + 0.1 * decider.instances)


def test_an_idle_share_above_the_utilisation_is_refused() -> None:
    with pytest.raises(ValueError, match="decider idles"):
        cm.plan_rate(1_000.0, costs(idle_cores={cm.DECIDER: 0.7}), A)


@pytest.mark.parametrize("partitions", [None, 1, 6, 48])
@pytest.mark.parametrize("rate", [10.0, 1_000.0, 100_000.0])
def test_instances_never_exceed_partitions(rate: float, partitions: int | None) -> None:
    a = dataclasses.replace(A, partitions=partitions)
    plan = cm.plan_rate(rate, costs(), a)
    for kind in cm.GROUPS:
        proc = plan.process(kind)
        assert proc.instances <= plan.partitions
        assert proc.max_instances == plan.partitions
        assert proc.fits == (proc.needed <= plan.partitions)


def test_a_fixed_partition_count_that_is_too_small_shows() -> None:
    plan = cm.plan_rate(100_000.0, costs(), dataclasses.replace(A, partitions=6))
    decider = plan.process(cm.DECIDER)
    assert (decider.instances, decider.fits) == (6, False)
    assert decider.needed > 6
    assert plan.process(cm.COMMAND_API).max_instances is None  # not a consumer group


def test_sized_partitions_have_headroom_and_the_step() -> None:
    plan = cm.plan_rate(10_000.0, costs(), A)
    largest = max(plan.process(k).needed for k in cm.GROUPS)
    assert plan.partitions >= A.partition_headroom * largest
    assert plan.partitions % A.partition_step == 0
    assert all(plan.process(k).fits for k in cm.GROUPS)
    assert cm.round_partitions(1, A) == 12  # at least min_partitions, then the step


def test_one_partition_count_serves_every_rate_of_the_table() -> None:
    parts = cm.partitions_for(costs(), A, 100_000.0)
    for rate in cm.RATES:
        plan = cm.plan_rate(rate, costs(), A, parts)
        assert plan.partitions == parts
        assert all(plan.process(k).fits for k in cm.GROUPS)


@pytest.mark.parametrize("rf", [1, 2, 3, 5])
def test_storage_scales_with_the_replication_factor(rf: int) -> None:
    a = dataclasses.replace(A, replication_factor=rf)
    one = cm.plan_log(1e9, costs(), dataclasses.replace(A, replication_factor=1))
    log = cm.plan_log(1e9, costs(), a)
    assert log.kafka_bytes == pytest.approx(rf * one.kafka_bytes)
    assert log.kafka_bytes == pytest.approx(1e9 * 400.0 * rf)
    assert log.redis_bytes == one.redis_bytes  # Redis holds one copy
    rate = cm.plan_rate(1_000.0, costs(), a)
    assert rate.command_log_bytes == pytest.approx(3_000 * 7 * 86_400 * 500.0 * rf)
    assert rate.brokers >= rf


def test_redis_memory_is_orders_plus_every_event_of_the_histories() -> None:
    log = cm.plan_log(1e9, costs(), A)
    assert log.orders == pytest.approx(1e9 / 3)
    assert log.redis_bytes == pytest.approx(1e9 / 3 * 1000.0 + 1e9 * 300.0)
    usable = 64 * cm.GIB * 0.75
    assert log.redis_nodes == math.ceil(log.redis_bytes / usable)
    assert cm.plan_log(1_000.0, costs(), A).redis_nodes == 1
    assert log.rebuild_s == pytest.approx(1e9 / 30_000.0)


def test_limits_grow_with_partitions_and_redis_does_not() -> None:
    six, sixty = cm.limits(costs(), A, 6), cm.limits(costs(), A, 60)
    for kind in cm.GROUPS:
        assert sixty.group_orders_per_s[kind] == pytest.approx(10 * six.group_orders_per_s[kind])
    # decider: 6 instances x 0.6 cores / (3 commands x 1.5 ms)
    assert six.group_orders_per_s[cm.DECIDER] == pytest.approx(6 * 0.6 * 1000 / 4.5)
    assert sixty.redis_cpu_orders_per_s == six.redis_cpu_orders_per_s
    assert six.redis_cpu_orders_per_s == pytest.approx(0.6 * 1000 / (3 * 0.1 + 5 * 0.05))
    assert six.redis_memory_orders == pytest.approx(64 * cm.GIB * 0.75 / (1000.0 + 3 * 300.0))


def test_redis_beyond_one_thread_is_flagged() -> None:
    calm, hot = cm.plan_rate(100.0, costs(), A), cm.plan_rate(100_000.0, costs(), A)
    assert calm.redis_nodes_for_cpu == 1
    assert hot.redis_nodes_for_cpu > 1


def results() -> dict[str, Any]:
    """A made-up document shaped like ``bench.capacity``'s results."""
    names = (*cm.PYTHON_KINDS, cm.KAFKA, cm.REDIS)
    return {
        "timestamp": "20270101T000000Z",
        "quick": True,
        "stack": {"partitions": 6},
        "idle": {"cores": dict.fromkeys(names, 0.01)},
        "commands": {"accepted": 1000, "events": 1000,
                     "marginal_ms": {**dict.fromkeys(names, 0.0), cm.COMMAND_API: 1.8,
                                     cm.DECIDER: 1.5, cm.PROJECTOR: 1.2, cm.KAFKA: 1.3,
                                     cm.REDIS: 0.1}},
        "reads": {"marginal_ms": {**dict.fromkeys(names, 0.0), cm.QUERY_API: 0.6,
                                  cm.REDIS: 0.05}},
        "kafka_storage": {
            "events": {"generated": {"bytes_per_event": 380.0},
                       "decider": {"bytes_per_event": 420.0}},
            "commands": {"bytes_per_record": 510.0},
        },
        "redis_memory": {"view_and_indexes_per_order": 1100.0, "history_bytes_per_event": 310.0},
        "replay": {"rate": 25_000.0},
    }  # fmt: skip


def test_costs_from_results() -> None:
    c = cm.from_results(results())
    assert c.command_ms == {cm.COMMAND_API: 1.8, cm.DECIDER: 1.5, cm.KAFKA: 1.3, cm.REDIS: 0.1}
    assert c.event_ms == {cm.PROJECTOR: 1.2}
    assert c.read_ms == {cm.QUERY_API: 0.6, cm.REDIS: 0.05}
    assert c.event_log_bytes == 420.0  # the larger of the two event figures
    assert (c.command_log_bytes, c.redis_order_bytes, c.redis_event_bytes) == (510.0, 1100.0, 310.0)
    assert c.replay_events_per_s == 25_000.0


def test_markdown_has_every_table() -> None:
    text = cm.markdown(cm.from_results(results()), A)
    for part in ("### Measured costs", "1k orders/s", "10k orders/s", "100k orders/s",
                 "1,000,000,000 events", "where it stops", "6 partitions"):  # fmt: skip
        assert part in text
    assert "nan" not in text.lower()


def test_per_unit_subtracts_the_idle_rate() -> None:
    window: dict[str, Any] = {"wall_s": 10.0, "cpu_s": {"a": 3.0, "b": 0.05}}
    per_unit(window, {"a": 0.1, "b": 0.01}, 1000)
    assert window["gross_ms"] == {"a": 3.0, "b": 0.05}
    assert window["marginal_ms"] == {"a": 2.0, "b": 0.0}  # never below zero


def test_topic_bytes_counts_only_that_topics_log_segments(tmp_path: Any) -> None:
    for folder, files in {"t.orders.events-0": {"0.log": 100, "0.index": 10_000},
                          "t.orders.events-1": {"0.log": 50, "9.log": 25},
                          "t.orders.events.dlq-0": {"0.log": 7}}.items():  # fmt: skip
        (tmp_path / folder).mkdir()
        for name, size in files.items():
            (tmp_path / folder / name).write_bytes(b"x" * size)
    found = topic_bytes(tmp_path, "t.orders.events")
    assert found == {"bytes": 175, "segments": 3, "partitions": 2}
