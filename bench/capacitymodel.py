"""The capacity model: from the per-unit costs ``bench.capacity`` measured (ms of CPU per
command, per event and per read of each process, bytes per event and per order), the
plan for a given order rate and for a log of a given size. Pure: no I/O, no clock.

How it counts (``Assumptions`` holds every number that is not measured):

* An order is ``commands_per_order`` commands (default 3: place, one modify, pay), each
  accepted command one event (``events_per_order``, default 3), and it is read
  ``reads_per_order`` times (default 5). Every command is charged what a measured
  ``PlaceOrder`` cost (the bench drives ``POST /orders`` only).
* A process kind's CPU is ``rate * ms per unit`` (the *marginal* cost: the measured window
  minus what the process burns idle) plus its idle share per instance. A Python process
  uses one core at most (the GIL), and is planned busy ``utilisation`` of it (default
  0.6): ``instances = ceil(work cores / (utilisation - idle cores of one instance))``.
* The decider and the projector are consumer groups: no more busy instances than
  partitions. A rate's partitions are ``partition_headroom`` times the larger of the two
  instance counts, rounded up to a multiple of ``partition_step`` (never below
  ``min_partitions``): the headroom is how far the rate can grow on the same topics, as
  a topic's partition count cannot be changed later without moving keys (an order id's
  partition is its key's hash modulo the count; the decider's state and the
  projection's checkpoints are per partition).
* The Kafka broker's CPU was measured on one node at replication factor 1; the model
  charges it ``replication_factor`` times (each follower's write counted like the
  leader's: an upper bound) over brokers of ``broker_cores`` cores.
* Kafka storage is bytes on disk per event (``.log`` segments, uncompressed as the
  producers send them) times events times replication factor; Redis memory is the view and
  indexes per order plus the history per event, every event kept (the projector never
  trims a history), on one node (``ORDERS_REDIS_URL``: no cluster mode) of
  ``redis_node_bytes`` filled to ``redis_fill`` at most.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

COMMAND_API, DECIDER, PROJECTOR, QUERY_API = "command-api", "decider", "projector", "query-api"
KAFKA, REDIS = "kafka", "redis"
PYTHON_KINDS = (COMMAND_API, DECIDER, PROJECTOR, QUERY_API)
"""Python processes, one core each at most; the others (broker JVM, Redis) are not."""
GROUPS = (DECIDER, PROJECTOR)
"""Consumer groups: at most one busy instance per partition."""
TOPICS_AT_PARTITIONS = 4
"""Topics created with ``ORDERS_PARTITIONS`` partitions: commands, events, events.dlq
and decider-snapshots (at least as many)."""
GIB = 1024**3
TIMES = "\u00d7"
DAY_S = 86_400.0
RATES = (1_000.0, 10_000.0, 100_000.0)
LOG_EVENTS = 1_000_000_000


@dataclass(frozen=True)
class Costs:
    """The measured figures the plan is computed from (``from_results``)."""

    command_ms: Mapping[str, float]
    """Marginal ms of CPU per accepted command: command-api, decider, kafka, redis."""
    event_ms: Mapping[str, float]
    """Marginal ms of CPU per event: projector."""
    read_ms: Mapping[str, float]
    """Marginal ms of CPU per read (``GET /orders/{id}``): query-api, redis."""
    idle_cores: Mapping[str, float]
    """Cores each process used with no load (one instance)."""
    event_log_bytes: float
    """Bytes on disk per event in the events topic, one replica."""
    command_log_bytes: float
    """Bytes on disk per command in the commands topic, one replica."""
    redis_order_bytes: float
    """Redis bytes per order: its view and its share of the indexes."""
    redis_event_bytes: float
    """Redis bytes per event kept in an order's history."""
    replay_events_per_s: float
    """``orders replay --to-earliest --blue-green`` (one process), events per second."""
    partitions_measured: int = 6
    """The partition count of the stack the figures come from."""


@dataclass(frozen=True)
class Assumptions:
    """What the plan assumes besides the measured costs (each one stated in the tables)."""

    commands_per_order: float = 3.0
    events_per_order: float = 3.0
    reads_per_order: float = 5.0
    utilisation: float = 0.6
    """Planned busy share of a core (a Python process, Redis's main thread, a broker's)."""
    replication_factor: int = 3
    partitions: int | None = None
    """A fixed partition count (e.g. today's 6); None: sized by the plan."""
    partition_headroom: float = 2.0
    partition_step: int = 12
    min_partitions: int = 6
    broker_cores: int = 8
    partitions_per_broker: int = 4_000
    """Partition replicas per broker, a common rule of thumb (not measured here)."""
    redis_node_bytes: int = 64 * GIB
    redis_fill: float = 0.75
    """Share of a Redis node's memory the data may take (the rest: fragmentation and the
    copy-on-write of an AOF rewrite's fork)."""
    command_retention_s: float = 7 * DAY_S
    """The commands topic keeps the broker's default retention (7 days)."""


@dataclass(frozen=True)
class ProcessPlan:
    kind: str
    unit: str
    rate: float
    """Units (commands, events or reads) per second."""
    ms_per_unit: float
    work_cores: float
    needed: int
    """Instances the work needs at the planned utilisation."""
    instances: int
    """Instances that can be busy: ``needed``, capped at the partitions for a group."""
    cores: float
    """What the work needs: ``work_cores`` plus the idle share of ``needed`` instances."""
    max_instances: int | None
    """The partitions for a consumer group; None: no bound from Kafka."""

    @property
    def fits(self) -> bool:
        return self.max_instances is None or self.needed <= self.max_instances


@dataclass(frozen=True)
class RatePlan:
    orders_per_s: float
    commands_per_s: float
    events_per_s: float
    reads_per_s: float
    partitions: int
    processes: tuple[ProcessPlan, ...]
    broker_cores: float
    brokers: int
    redis_cores: float
    redis_nodes_for_cpu: int
    """Redis main threads the load needs; more than 1 means sharding the code lacks."""
    event_log_bytes_per_day: float
    command_log_bytes: float
    """The commands topic at its retention, all replicas."""
    redis_bytes_per_day: float

    def process(self, kind: str) -> ProcessPlan:
        return next(p for p in self.processes if p.kind == kind)

    @property
    def python_cores(self) -> float:
        return sum(p.cores for p in self.processes)


@dataclass(frozen=True)
class LogPlan:
    events: float
    orders: float
    kafka_bytes: float
    """The events topic, all replicas."""
    redis_bytes: float
    redis_nodes: int
    """Nodes of ``redis_node_bytes`` at ``redis_fill`` the views need (1 = one node)."""
    rebuild_s: float
    """A full rebuild (``orders replay --to-earliest --blue-green``, one process)."""


@dataclass(frozen=True)
class Limits:
    """Where each part stops scaling, for one partition count."""

    partitions: int
    group_orders_per_s: dict[str, float] = field(default_factory=dict)
    """Orders per second the decider and projector groups reach with one instance per
    partition at the planned utilisation."""
    redis_cpu_orders_per_s: float = 0.0
    redis_memory_orders: float = 0.0
    redis_memory_events: float = 0.0
    partition_replicas: int = 0


def _need(costs: Mapping[str, float], kind: str, what: str) -> float:
    if kind not in costs:
        raise ValueError(f"no measured {what} for {kind}")
    return float(costs[kind])


def per_instance(costs: Costs, a: Assumptions, kind: str) -> float:
    """Cores one instance of ``kind`` has for work: the planned utilisation minus its idle."""
    room = a.utilisation - costs.idle_cores.get(kind, 0.0)
    if room <= 0:
        raise ValueError(f"{kind} idles at {costs.idle_cores[kind]:.3f} cores: above utilisation")
    return room


def instances_for(work_cores: float, room: float) -> int:
    """``ceil(work / room)``, at least one instance."""
    return max(1, math.ceil(work_cores / room - 1e-9))


def round_partitions(instances: int, a: Assumptions) -> int:
    """``partition_headroom`` times ``instances``, up to a multiple of ``partition_step``."""
    wanted = max(a.min_partitions, math.ceil(instances * a.partition_headroom - 1e-9))
    return a.partition_step * math.ceil(wanted / a.partition_step)


def _units(
    costs: Costs, a: Assumptions, orders_per_s: float
) -> dict[str, tuple[str, float, float]]:
    """Per Python kind: its unit, units per second, ms per unit."""
    commands, events = orders_per_s * a.commands_per_order, orders_per_s * a.events_per_order
    reads = orders_per_s * a.reads_per_order
    return {
        COMMAND_API: ("command", commands, _need(costs.command_ms, COMMAND_API, "ms/command")),
        DECIDER: ("command", commands, _need(costs.command_ms, DECIDER, "ms/command")),
        PROJECTOR: ("event", events, _need(costs.event_ms, PROJECTOR, "ms/event")),
        QUERY_API: ("read", reads, _need(costs.read_ms, QUERY_API, "ms/read")),
    }


def partitions_for(costs: Costs, a: Assumptions, orders_per_s: float) -> int:
    """The fixed count, else sized for the larger of the decider and projector groups."""
    if a.partitions is not None:
        return a.partitions
    units = _units(costs, a, orders_per_s)
    largest = max(
        instances_for(units[k][1] * units[k][2] / 1000, per_instance(costs, a, k)) for k in GROUPS
    )
    return round_partitions(largest, a)


def plan_rate(
    orders_per_s: float, costs: Costs, a: Assumptions, partitions: int | None = None
) -> RatePlan:
    """The plan for ``orders_per_s``; ``partitions``: as sized elsewhere (one count for
    every rate of a table), else ``partitions_for`` this rate."""
    parts = partitions if partitions is not None else partitions_for(costs, a, orders_per_s)
    processes = []
    for kind, (unit, rate, ms) in _units(costs, a, orders_per_s).items():
        work, room = rate * ms / 1000, per_instance(costs, a, kind)
        needed = instances_for(work, room)
        bound = parts if kind in GROUPS else None
        running = needed if bound is None else min(needed, bound)
        cores = work + costs.idle_cores.get(kind, 0.0) * needed
        processes.append(ProcessPlan(kind, unit, rate, ms, work, needed, running, cores, bound))
    commands = orders_per_s * a.commands_per_order
    reads = orders_per_s * a.reads_per_order
    broker_work = commands * _need(costs.command_ms, KAFKA, "ms/command") / 1000
    broker_work *= a.replication_factor
    by_cpu = math.ceil(broker_work / (a.broker_cores * a.utilisation) - 1e-9)
    replicas = parts * TOPICS_AT_PARTITIONS * a.replication_factor
    by_partitions = math.ceil(replicas / a.partitions_per_broker)
    brokers = max(a.replication_factor, by_cpu, by_partitions)
    redis_work = commands * _need(costs.command_ms, REDIS, "ms/command") / 1000
    redis_work += reads * _need(costs.read_ms, REDIS, "ms/read") / 1000
    redis_room = per_instance(costs, a, REDIS)
    event_bytes = orders_per_s * a.events_per_order * costs.event_log_bytes * a.replication_factor
    per_order = costs.redis_order_bytes + a.events_per_order * costs.redis_event_bytes
    return RatePlan(
        orders_per_s=orders_per_s,
        commands_per_s=commands,
        events_per_s=orders_per_s * a.events_per_order,
        reads_per_s=reads,
        partitions=parts,
        processes=tuple(processes),
        broker_cores=broker_work + costs.idle_cores.get(KAFKA, 0.0) * brokers,
        brokers=brokers,
        redis_cores=redis_work + costs.idle_cores.get(REDIS, 0.0),
        redis_nodes_for_cpu=instances_for(redis_work, redis_room),
        event_log_bytes_per_day=event_bytes * DAY_S,
        command_log_bytes=commands
        * a.command_retention_s
        * costs.command_log_bytes
        * a.replication_factor,
        redis_bytes_per_day=orders_per_s * per_order * DAY_S,
    )


def plan_log(events: float, costs: Costs, a: Assumptions) -> LogPlan:
    """Storage for a log of ``events`` events (every order's history kept in Redis)."""
    orders = events / a.events_per_order
    redis_bytes = orders * costs.redis_order_bytes + events * costs.redis_event_bytes
    usable = a.redis_node_bytes * a.redis_fill
    return LogPlan(
        events=events,
        orders=orders,
        kafka_bytes=events * costs.event_log_bytes * a.replication_factor,
        redis_bytes=redis_bytes,
        redis_nodes=max(1, math.ceil(redis_bytes / usable - 1e-9)),
        rebuild_s=events / costs.replay_events_per_s if costs.replay_events_per_s else math.inf,
    )


def limits(costs: Costs, a: Assumptions, partitions: int) -> Limits:
    """How far each part goes: the groups with ``partitions`` instances, one Redis node."""
    per_order = {
        DECIDER: a.commands_per_order * _need(costs.command_ms, DECIDER, "ms/command"),
        PROJECTOR: a.events_per_order * _need(costs.event_ms, PROJECTOR, "ms/event"),
    }
    groups = {
        kind: partitions * per_instance(costs, a, kind) * 1000 / ms if ms else math.inf
        for kind, ms in per_order.items()
    }
    redis_ms = a.commands_per_order * _need(costs.command_ms, REDIS, "ms/command")
    redis_ms += a.reads_per_order * _need(costs.read_ms, REDIS, "ms/read")
    redis_cpu = per_instance(costs, a, REDIS) * 1000 / redis_ms if redis_ms else math.inf
    per_order_bytes = costs.redis_order_bytes + a.events_per_order * costs.redis_event_bytes
    orders = a.redis_node_bytes * a.redis_fill / per_order_bytes
    return Limits(
        partitions=partitions,
        group_orders_per_s=groups,
        redis_cpu_orders_per_s=redis_cpu,
        redis_memory_orders=orders,
        redis_memory_events=orders * a.events_per_order,
        partition_replicas=partitions * TOPICS_AT_PARTITIONS * a.replication_factor,
    )


def from_results(results: Mapping[str, Any]) -> Costs:
    """``Costs`` from a ``bench.capacity`` results document. The events topic's bytes per
    event is the larger of the generated log's (bench.datagen's event mix) and the
    decider's own writes' (its transactions' markers included)."""
    commands, reads = results["commands"], results["reads"]
    storage = results["kafka_storage"]
    per_event = commands["accepted"] / commands["events"] if commands["events"] else 1.0
    event_bytes = [
        storage["events"][k]["bytes_per_event"]
        for k in ("generated", "decider")
        if storage["events"].get(k, {}).get("bytes_per_event") is not None
    ]
    mem = results["redis_memory"]
    return Costs(
        command_ms={k: commands["marginal_ms"][k] for k in (COMMAND_API, DECIDER, KAFKA, REDIS)},
        event_ms={PROJECTOR: commands["marginal_ms"][PROJECTOR] * per_event},
        read_ms={k: reads["marginal_ms"][k] for k in (QUERY_API, REDIS)},
        idle_cores=dict(results["idle"]["cores"]),
        event_log_bytes=max(event_bytes),
        command_log_bytes=storage["commands"]["bytes_per_record"],
        redis_order_bytes=mem["view_and_indexes_per_order"],
        redis_event_bytes=mem["history_bytes_per_event"],
        replay_events_per_s=float(results["replay"]["rate"] or 0.0),
        partitions_measured=int(results.get("stack", {}).get("partitions", 6)),
    )


# -- markdown ---------------------------------------------------------------------------


def _n(value: float, digits: int = 0) -> str:
    return "∞" if math.isinf(value) else f"{value:,.{digits}f}"


def _bytes(value: float) -> str:
    for unit, size in (("PiB", 1024**5), ("TiB", 1024**4), ("GiB", GIB), ("MiB", 1024**2)):
        if value >= size:
            return f"{value / size:,.1f} {unit}"
    return f"{value:,.0f} B"


def _duration(seconds: float) -> str:
    if math.isinf(seconds):
        return "n/a"
    if seconds >= 2 * DAY_S:
        return f"{seconds / DAY_S:,.1f} days"
    return f"{seconds / 3600:,.1f} h" if seconds >= 3600 else f"{seconds / 60:,.1f} min"


def _rate(value: float) -> str:
    return f"{value / 1000:g}k" if value >= 1000 else f"{value:g}"


def assumptions_line(a: Assumptions) -> str:
    return (
        f"Assumed: an order is {a.commands_per_order:g} commands (place, modify, pay), "
        f"{a.events_per_order:g} events and {a.reads_per_order:g} reads; every command "
        f"costs what a measured PlaceOrder did; Python processes planned at "
        f"{a.utilisation:.0%} of one core; replication factor {a.replication_factor}; "
        f"partitions {a.partition_headroom:g}{TIMES} the larger group (room to grow "
        f"{a.partition_headroom:g}{TIMES} on the same topics: a partition count cannot change "
        f"without moving keys), a multiple of {a.partition_step}; brokers of "
        f"{a.broker_cores} cores, at most "
        f"{a.partitions_per_broker:,} partition replicas each (rule of thumb); one Redis "
        f"node of {_bytes(a.redis_node_bytes)} filled to {a.redis_fill:.0%}."
    )


def costs_table(costs: Costs) -> list[str]:
    rows = [
        ("command API", "command", costs.command_ms.get(COMMAND_API), COMMAND_API),
        ("decider", "command", costs.command_ms.get(DECIDER), DECIDER),
        ("projector", "event", costs.event_ms.get(PROJECTOR), PROJECTOR),
        ("Kafka broker (RF 1)", "command", costs.command_ms.get(KAFKA), KAFKA),
        ("Redis", "command", costs.command_ms.get(REDIS), REDIS),
        ("query API", "read", costs.read_ms.get(QUERY_API), QUERY_API),
        ("Redis", "read", costs.read_ms.get(REDIS), REDIS),
    ]
    lines = ["| process | ms CPU per unit (marginal) | unit | per core (units/s) | idle cores |",
             "|---|---|---|---|---|"]  # fmt: skip
    for name, unit, ms, kind in rows:
        per_core = _n(1000 / ms) if ms else "∞"
        shown = "-" if ms is None else f"{ms:.3f}"
        idle = costs.idle_cores.get(kind, 0.0)
        lines.append(f"| {name} | {shown} | {unit} | {per_core} | {idle:.3f} |")
    lines += [
        "",
        "| storage | bytes |",
        "|---|---|",
        f"| Kafka events topic, per event (one replica) | {costs.event_log_bytes:,.1f} |",
        f"| Kafka commands topic, per command (one replica) | {costs.command_log_bytes:,.1f} |",
        f"| Redis view + indexes, per order | {costs.redis_order_bytes:,.1f} |",
        f"| Redis history, per event | {costs.redis_event_bytes:,.1f} |",
        "",
        f"Rebuild (`orders replay --to-earliest --blue-green`, one process): "
        f"{_n(costs.replay_events_per_s)} events/s.",
    ]
    return lines


def rate_table(plans: Sequence[RatePlan], a: Assumptions) -> list[str]:
    head = "| | " + " | ".join(f"{_rate(p.orders_per_s)} orders/s" for p in plans) + " |"
    lines = [head, "|---|" + "---|" * len(plans)]

    def row(name: str, cells: Sequence[str]) -> None:
        lines.append(f"| {name} | " + " | ".join(cells) + " |")

    row("commands / events / reads per s", [
        f"{_n(p.commands_per_s)} / {_n(p.events_per_s)} / {_n(p.reads_per_s)}" for p in plans
    ])  # fmt: skip
    for kind in PYTHON_KINDS:
        cells = []
        for p in plans:
            proc = p.process(kind)
            cell = f"{proc.instances:,} ({proc.cores:,.1f} cores)"
            if not proc.fits:
                cell = (f"**{proc.instances:,} of {proc.needed:,} needed** ({proc.cores:,.1f} "
                        "cores): more than the partitions")  # fmt: skip
            cells.append(cell)
        row(f"{kind} instances (cores)", cells)
    row("partitions (each of 4 topics)", [f"{p.partitions:,}" for p in plans])
    row("Kafka brokers (cores, RF counted)",
        [f"{p.brokers:,} ({p.broker_cores:,.1f} cores)" for p in plans])  # fmt: skip
    row("Redis main thread cores", [
        f"{p.redis_cores:,.2f}" + ("" if p.redis_nodes_for_cpu <= 1
                                    else f" **{p.redis_nodes_for_cpu} nodes' worth**")
        for p in plans
    ])  # fmt: skip
    row("Python cores in all", [f"{p.python_cores:,.1f}" for p in plans])
    row("events topic growth per day (all replicas)",
        [_bytes(p.event_log_bytes_per_day) for p in plans])  # fmt: skip
    row("commands topic at retention (all replicas)",
        [_bytes(p.command_log_bytes) for p in plans])  # fmt: skip
    row("Redis growth per day", [_bytes(p.redis_bytes_per_day) for p in plans])
    usable = a.redis_node_bytes * a.redis_fill
    row("one Redis node full after",
        [_duration(usable / p.redis_bytes_per_day * DAY_S if p.redis_bytes_per_day else math.inf)
         for p in plans])  # fmt: skip
    return lines


def log_table(plan: LogPlan, a: Assumptions) -> list[str]:
    nodes = "one node" if plan.redis_nodes == 1 else f"**{plan.redis_nodes} nodes' worth**"
    return [
        f"| a log of {plan.events:,.0f} events ({plan.orders:,.0f} orders) | size |",
        "|---|---|",
        f"| Kafka events topic ({TIMES} RF {a.replication_factor}) | {_bytes(plan.kafka_bytes)} |",
        f"| Redis views + histories | {_bytes(plan.redis_bytes)} ({nodes} of "
        f"{_bytes(a.redis_node_bytes)} at {a.redis_fill:.0%}) |",
        f"| full rebuild, one `orders replay` process | {_duration(plan.rebuild_s)} |",
    ]


def limits_table(all_limits: Sequence[Limits], a: Assumptions) -> list[str]:
    head = "| where it stops | " + " | ".join(f"{x.partitions:,} partitions" for x in all_limits)
    lines = [head + " |", "|---|" + "---|" * len(all_limits)]

    def row(name: str, cells: Sequence[str]) -> None:
        lines.append(f"| {name} | " + " | ".join(cells) + " |")

    for kind in GROUPS:
        row(f"{kind} group (one instance per partition), orders/s",
            [_n(x.group_orders_per_s[kind]) for x in all_limits])  # fmt: skip
    row(f"partition replicas (4 topics {TIMES} RF)", [
        f"{x.partition_replicas:,} (≥ {math.ceil(x.partition_replicas / a.partitions_per_broker)}"
        " brokers)" for x in all_limits
    ])  # fmt: skip
    first = all_limits[0]
    lines += [
        "",
        f"One Redis node, whatever the partitions: its main thread reaches "
        f"{_n(first.redis_cpu_orders_per_s)} orders/s; its memory holds "
        f"{_n(first.redis_memory_orders)} orders ({_n(first.redis_memory_events)} events). "
        "The command and query APIs are not bound by partitions: more instances behind a "
        "load balancer, until Kafka or Redis stops them.",
    ]
    return lines


def markdown(
    costs: Costs,
    a: Assumptions,
    rates: Sequence[float] = RATES,
    log_events: float = LOG_EVENTS,
) -> str:
    """The planning tables: measured costs, the plan per rate (its partitions sized for
    it), a log of ``log_events``, where each part stops (with the partitions measured
    on and with each rate's)."""
    plans = [plan_rate(r, costs, a) for r in rates]
    counts = sorted({costs.partitions_measured, *(p.partitions for p in plans)})
    lines = [
        "### Measured costs",
        "",
        *costs_table(costs),
        "",
        "### Plan",
        "",
        assumptions_line(a),
        "",
        *rate_table(plans, a),
        "",
        *log_table(plan_log(log_events, costs, a), a),
        "",
        *limits_table([limits(costs, a, n) for n in counts], a),
    ]
    return "\n".join(lines) + "\n"
