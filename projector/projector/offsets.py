"""The projector's consumer group as Kafka sees it: members, committed offsets, resets.

Shared by the live projector (``projector.runtime``: the commit marker, reading an
operator's reset) and the ``orders`` tool (``projector.ops``: writing resets, status):
the writer and the reader of a reset share one implementation, beside both packages.

Blocking kafka-python admin calls (the CLI calls them directly, the projector in a
thread). The projector commits its offsets with the metadata ``ordersource:gen=<g>``
(``projector.runtime.consumer``); Kafka's ``kafka-consumer-groups --reset-offsets`` and ``orders
replay`` write offsets without it, which is how the projector tells an operator's reset
from its own progress.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from kafka import TopicPartition
from kafka.admin import KafkaAdminClient, OffsetSpec, OffsetTimestamp
from kafka.errors import CoordinatorNotAvailableError, NotCoordinatorError
from kafka.protocol.consumer.offsets import IsolationLevel
from kafka.structs import OffsetAndMetadata
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_fixed

from ordersource.connections import kafka_options
from ordersource.settings import Settings

MARKER_PREFIX = "ordersource:"
T = TypeVar("T")


def marker(generation: str) -> str:
    return f"{MARKER_PREFIX}gen={generation}"


def is_marked(metadata: str | None) -> bool:
    return bool(metadata) and str(metadata).startswith(MARKER_PREFIX)


@dataclass(frozen=True)
class Committed:
    offset: int
    metadata: str


def admin_client(settings: Settings, client_id: str = "orders-cli") -> Any:
    return KafkaAdminClient(
        **kafka_options(settings),
        client_id=client_id,
        request_timeout_ms=15_000,
    )


def retrying(call: Callable[[], T], attempts: int = 20) -> T:
    """The group coordinator is briefly unavailable right after a broker (re)start."""
    retry = Retrying(
        retry=retry_if_exception_type((CoordinatorNotAvailableError, NotCoordinatorError)),
        stop=stop_after_attempt(attempts),
        wait=wait_fixed(0.25),
        reraise=True,
    )
    return retry(call)


def members(admin: Any, group: str) -> list[str]:
    """The live members of a group, as "client-id on host (member-id)"."""
    described = retrying(lambda: admin.describe_groups([group]))[group]
    return [
        f"{m.get('client_id', '?')} on {m.get('client_host', '?')} ({m.get('member_id', '?')})"
        for m in described.get("members") or []
    ]


def committed(admin: Any, group: str, topic: str) -> dict[int, Committed]:
    found = retrying(lambda: admin.list_group_offsets({group: None})).get(group, {})
    return {
        tp.partition: Committed(oam.offset, oam.metadata or "")
        for tp, oam in found.items()
        if tp.topic == topic and oam.offset is not None and oam.offset >= 0
    }


def partitions(admin: Any, topic: str) -> list[int]:
    described = admin.describe_topics([topic])[0]
    if described["error_code"]:
        raise LookupError(f"topic {topic} does not exist")
    return sorted(p["partition_index"] for p in described["partitions"])


def partition_offsets(admin: Any, topic: str, specs: Mapping[int, Any]) -> dict[int, int]:
    """Offsets for ``{partition: OffsetSpec | timestamp_ms}``, read_committed (so LATEST is
    the last stable offset). A timestamp after the last record gives -1."""
    asked = {TopicPartition(topic, p): spec for p, spec in specs.items()}
    found = admin.list_partition_offsets(asked, isolation_level=IsolationLevel.READ_COMMITTED)
    return {tp.partition: int(v.offset) for tp, v in found.items()}


def ends(admin: Any, topic: str) -> dict[int, int]:
    specs = dict.fromkeys(partitions(admin, topic), OffsetSpec.LATEST)
    return partition_offsets(admin, topic, specs)


def earliest(admin: Any, topic: str) -> dict[int, int]:
    specs = dict.fromkeys(partitions(admin, topic), OffsetSpec.EARLIEST)
    return partition_offsets(admin, topic, specs)


def reset(admin: Any, group: str, topic: str, specs: Mapping[int, Any]) -> dict[int, int]:
    """Commit offsets for the (empty) group, like ``kafka-consumer-groups --reset-offsets``:
    ``{partition: OffsetSpec | OffsetTimestamp | offset}``, clamped to the log.

    Written with empty metadata, as Kafka's tool does (kafka-python's
    ``reset_group_offsets`` would keep the previous commit's metadata — our marker — and
    the projector could not tell the reset from its own progress)."""
    parts = list(specs)
    low = partition_offsets(admin, topic, dict.fromkeys(parts, OffsetSpec.EARLIEST))
    high = partition_offsets(admin, topic, dict.fromkeys(parts, OffsetSpec.LATEST))
    asked = {p: s for p, s in specs.items() if isinstance(s, OffsetSpec | OffsetTimestamp)}
    resolved = partition_offsets(admin, topic, asked) if asked else {}
    targets: dict[int, int] = {}
    for p in parts:
        raw = resolved[p] if p in resolved else int(specs[p])
        targets[p] = high[p] if raw < 0 or raw > high[p] else max(raw, low[p])
    commits = {TopicPartition(topic, p): OffsetAndMetadata(o, "", -1) for p, o in targets.items()}
    done = retrying(lambda: admin.alter_group_offsets(group, commits))
    failed = {tp.partition: error for tp, error in done.items() if error.errno}
    if failed:
        raise RuntimeError(f"Kafka refused the reset of group {group}: {failed}")
    return targets
