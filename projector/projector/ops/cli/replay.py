"""``orders replay``: rebuild views by resetting the projector's consumer-group offsets.

In place (``--to-earliest | --to-datetime T | --to-offset P:O``): exactly what Kafka's
``kafka-consumer-groups --reset-offsets --execute`` does (refused while the group has
live members); the projector, started again, honours the reset (``projector.runtime.reset``).
``--blue-green``: builds a new generation here while the projector and the queries
keep going, then switches. ``--until T``: the log as of T in its own generation.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from kafka.admin import OffsetSpec, OffsetTimestamp
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from ordersource.connections import async_redis_client
from ordersource.settings import Settings
from projector import offsets
from projector.ops import replay
from projector.ops.cli.base import REFUSED, app, console, fail, kafka_admin, settings_of


def parse_time(text: str) -> datetime:
    """RFC 3339; without a zone it is UTC (like ``kafka-consumer-groups --to-datetime``)."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not a date-time like 2026-01-01T12:00:00Z") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_offset(text: str) -> tuple[int, int]:
    partition, sep, offset = text.partition(":")
    if not sep or not partition.isdigit() or not offset.isdigit():
        raise typer.BadParameter(f"{text!r} is not PARTITION:OFFSET, e.g. 0:1200")
    return int(partition), int(offset)


@app.command("replay")
def replay_command(
    ctx: typer.Context,
    to_earliest: Annotated[
        bool, typer.Option("--to-earliest", help="From the start of the log.")
    ] = False,
    to_datetime: Annotated[
        str | None, typer.Option(help="From the first event at or after T.")
    ] = None,
    to_offset: Annotated[
        list[str] | None, typer.Option(help="PARTITION:OFFSET (repeatable).")
    ] = None,
    blue_green: Annotated[
        bool, typer.Option("--blue-green", help="Build beside the live views, then switch.")
    ] = False,
    until: Annotated[
        str | None, typer.Option(help="Build the log as of T as its own generation.")
    ] = None,
) -> None:
    """Replay the event log into the views."""
    settings = settings_of(ctx)
    if until is not None:
        if to_datetime or to_offset or blue_green:
            fail(
                "--until builds from the earliest offsets; it combines only with --to-earliest",
                REFUSED,
            )
        _run_bounded(settings, parse_time(until))
        return
    chosen = [to_earliest, to_datetime is not None, bool(to_offset)]
    if sum(chosen) != 1:
        fail("give exactly one of --to-earliest, --to-datetime T, --to-offset P:O", REFUSED)
    if blue_green:
        if not to_earliest:
            fail("--blue-green rebuilds the whole log: use it with --to-earliest", REFUSED)
        run_blue_green(settings, "blue-green")
        return
    with kafka_admin(settings) as admin:
        _reset_in_place(settings, admin, to_earliest, to_datetime, to_offset or [])


def _reset_in_place(
    settings: Settings, admin: Any, earliest: bool, moment: str | None, pairs: list[str]
) -> None:
    group, topic = settings.projector_group, settings.events_topic
    live = offsets.members(admin, group)
    if live:
        fail(
            f"refusing to reset group {group}: it has {len(live)} live member(s):\n  "
            + "\n  ".join(live)
            + "\nKafka only accepts a reset while the group is empty. Stop the projector "
            "(make stop-projector), run this again, then start it (make start-projector).\n"
            "Or rebuild without stopping anything: orders replay --to-earliest --blue-green",
            REFUSED,
        )
    partitions = offsets.partitions(admin, topic)
    specs: dict[int, Any]
    if earliest:
        specs = dict.fromkeys(partitions, OffsetSpec.EARLIEST)
    elif moment is not None:
        ms = int(parse_time(moment).timestamp() * 1000)
        specs = dict.fromkeys(partitions, OffsetTimestamp(ms))
    else:
        specs = dict(parse_offset(p) for p in pairs)
        unknown = sorted(set(specs) - set(partitions))
        if unknown:
            fail(f"topic {topic} has no partition {unknown}; it has {partitions}", REFUSED)
    done = offsets.reset(admin, group, topic, specs)
    for partition, offset in sorted(done.items()):
        console.print(f"  {topic} partition {partition} -> offset {offset}")
    console.print(
        f"Group {group} reset. Start the projector (make start-projector): "
        + (
            "it rebuilds the views in a new generation from the earliest offsets and "
            "switches to it once caught up; queries keep reading the current one meanwhile."
            if earliest
            else "it rewinds its checkpoints to these offsets and re-applies what follows."
        )
    )


def _bar() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def run_blue_green(settings: Settings, origin: str) -> replay.Built:
    built = asyncio.run(
        _with_clients(settings, lambda r, a, p: replay.blue_green(settings, r, a, origin, p))
    )
    _swept(built)
    console.print(
        f"generation {built.generation} is current (was {built.replaced}): "
        f"{built.events} events in {built.seconds:.1f} s ({built.rate:,.0f} events/s)"
    )
    if built.projector_followed is False:
        console.print("[yellow]the projector did not report on the new generation in time[/]")
    if built.replaced is not None:
        console.print(f"dropped generation {built.replaced} ({built.dropped_keys} keys)")
    return built


def _run_bounded(settings: Settings, until: datetime) -> None:
    built = asyncio.run(
        _with_clients(settings, lambda r, a, p: replay.bounded(settings, r, a, until, p))
    )
    _swept(built)
    console.print(
        f"generation {built.generation} holds the log as of {until.isoformat()}: "
        f"{built.events} events in {built.seconds:.1f} s; "
        f"read it with ?generation={built.generation}"
    )


def _swept(built: replay.Built) -> None:
    if built.swept:
        console.print(
            f"dropped abandoned generations {', '.join(built.swept)} "
            "(building, their replay gone: no heartbeat)"
        )


async def _with_clients(settings: Settings, work: Any) -> replay.Built:
    replay.tune_gc()
    redis = async_redis_client(settings, timeout_s=30)
    admin = offsets.admin_client(settings)
    try:
        with _bar() as bar:
            task = bar.add_task("replaying", total=None)
            built: replay.Built = await work(
                redis, admin, lambda done, total: bar.update(task, completed=done, total=total)
            )
            return built
    finally:
        admin.close()
        await redis.aclose()
