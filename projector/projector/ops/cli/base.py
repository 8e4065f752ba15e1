"""``orders``: the operator's command line for the read side (replay, verify, status, DLQ).

Settings come from the same ``ORDERS_*`` environment as the services and are built
when a command starts, never at import. Exit codes: 0 ok, 1 differences or failure,
2 refused or bad usage (Typer's own usage errors are 2 as well).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import typer
from rich.console import Console

from ordersource.settings import Settings

OK, FAILED, REFUSED = 0, 1, 2

app = typer.Typer(
    name="orders",
    help="Operate Ordersource's read side: replay, verify, status, dead letters.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
dlq_app = typer.Typer(help="Dead letters: records the projector could not project.")
app.add_typer(dlq_app, name="dlq")
console = Console()
errors = Console(stderr=True)


@app.callback()
def root(ctx: typer.Context) -> None:
    ctx.obj = Settings()


def settings_of(ctx: typer.Context) -> Settings:
    settings: Settings = ctx.obj
    return settings


def fail(message: str, code: int = FAILED) -> NoReturn:
    errors.print(message, highlight=False)
    raise typer.Exit(code)


@contextmanager
def kafka_admin(settings: Settings) -> Iterator[Any]:
    from projector import offsets

    try:
        admin = offsets.admin_client(settings)
    except Exception as exc:  # unreachable broker: say so plainly, not with a traceback
        fail(f"cannot reach Kafka at {settings.kafka_bootstrap}: {exc}")
    try:
        yield admin
    finally:
        admin.close()
