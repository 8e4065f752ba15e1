"""``orders dlq list`` and ``orders dlq replay`` (see ``projector.ops.dlq`` for the rules)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from projector.ops import dlq
from projector.ops.cli.base import FAILED, console, dlq_app, kafka_admin, settings_of
from projector.ops.cli.replay import run_blue_green
from projector.ops.dlq import dlq_group


@dlq_app.command("list")
def list_dead_letters(
    ctx: typer.Context,
    limit: Annotated[int, typer.Option(min=1, help="Show at most N.")] = 50,
    all_: Annotated[bool, typer.Option("--all", help="Also the ones already handled.")] = False,
) -> None:
    """Dead letters not yet handled (or all of them), oldest first."""
    settings = settings_of(ctx)
    with kafka_admin(settings) as admin:
        letters = dlq.read(settings, admin, handled_too=all_)
    table = Table(
        title=f"{settings.dlq_topic}: {len(letters)} {'' if all_ else 'unhandled '}dead letter(s)"
    )
    for column in ("partition", "offset", "reason", "source", "value"):
        table.add_column(column)
    for letter in letters[:limit]:
        source = f"{letter.source_partition}@{letter.source_offset}"
        table.add_row(
            str(letter.partition), str(letter.offset), letter.reason, source, letter.preview()
        )
    console.print(table)
    if len(letters) > limit:
        console.print(f"… {len(letters) - limit} more (--limit)")


@dlq_app.command("replay")
def replay_dead_letters(ctx: typer.Context) -> None:
    """Re-decode unhandled dead letters; project the readable ones (blue/green rebuild)."""
    settings = settings_of(ctx)
    with kafka_admin(settings) as admin:
        letters = dlq.read(settings, admin, handled_too=False)
        if not letters:
            console.print("no unhandled dead letters")
            return
        found = dlq.triage(letters)
        for letter in found.readable:
            console.print(f"  readable now: {_where(letter)}")
        for letter, why in found.unreadable:
            console.print(f"  still unreadable: {_where(letter)}: {why}", highlight=False)
        console.print(
            f"{len(found.readable)} of {found.letters} dead letter(s) are readable with the "
            "current code"
        )
        if found.readable:
            console.print("rebuilding the views so they are projected in log order (blue/green)")
            run_blue_green(settings, "dlq-replay")
        marks = dlq.mark_handled(
            settings, admin, letters, [letter for letter, _ in found.unreadable]
        )
    console.print(f"handled up to {dict(sorted(marks.items()))} in group {dlq_group(settings)}")
    if found.unreadable:
        raise typer.Exit(FAILED)


def _where(letter: dlq.DeadLetter) -> str:
    source = f"{letter.source_partition}@{letter.source_offset}"
    return f"{letter.partition}@{letter.offset} (events {source})"
