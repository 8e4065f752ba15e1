"""Access control: bearer tokens with roles, compared in constant time. Pure.

writer may send commands, reader may read views, admin may do both and operate
(projection status, replay, dead letters). Tokens come from ``ORDERS_AUTH_TOKENS``.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Literal

from pydantic import SecretStr


class Role(StrEnum):
    WRITER = "writer"
    READER = "reader"
    ADMIN = "admin"


RoleName = Literal["writer", "reader", "admin"]


class TokenBook:
    def __init__(self, tokens: Mapping[RoleName, Sequence[SecretStr]]) -> None:
        self._entries = [
            (token.get_secret_value().encode(), Role(role))
            for role, role_tokens in tokens.items()
            for token in role_tokens
        ]

    @property
    def enabled(self) -> bool:
        """No tokens configured means no access control (local development only)."""
        return bool(self._entries)

    def role_of(self, token: str) -> Role | None:
        # Compare against every token, always: the time taken does not tell which
        # token (or how much of one) matched.
        given = token.encode()
        found: Role | None = None
        for secret, role in self._entries:
            if hmac.compare_digest(given, secret) and found is None:
                found = role
        return found

    @staticmethod
    def allows(role: Role, needed: Role) -> bool:
        return role is Role.ADMIN or role is needed
