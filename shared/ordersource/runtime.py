"""Process plumbing shared by every service: logging set-up and SIGTERM handling."""

from __future__ import annotations

import faulthandler
import logging
import signal
import sys
from collections.abc import Callable


def configure_logging(level: str, service: str) -> None:
    """Log to stderr; ``kill -USR1 <pid>`` writes every thread's stack there too (for a
    process that is alive but stuck: no restart, no debugger needed)."""
    logging.basicConfig(
        level=level.upper(),
        stream=sys.stderr,
        format=f"%(asctime)s %(levelname)s {service} %(name)s: %(message)s",
    )
    # The Kafka clients narrate every connection at INFO; keep their warnings only.
    for noisy in ("kafka", "aiokafka"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLogger().level))
    enable_stack_dumps()


def enable_stack_dumps() -> None:
    """``kill -USR1 <pid>``: every thread's stack to stderr, from a C-level handler that
    answers even when the interpreter's event loop or main thread is stuck."""
    faulthandler.unregister(signal.SIGUSR1)  # else register() keeps a stale OS handler
    faulthandler.register(signal.SIGUSR1, file=sys.stderr, all_threads=True, chain=False)


def on_termination(stop: Callable[[], None]) -> None:
    """Call ``stop`` on SIGTERM or SIGINT (from the main thread)."""
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop())
