"""``python -m projector``: check the topics, then run the Faust worker until SIGTERM.

Faust's worker installs the SIGTERM/SIGINT handlers and stops the app cleanly: the
batch in hand either commits atomically or not at all, so no signal can half-apply one.
"""

from __future__ import annotations

import gc

import faust

from ordersource.runtime import configure_logging
from ordersource.settings import Settings
from projector.app import create_app
from projector.topics import ensure_topics


def main() -> None:
    settings = Settings()
    configure_logging(settings.log_level, "projector")
    ensure_topics(settings)
    app = create_app(settings)
    app.conf.datadir.parent.mkdir(parents=True, exist_ok=True)  # Faust makes only the leaf
    # The projector allocates many short-lived objects per event; with CPython's default
    # gen-0 threshold (700) the collector ran so often it cost more than the fold.
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    worker = faust.Worker(app, loglevel=settings.log_level, redirect_stdouts=False)
    worker.execute_from_commandline()


if __name__ == "__main__":
    main()
