"""Which generations a replay sweeps (``generations.abandoned``): only those still being
built whose heartbeat is old: not a live replay's, not the projector's own rebuild, not
a finished bounded replay, not the current or a retired one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from projector.store.generations import HEARTBEAT_S, abandoned, heartbeat_s

pytestmark = pytest.mark.unit

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
AFTER_S = 120.0


def at(seconds_ago: float) -> str:
    return (NOW - timedelta(seconds=seconds_ago)).isoformat().replace("+00:00", "Z")


def doc(state: str, beaten_s_ago: float | None, **more: Any) -> dict[str, Any]:
    found: dict[str, Any] = {"state": state, "origin": "blue-green", "created_at": at(3600)}
    if beaten_s_ago is not None:
        found["heartbeat_at"] = at(beaten_s_ago)
    return found | more


def test_only_stale_unfinished_builds_are_abandoned() -> None:
    found = {
        "1": doc("retired", 3600),
        "2": doc("live", 3600),
        "3": doc("building", 3600),  # its replay was killed an hour ago
        "4": doc("building", 10),  # a replay at work
        "5": doc("building", 3600, origin="reset"),  # the projector's own rebuild
        "6": doc("bounded", 3600, building=True),  # a bounded replay killed mid-build
        "7": doc("bounded", 3600, built_at=at(3500)),  # finished: kept
        "8": doc("bounded", None, until=at(7200)),  # written before heartbeats: kept
        "9": doc("building", None),  # before heartbeats: its creation, an hour ago
        "10": doc("building", AFTER_S - 1),  # just within the margin
    }
    assert abandoned(found, NOW, rebuild="5", after_s=AFTER_S) == ["3", "6", "9"]


def test_a_live_replay_beats_many_times_within_the_margin() -> None:
    assert heartbeat_s(120.0) == HEARTBEAT_S
    assert heartbeat_s(2.0) == 0.5
    for after_s in (1.0, 2.0, 20.0, 120.0, 3600.0):
        assert after_s / heartbeat_s(after_s) >= 4
