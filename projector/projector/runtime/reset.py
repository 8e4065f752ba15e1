"""Honouring an operator's offset reset (Kafka's own tool or ``orders replay``).

The projector resumes from its Redis checkpoints, so without this a reset of its group
would be ignored. On every assignment it compares the group's committed offsets with
its checkpoints. Its own commits carry a marker (``projector.offsets``); an unmarked
committed offset *below* the checkpoint is an operator's reset:

* every reset partition at the start of the log (``--to-earliest``): a **full
  rebuild** — a new generation is built from the earliest offsets beside the current
  one, which queries keep reading until the new one has caught up on every partition;
  then ``views:current`` switches atomically and the old generation is dropped.
  Views changed behind the projector's back are repaired this way.
* otherwise (``--to-datetime``, ``--to-offset``, ``--shift-by``): a **rewind** of the
  current generation's checkpoints to the committed offsets. Re-delivered events at or
  below a view's version are skipped, so this re-applies only what the views miss.

An unmarked offset *above* the checkpoint (``--to-latest``) is not honoured: skipping
events would make the views differ from the fold of the log (G5); it is logged.
Offsets acted on are remembered in ``views:resets_seen:{group}`` until the projector's
own marked commit replaces them, so a restart in between does not act twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ordersource.settings import Settings
from projector import offsets
from projector.offsets import Committed


@dataclass(frozen=True)
class GroupOffsets:
    committed: dict[int, Committed]
    earliest: dict[int, int]


@dataclass(frozen=True)
class ResetPlan:
    rebuild: bool
    offsets: dict[int, int]
    """Reset partitions and the committed offset each was reset to."""
    ignored: dict[int, int] = field(default_factory=dict)
    """Forward resets (past the checkpoint), refused."""


def read_group(settings: Settings) -> GroupOffsets:
    """Blocking: the projector calls it in a thread."""
    admin = offsets.admin_client(settings, "orders-projector-offsets")
    try:
        topic = settings.events_topic
        return GroupOffsets(
            offsets.committed(admin, settings.projector_group, topic),
            offsets.earliest(admin, topic),
        )
    finally:
        admin.close()


def unmarked(group: GroupOffsets, partitions: set[int]) -> dict[int, int]:
    return {
        p: c.offset
        for p, c in group.committed.items()
        if p in partitions and not offsets.is_marked(c.metadata)
    }


def detect(
    group: GroupOffsets,
    checkpoints: Mapping[int, int],
    partitions: set[int],
    seen: Mapping[int, int],
) -> ResetPlan | None:
    back: dict[int, int] = {}
    forward: dict[int, int] = {}
    for p, offset in unmarked(group, partitions).items():
        if seen.get(p) == offset:
            continue  # acted on before a restart; our own commit has not replaced it yet
        start = group.earliest.get(p, 0)
        here = checkpoints.get(p, start)
        if offset < here:
            back[p] = offset
        elif offset > here:
            forward[p] = offset
    if not back:
        return ResetPlan(False, {}, forward) if forward else None
    rebuild = all(offset <= group.earliest.get(p, 0) for p, offset in back.items())
    return ResetPlan(rebuild, back, forward)
