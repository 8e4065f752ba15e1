"""Identifiers: UUIDv7 for new things, name-based ids where retries must land on the same id."""

from __future__ import annotations

import hashlib
import uuid

import uuid_utils

_NAMESPACE = uuid.UUID("6f0e4c8e-3b7a-5c1d-9e2f-0a1b2c3d4e5f")


def new_id() -> str:
    """A fresh UUIDv7 string (time-ordered). uuid-utils: ~20x faster than pure Python, and
    the decider makes one per event."""
    return str(uuid_utils.uuid7())


def command_id_for_key(idempotency_key: str) -> str:
    """The command id an Idempotency-Key stands for: a retry reuses the same command id."""
    return str(uuid.uuid5(_NAMESPACE, "idempotency:" + idempotency_key))


def order_id_for_key(idempotency_key: str) -> str:
    """The order id a keyed PlaceOrder without ``order_id`` gets: the same on every retry.

    UUIDv7-shaped (version and variant bits set), with hash bits where a fresh id has its
    timestamp, so retries route to the same partition and hit the same order.
    """
    raw = bytearray(hashlib.sha256(b"order:" + idempotency_key.encode()).digest()[:16])
    raw[6] = (raw[6] & 0x0F) | 0x70
    raw[8] = (raw[8] & 0x3F) | 0x80
    return str(uuid.UUID(bytes=bytes(raw)))
