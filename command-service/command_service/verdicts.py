"""Verdicts: what the decider tells the command API about one command, by command_id.

A verdict carries the complete HTTP answer (status code and body, made by
``command_service.answers``), so the API only relays it and a retried request gets
byte-for-byte the original answer. This shape is what ``result:{command_id}`` holds in
Redis and what ``GET /commands/{id}`` shows: keep it readable across versions.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from ordersource import codec


class Verdict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    command_id: str
    accepted: bool
    http_status: int
    body: dict[str, Any]

    def to_bytes(self) -> bytes:
        return codec.dumps(self.model_dump())

    @classmethod
    def from_bytes(cls, data: bytes | str) -> Verdict:
        return cls.model_validate(codec.loads(data))
