"""``orders verify`` and ``orders status``: is Redis the fold of the log, and how far along."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from projector.ops import status as status_module
from projector.ops.cli.base import FAILED, app, console, kafka_admin, settings_of
from projector.ops.verify import check, describe

SHOWN_DIFFERENCES = 50


@app.command()
def verify(
    ctx: typer.Context,
    generation: Annotated[
        str | None, typer.Option(help="Generation to check (default: current).")
    ] = None,
) -> None:
    """Fold the whole log and compare it with the Redis views (exit 1 on any difference)."""
    settings = settings_of(ctx)
    with console.status("folding the event log and comparing it with Redis"):
        report = check(settings, generation)
    if not report.differences:
        console.print(
            f"generation {report.generation}: views equal the fold of {report.events} events"
        )
        return
    console.print(
        f"[red]generation {report.generation}: {len(report.differences)} difference(s)[/] "
        f"from the fold of {report.events} events"
    )
    for diff in report.differences[:SHOWN_DIFFERENCES]:
        console.print("  " + describe(diff), highlight=False)
    if len(report.differences) > SHOWN_DIFFERENCES:
        console.print(f"  … and {len(report.differences) - SHOWN_DIFFERENCES} more")
    raise typer.Exit(FAILED)


@app.command()
def status(ctx: typer.Context) -> None:
    """Generations, per-partition applied / end offsets and lag, the DLQ."""
    settings = settings_of(ctx)
    with kafka_admin(settings) as admin:
        found = status_module.gather(settings, admin)
    console.print(_generations(found))
    console.print(_partitions(found))
    members = ", ".join(found.members) if found.members else "none (projector stopped)"
    console.print(f"projector group {settings.projector_group}: live members: {members}")
    console.print(
        f"DLQ {settings.dlq_topic}: {found.dlq_records} dead letter(s), "
        f"{found.dlq_unhandled} not yet handled (orders dlq list)"
    )


def _generations(found: Any) -> Table:
    table = Table(title="view generations")
    for column in ("generation", "state", "origin", "created at", "until", "events applied"):
        table.add_column(column)
    for g, doc in found.generations.items():
        marker = " (current)" if g == found.current else ""
        table.add_row(
            g + marker, doc.get("state", "?"), doc.get("origin", "?"), doc.get("created_at", ""),
            doc.get("until", ""), str(doc["events_applied"]),
        )  # fmt: skip
    return table


def _partitions(found: Any) -> Table:
    table = Table(title=f"partitions of generation {found.current}")
    for column in ("partition", "applied offset", "end offset", "lag"):
        table.add_column(column, justify="right")
    for p in found.partitions:
        table.add_row(str(p["partition"]), str(p["applied"]), str(p["end"]), str(p["lag"]))
    return table
