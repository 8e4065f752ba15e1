"""The porcupine adapter (tests/support/linearizability): it accepts linearizable
histories and, just as important, rejects ones that are not. Needs Go (the checker is
built once into .cache/linearizability)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.history import ACKNOWLEDGED, History, Op, classify
from tests.support.linearizability import check_linearizable, run_checker

pytestmark = pytest.mark.unit


def op(
    key: str,
    kind: str,
    sent: float,
    done: float,
    status: int | str,
    version: int | None = None,
    expected: int | None = None,
    order: str = "o1",
) -> Op:
    """One command of one attempt; ``version`` is the acknowledged or the reported one."""
    outcome = classify(status)
    made = Op(key, key, order, kind, sent, [(sent, done, status)], outcome, expected=expected)
    if outcome == ACKNOWLEDGED:
        made.version = version
    else:
        made.reported = version
    return made


def history(*ops: Op) -> History:
    made = History()
    for each in ops:
        made.add(each)
    return made


def test_a_linearizable_history_passes(tmp_path: Path) -> None:
    check_linearizable(
        history(
            op("p", "place", 0.0, 1.0, 201, 1),
            # Two concurrent CAS from 1: one wins, the other sees the winner's version.
            op("a", "modify", 2.0, 4.0, 200, 2, expected=1),
            op("b", "modify", 2.5, 4.5, 412, 2, expected=1),
            # A change without If-Match overlapping one whose fate is unknown (a timeout):
            # it returns v4, so the unknown one was applied before it (v3).
            op("t", "modify", 5.0, 6.0, "ReadTimeout", expected=2),
            op("c", "pay", 5.5, 7.0, 200, 4),
            op("r", "modify", 8.0, 9.0, 409, 4),  # paid: refused, at v4
            # A retried command is one operation: a timeout, then the original answer.
            Op("q", "q", "o2", "place", 0.0, [(0.0, 3.0, 503), (4.0, 5.0, 201)], ACKNOWLEDGED, 1),
            op("x", "modify", 1.0, 2.0, 404, order="o2"),  # before o2 was placed
            op("u", "place", 0.0, 1.0, 202, order="o3"),  # unknown, never heard of again
        ),
        tmp_path,
    )


@pytest.mark.parametrize(
    "ops",
    [
        pytest.param(
            [
                op("p", "place", 0.0, 1.0, 201, 1),
                op("a", "modify", 2.0, 3.0, 200, 2, expected=1),
                op("b", "modify", 2.0, 3.0, 200, 2, expected=1),
            ],
            id="two CAS 1->2 both acknowledged",
        ),
        pytest.param(
            [
                op("p", "place", 0.0, 1.0, 201, 1),
                op("a", "modify", 2.0, 3.0, 200, 2),
                op("b", "modify", 4.0, 5.0, 200, 2),
            ],
            id="a later change acknowledged at the same version",
        ),
        pytest.param(
            [
                op("p", "place", 0.0, 1.0, 201, 1),
                op("a", "modify", 2.0, 3.0, 200, 2, expected=1),
                op("b", "modify", 4.0, 5.0, 412, 1, expected=0),
            ],
            id="a stale version reported after an acknowledged one",
        ),
        pytest.param(
            [
                op("p", "place", 0.0, 1.0, 201, 1),
                op("a", "modify", 2.0, 3.0, 200, 3, expected=1),
            ],
            id="a version skipped",
        ),
        pytest.param(
            [
                op("p", "place", 0.0, 1.0, 201, 1),
                op("a", "modify", 2.0, 3.0, 412, 1, expected=1),
            ],
            id="412 although the order is at the If-Match version",
        ),
        pytest.param(
            [op("p", "place", 0.0, 1.0, 201, 1), op("q", "place", 2.0, 3.0, 201, 1)],
            id="placed twice",
        ),
        pytest.param(
            [
                op("p", "place", 0.0, 1.0, 201, 1),
                op("a", "modify", 2.0, 3.0, 200, 3),
                op("t", "modify", 4.0, 5.0, "ReadTimeout"),  # sent after a was answered
            ],
            id="an unknown command cannot explain a version answered before it was sent",
        ),
    ],
)
def test_a_history_that_is_not_linearizable_fails(ops: list[Op], tmp_path: Path) -> None:
    with pytest.raises(AssertionError, match="NOT linearizable") as failed:
        check_linearizable(history(*ops), tmp_path)
    assert "order o1: no linearization" in str(failed.value)
    assert (tmp_path / "linearizability.html").stat().st_size > 0
    assert str(tmp_path / "linearizability.html") in str(failed.value)


def test_bad_input_is_neither_pass_nor_fail(tmp_path: Path) -> None:
    acked_without_version = op("p", "place", 0.0, 1.0, 201, None)
    result = run_checker([acked_without_version], tmp_path)
    assert (result.ok, result.exit_code) == (False, 2), result.output
