"""The ``orders`` entry point: registers every command module on the one Typer app.

The app, its settings and exit codes are in ``projector.ops.cli.base``.
"""

from __future__ import annotations

from projector.ops.cli import checks, dlq, replay
from projector.ops.cli.base import app


def main() -> None:
    app()


__all__ = ["app", "checks", "dlq", "main", "replay"]
