"""Access control: bearer tokens with roles, compared in constant time. Pure.

writer may send commands, reader may read views, admin may do both and operate
(projection status, replay, dead letters). Tokens come from ``ORDERS_AUTH_TOKENS``.

Each token is a principal: the scope of its Idempotency-Keys. Its ``name`` is a short
SHA-256 of the token — stable, and safe to use in ids and Redis keys because it does not
reveal the token.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from pydantic import SecretStr


class Role(StrEnum):
    WRITER = "writer"
    READER = "reader"
    ADMIN = "admin"


RoleName = Literal["writer", "reader", "admin"]


@dataclass(frozen=True, slots=True)
class Principal:
    role: Role
    name: str

    def scope(self, idempotency_key: str) -> str:
        """The key as this principal's own: the same key from two principals is two keys.

        (Open APIs have one principal, whose keys stay as they are.)
        """
        return idempotency_key if self.name == "anonymous" else f"{self.name}/{idempotency_key}"


ANONYMOUS = Principal(Role.ADMIN, "anonymous")
"""Who calls an open API (no tokens configured): everyone, as one principal."""


class TokenBook:
    def __init__(self, tokens: Mapping[RoleName, Sequence[SecretStr]]) -> None:
        self._entries = [
            (secret, Principal(Role(role), hashlib.sha256(secret).hexdigest()[:16]))
            for role, role_tokens in tokens.items()
            for secret in (token.get_secret_value().encode() for token in role_tokens)
        ]

    @property
    def enabled(self) -> bool:
        """No tokens configured means no access control (local development only)."""
        return bool(self._entries)

    def identify(self, token: str) -> Principal | None:
        # Compare against every token, always: the time taken does not tell which
        # token (or how much of one) matched.
        given = token.encode()
        found: Principal | None = None
        for secret, principal in self._entries:
            if hmac.compare_digest(given, secret) and found is None:
                found = principal
        return found

    @staticmethod
    def allows(role: Role, needed: Role) -> bool:
        return role is Role.ADMIN or role is needed
