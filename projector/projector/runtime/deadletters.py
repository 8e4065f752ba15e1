"""The projector's ``DeadLetters`` port: a record it cannot project goes to the DLQ with
where it came from, through Faust's producer.

Headers ``reason``, ``source_topic``, ``source_partition``, ``source_offset`` (read back
by ``projector.ops.dlq``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from ordersource.settings import Settings
from projector.core.plan import Incoming

log = logging.getLogger(__name__)

DLQ_SEND_TIMEOUT_S = 10.0
"""A DLQ produce that takes longer fails the attempt (Faust's producer would wait for
its request timeout, 20 minutes); the batch is retried and may send it again."""


class DeadLetterProducer:
    def __init__(self, settings: Settings, producer: Callable[[], Any]) -> None:
        """``producer``: Faust's (``app.producer``, created when the app starts)."""
        self.settings, self.producer = settings, producer

    async def send(self, record: Incoming, reason: str) -> None:
        settings = self.settings
        headers = [
            ("reason", reason.encode()[:1000]),
            ("source_topic", settings.events_topic.encode()),
            ("source_partition", str(record.partition).encode()),
            ("source_offset", str(record.offset).encode()),
        ]
        log.warning("dead letter %s@%s: %s", record.partition, record.offset, reason)
        send = self.producer().send_and_wait(
            settings.dlq_topic, record.key, record.value, None, None, headers
        )
        try:
            await asyncio.wait_for(send, DLQ_SEND_TIMEOUT_S)
        except TimeoutError as exc:
            raise TimeoutError(
                f"DLQ produce to {settings.dlq_topic} took over {DLQ_SEND_TIMEOUT_S:g} s"
            ) from exc
