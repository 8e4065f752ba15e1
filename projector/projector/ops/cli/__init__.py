"""``orders``: the operator's command line for the read side (see ``projector.ops.cli.base``).

Importing the command modules registers their commands on the one Typer app.
"""

from __future__ import annotations

from projector.ops.cli import checks, dlq, replay
from projector.ops.cli.base import app


def main() -> None:
    app()


__all__ = ["app", "checks", "dlq", "main", "replay"]
