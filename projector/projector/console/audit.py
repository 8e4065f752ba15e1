"""The audit trail: every console action, who asked for it and how it ended, in Kafka.

One record per step of an action (``requested``, then ``done``, ``failed`` or
``refused``) in the audit topic (one partition, kept forever, like the event log): the
trail is itself a log, appended and never changed. A step is written with ``acks=all``
and waited for *before* the console acts on it, so nothing is ever done that the trail
does not show; if the trail cannot be written the action is refused (503). Each step is
also a log line of the console's (logger ``ordersource.audit``).

Synchronous kafka-python calls: the console runs them in a thread (``ConsoleClients``).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kafka import TopicPartition

from ordersource import codec
from ordersource.auth import Principal
from ordersource.kafka_read import read_partition
from ordersource.views import rfc3339

SEND_TIMEOUT_S = 10.0
log = logging.getLogger("ordersource.audit")


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts: the token's role and its principal name (``ordersource.auth``: derived
    from the token, never the token itself)."""

    role: str
    name: str

    @classmethod
    def of(cls, principal: Principal) -> Actor:
        return cls(principal.role.value, principal.name or "anonymous (no tokens configured)")

    def document(self) -> dict[str, str]:
        return {"role": self.role, "name": self.name}


class AuditTrail:
    def __init__(self, topic: str, producer: Any, reader: Any) -> None:
        self.topic, self.producer, self.reader = topic, producer, reader

    def record(
        self, actor: Actor, action: str, outcome: str, action_id: str | None = None, **detail: Any
    ) -> dict[str, Any]:
        """Append one step and wait until Kafka has it (raises if it cannot)."""
        entry = {
            "id": uuid.uuid4().hex,
            "action_id": action_id or uuid.uuid4().hex,
            "at": rfc3339(datetime.now(UTC)),
            "actor": actor.document(),
            "action": action,
            "outcome": outcome,
            "detail": detail,
        }
        future = self.producer.send(
            self.topic, key=action.encode(), value=codec.dumps(entry), partition=0
        )
        future.get(timeout=SEND_TIMEOUT_S)
        log.info(
            "audit: %s %s by %s %s",
            action,
            outcome,
            actor.role,
            actor.name,
            extra={"audit": entry},
        )
        return entry

    def recent(self, limit: int, timeout_s: float = 10.0) -> list[dict[str, Any]]:
        """The last ``limit`` steps, newest first."""
        tp = TopicPartition(self.topic, 0)
        self.reader.assign([tp])
        end = int(self.reader.end_offsets([tp])[tp])
        start = max(int(self.reader.beginning_offsets([tp])[tp]), end - limit)
        records = read_partition(self.reader, tp, start, end, timeout_s=timeout_s)
        found = []
        for record in records:
            try:
                found.append(codec.loads(record.value))
            except ValueError:  # not ours: shown, not fatal
                found.append({"unreadable": True, "offset": record.offset})
        return found[::-1]
