"""Opaque pagination cursors: the (score, order_id) of the last item a page returned.

Indexes order by (score desc, order_id desc) with score = creation time in µs. The next
page reads strictly "older than the cursor" in that order, so an order created while a
client pages (newer than the cursor) never shifts later pages: each existing order is
returned exactly once. Scores come from the log, so a cursor stays valid across a
rebuild into a new generation.
"""

from __future__ import annotations

import base64
import binascii

Cursor = tuple[int, str]
_PREFIX = "v1:"


class InvalidCursor(ValueError):
    pass


def encode_cursor(cursor: Cursor) -> str:
    score, order_id = cursor
    raw = f"{_PREFIX}{score}:{order_id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str) -> Cursor:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidCursor("cursor is not one this API issued") from None
    if not raw.startswith(_PREFIX):
        raise InvalidCursor("cursor is not one this API issued")
    score, sep, order_id = raw[len(_PREFIX) :].partition(":")
    if not sep or not order_id or not score.lstrip("-").isdigit() or len(score) > 20:
        raise InvalidCursor("cursor is not one this API issued")
    return int(score), order_id
