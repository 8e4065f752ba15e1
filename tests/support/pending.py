"""202 Accepted is a promise: the command is in the command log and *will* be decided.

After the load, every command whose last answer was a 202 must, within a deadline, be
decided: its events in the log, or a rejection on ``GET /commands/{id}`` (rejections are
not events). One still undecided after the deadline is a broken promise.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping

import httpx

from tests.support.eventlog import read_log
from tests.support.history import UNKNOWN, Op
from tests.support.waiting import wait_until


def undecided_202s(
    ops: list[Op],
    env: Mapping[str, str],
    timeout: float = 60.0,
    headers: Mapping[str, str] | None = None,
) -> list[Op]:
    """The 202s still undecided after ``timeout`` (``headers``: the command API's token)."""
    waiting = [op for op in ops if op.outcome == UNKNOWN and op.attempts[-1][2] == 202]
    api = f"http://127.0.0.1:{env['ORDERS_COMMAND_API_PORT']}"

    def rejected(client: httpx.Client, op: Op) -> bool:
        try:
            answer = client.get(f"/commands/{op.command_id}")
        except httpx.HTTPError:
            return False
        return answer.is_success and answer.json().get("status") == "rejected"

    def settled() -> bool:
        nonlocal waiting
        if waiting:
            decided = {entry.event.command_id for entry in read_log(env)}
            with httpx.Client(base_url=api, timeout=5.0, headers=headers) as client:
                waiting = [
                    op
                    for op in waiting
                    if op.command_id not in decided and not rejected(client, op)
                ]
        return not waiting

    with contextlib.suppress(AssertionError):  # what is left is the answer
        wait_until(settled, timeout, interval=1.0)
    return waiting
