"""``orders``: the operator's command line for the read side (see ``projector.cli.base``).

Importing the command modules registers their commands on the one Typer app.
"""

from __future__ import annotations

from projector.cli import dlq, inspect, replay
from projector.cli.base import app


def main() -> None:
    app()


__all__ = ["app", "dlq", "inspect", "main", "replay"]
