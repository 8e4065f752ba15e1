"""Shared read-model helpers: ``from_view`` inverts ``to_view``, scores, stats."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ordersource.domain import fold
from ordersource.views import (
    from_view,
    index_score,
    stats_contribution,
    stats_document,
    to_view,
)
from tests.support.events import cancelled, lifecycle, placed

pytestmark = pytest.mark.unit

moments = st.datetimes(
    min_value=datetime(2000, 1, 1),
    max_value=datetime(2200, 1, 1),
    timezones=st.sampled_from([UTC, timezone(timedelta(hours=2))]),
)


@given(moments, st.integers(1, 1000), st.integers(0, 10**9), st.integers(1, 4))
def test_from_view_inverts_to_view(at: datetime, qty: int, price: int, steps: int) -> None:
    events = [placed("o1", quantity=qty, price=price, at=at), *lifecycle("o1", at=at)[1:steps]]
    state = fold(events)
    assert state is not None
    assert from_view(to_view(state)) == state
    assert to_view(from_view(to_view(state))) == to_view(state)


def test_the_view_shows_the_channel_and_views_from_before_channels_read_as_unknown() -> None:
    state = fold([placed("o1", channel="app")])
    assert state is not None
    view = to_view(state)
    assert view["channel"] == "app"
    older = {k: v for k, v in view.items() if k != "channel"}  # stored before OrderPlaced v2
    assert from_view(older).channel == "unknown"


def test_index_score_is_exact_microseconds() -> None:
    at = datetime(2026, 5, 17, 12, 30, 1, 123456, tzinfo=UTC)
    assert index_score(at) == 1779021001123456
    assert index_score(at + timedelta(microseconds=1)) == index_score(at) + 1
    assert float(index_score(datetime(2250, 1, 1, tzinfo=UTC))) == index_score(
        datetime(2250, 1, 1, tzinfo=UTC)
    )


def test_stats_document_sums_contributions() -> None:
    a = to_view(fold(lifecycle("a")))  # type: ignore[arg-type]
    b = to_view(fold([placed("b", currency="USD"), cancelled("b", 2)]))  # type: ignore[arg-type]
    fields: dict[str, int] = {}
    for view in (a, b):
        for name, value in stats_contribution(view).items():
            fields[name] = fields.get(name, 0) + value
    assert stats_document(fields) == {
        "orders": 2,
        "by_status": {"placed": 0, "paid": 0, "shipped": 1, "cancelled": 1},
        "by_currency": {
            "EUR": {"orders": 1, "total_cents": "600"},
            "USD": {"orders": 1, "total_cents": "500"},
        },
    }
