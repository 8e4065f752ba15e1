"""Pagination cursors: opaque, round-trip exactly, and reject anything else."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from query_service.cursor import (
    InvalidCursor,
    decode_cursor,
    decode_history_cursor,
    encode_cursor,
    encode_history_cursor,
)

pytestmark = pytest.mark.unit


@given(st.integers(0, 2**53), st.from_regex(r"[A-Za-z0-9._:-]{1,64}", fullmatch=True))
def test_cursors_round_trip(score: int, order_id: str) -> None:
    assert decode_cursor(encode_cursor((score, order_id))) == (score, order_id)


@pytest.mark.parametrize("text", ["", "x", "%%%", "djE6", "djE6eHh4", "djI6MTox", "\U0001f4a5"])
def test_foreign_cursors_are_rejected(text: str) -> None:
    with pytest.raises(InvalidCursor):
        decode_cursor(text)


@given(st.integers(0, 2**31), st.text(min_size=1, max_size=80))
def test_history_cursors_round_trip_for_their_order_only(version: int, order_id: str) -> None:
    cursor = encode_history_cursor(order_id, version)
    assert decode_history_cursor(cursor, order_id) == version
    with pytest.raises(InvalidCursor):
        decode_history_cursor(cursor, order_id + "x")
    with pytest.raises(InvalidCursor):
        decode_cursor(cursor)  # not a list cursor either


@pytest.mark.parametrize("text", ["", "x", "aDE6", "aDE6eDpvMQ", "djE6MTpvMQ", "aDE6LTE6bzE"])
def test_foreign_history_cursors_are_rejected(text: str) -> None:
    with pytest.raises(InvalidCursor):
        decode_history_cursor(text, "o1")
