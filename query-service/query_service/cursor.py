"""Opaque pagination cursors: the (score, order_id) of the last item a page returned.

Indexes order by (score desc, order_id desc) with score = creation time in µs. The next
page reads strictly "older than the cursor" in that order, so an order created while a
client pages (newer than the cursor) never shifts later pages: each existing order is
returned exactly once. Scores come from the log, so a cursor stays valid across a
rebuild into a new generation.

History cursors (``h1:{version}:{order_id}``) name the last version a history page
returned; the next page starts right after it. Versions of an order are contiguous and
never change, so each version is returned exactly once across pages.
"""

from __future__ import annotations

import base64
import binascii

Cursor = tuple[int, str]
_PREFIX = "v1:"
_HISTORY_PREFIX = "h1:"


class InvalidCursor(ValueError):
    pass


def encode_cursor(cursor: Cursor) -> str:
    score, order_id = cursor
    raw = f"{_PREFIX}{score}:{order_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unwrap(text: str, prefix: str) -> str:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidCursor("cursor is not one this API issued") from None
    if not raw.startswith(prefix):
        raise InvalidCursor("cursor is not one this API issued")
    return raw[len(prefix) :]


def decode_cursor(text: str) -> Cursor:
    score, sep, order_id = _unwrap(text, _PREFIX).partition(":")
    if not sep or not order_id or not score.lstrip("-").isdigit() or len(score) > 20:
        raise InvalidCursor("cursor is not one this API issued")
    return int(score), order_id


def encode_history_cursor(order_id: str, version: int) -> str:
    raw = f"{_HISTORY_PREFIX}{version}:{order_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_history_cursor(text: str, order_id: str) -> int:
    """The last version the previous page returned (a cursor of this order's history)."""
    version, sep, issued_for = _unwrap(text, _HISTORY_PREFIX).partition(":")
    if not sep or not version.isdigit() or len(version) > 10 or issued_for != order_id:
        raise InvalidCursor("cursor is not one this API issued for this order's history")
    return int(version)
