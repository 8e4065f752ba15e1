"""Access control: bearer tokens with roles, compared in constant time. Pure.

writer may send commands, reader may read views, admin may do both and operate
(projection status, replay, dead letters). Tokens come from ``ORDERS_AUTH_TOKENS``.

Each token is a principal: the scope of its Idempotency-Keys. Its ``name`` is derived
from the token with scrypt (a deliberately slow hash, computed once at start-up), so it is
stable and can go into ids and Redis keys without making a weak token cheap to guess.
A new token is a new principal: retries sent across a token change are new commands.
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
    name: str | None
    """None for the one principal of an open API (no tokens configured)."""

    def scope(self, idempotency_key: str) -> str:
        """The key as this principal's own: the same key from two principals is two keys.

        (An open API's keys stay as they are: everyone is the same caller.)
        """
        return idempotency_key if self.name is None else f"{self.name}/{idempotency_key}"


ANONYMOUS = Principal(Role.ADMIN, None)
"""Who calls an open API (no tokens configured): everyone, as one principal."""


def principal_name(secret: bytes) -> str:
    """A stable, non-reversible name for a token (scrypt, about 20 ms each)."""
    return hashlib.scrypt(secret, salt=b"ordersource-principal", n=2**14, r=8, p=1)[:8].hex()


class TokenRegistry:
    """The configured bearer tokens and whose they are (``ORDERS_AUTH_TOKENS``)."""

    def __init__(self, tokens: Mapping[RoleName, Sequence[SecretStr]]) -> None:
        self._entries = [
            (secret, Principal(Role(role), principal_name(secret)))
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
