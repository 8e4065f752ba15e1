"""``python -m projector``: check the topics, then run the Faust worker until SIGTERM.

Faust's worker installs the SIGTERM/SIGINT handlers and stops the app cleanly: the
batch in hand either commits atomically or not at all, so no signal can half-apply one.
Faust's shutdown can hang (an agent stopped while its partitions are being assigned
never finishes stopping), so a watchdog ends the process if the clean stop takes longer
than ``STOP_GRACE_S``. That loses nothing: the views and their checkpoints are written
atomically, and the next owner resumes from the checkpoint.
"""

from __future__ import annotations

import gc
import logging
import os
import signal
import threading

import faust

from ordersource import tracing
from ordersource.runtime import configure_logging, enable_stack_dumps
from ordersource.settings import Settings
from projector.runtime.app import create_app
from projector.runtime.clients import Clients
from projector.runtime.topics import ensure_projector_topics

STOP_GRACE_S = 15.0


class Worker(faust.Worker):
    keep_logging = False
    """True: keep ``configure_logging``'s handler (JSON lines) instead of mode's."""

    def _setup_logging(self) -> None:
        if not self.keep_logging:
            super()._setup_logging()

    def install_signal_handlers(self) -> None:
        super().install_signal_handlers()
        # mode answers SIGUSR1 from the event loop, which is exactly what cannot answer
        # when the worker is stuck: keep the C-level stack dump of configure_logging.
        self.loop.remove_signal_handler(signal.SIGUSR1)
        enable_stack_dumps()

    def _on_sigterm(self) -> None:
        _start_watchdog()
        super()._on_sigterm()

    def _on_sigint(self) -> None:
        _start_watchdog()
        super()._on_sigint()


def _start_watchdog() -> None:
    def expire() -> None:
        logging.getLogger(__name__).warning("clean stop took over %.0f s; exiting", STOP_GRACE_S)
        os._exit(0)

    timer = threading.Timer(STOP_GRACE_S, expire)
    timer.daemon = True
    timer.start()


def main() -> None:
    settings = Settings()
    configure_logging(settings.log_level, "projector", settings.log_format)
    tracing.setup(settings, "projector")
    ensure_projector_topics(settings)
    app = create_app(settings, clients=Clients.build(settings))
    app.conf.datadir.parent.mkdir(parents=True, exist_ok=True)  # Faust makes only the leaf
    # The projector allocates many short-lived objects per event; with CPython's default
    # gen-0 threshold (700) the collector ran so often it cost more than the fold.
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    worker = Worker(app, loglevel=settings.log_level, redirect_stdouts=False)
    worker.keep_logging = settings.log_format == "json"
    worker.execute_from_commandline()


if __name__ == "__main__":
    main()
