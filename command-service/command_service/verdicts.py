"""Verdicts: what the decider tells the command API about one command, by command_id.

A verdict carries the complete HTTP answer (status code and body), so the API only relays
it and a retried request gets byte-for-byte the original answer.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from ordersource import codec
from ordersource.domain import DomainError
from ordersource.problems import problem


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


def rejected(command_id: str, error: DomainError) -> Verdict:
    return Verdict(
        command_id=command_id,
        accepted=False,
        http_status=error.status,
        body=problem(error.status, error.title, error.detail, command_id=command_id, **error.extra),
    )
