"""Process plumbing shared by every service: logging set-up and SIGTERM handling."""

from __future__ import annotations

import faulthandler
import logging
import signal
import sys
from collections.abc import Callable
from typing import Literal

from ordersource import logs


def configure_logging(level: str, service: str, fmt: Literal["text", "json"] = "text") -> None:
    """Log to stderr, as text lines or JSON objects (``ORDERS_LOG_FORMAT``); ``kill -USR1
    <pid>`` writes every thread's stack there too (for a process that is alive but stuck:
    no restart, no debugger needed)."""
    handler = logging.StreamHandler(sys.stderr)
    logs.structured(fmt == "json")
    if fmt == "json":
        handler.setFormatter(logs.JsonFormatter(service))
    else:
        handler.setFormatter(
            logging.Formatter(f"%(asctime)s %(levelname)s {service} %(name)s: %(message)s")
        )
    logging.basicConfig(level=level.upper(), handlers=[handler])
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
