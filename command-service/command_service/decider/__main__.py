"""``python -m command_service.decider``: run one decider process until SIGTERM.

Kafka that does not answer at start-up (a cluster still electing, a broker down) is
waited for, with back-off and a log line per attempt, never a reason to exit; meanwhile
/readyz answers 503 ``unavailable`` with ``kafka`` false.
"""

from __future__ import annotations

import logging
import threading

from kafka.errors import KafkaConnectionError, KafkaTimeoutError
from tenacity import Retrying, retry_if_exception_type, stop_when_event_set, wait_exponential

from command_service.decider.clients import DeciderClients
from command_service.decider.loop import Decider
from command_service.decider.metrics import REGISTRY
from ordersource import tracing
from ordersource.ops import serve_ops
from ordersource.readiness import Readiness, readiness
from ordersource.runtime import configure_logging, on_termination
from ordersource.settings import Settings

log = logging.getLogger(__name__)

CONNECT_BACKOFF_MAX_S = 10.0
"""The longest wait between two attempts to reach Kafka at start-up."""


def connect(settings: Settings, stopping: threading.Event) -> DeciderClients | None:
    """The decider's clients, once Kafka answers (None: stopped while waiting)."""

    def pause(seconds: float) -> None:  # ended at once by SIGTERM
        stopping.wait(seconds)

    retrying = Retrying(
        # Kafka not answering; a wrong setting (KafkaConfigurationError) is not waited out.
        retry=retry_if_exception_type((KafkaTimeoutError, KafkaConnectionError)),
        wait=wait_exponential(multiplier=0.5, max=CONNECT_BACKOFF_MAX_S),
        stop=stop_when_event_set(stopping),
        sleep=pause,
        before_sleep=lambda state: log.warning(
            "Kafka does not answer yet (%r); attempt %d, retrying",
            state.outcome.exception() if state.outcome else None,
            state.attempt_number,
        ),
        retry_error_callback=lambda _: None,
        reraise=False,
    )
    clients: DeciderClients | None = retrying(DeciderClients, settings)
    return clients


def main() -> None:
    settings = Settings()
    configure_logging(settings.log_level, "decider", settings.log_format)
    tracing.setup(settings, "decider")
    stopping = threading.Event()
    running: list[Decider] = []

    def stop() -> None:
        stopping.set()
        for decider in running:
            decider.stop()

    def ready() -> Readiness:
        if running:
            return running[0].readiness()
        return readiness({"kafka": False}, ["kafka"])

    on_termination(stop)
    server = serve_ops(settings.decider_host, settings.decider_port, REGISTRY, readiness=ready)
    try:
        clients = connect(settings, stopping)
        if clients is None:
            return
        decider = Decider(settings, clients)
        running.append(decider)
        if stopping.is_set():  # SIGTERM between the connect and now
            decider.stop()
        try:
            decider.run()
        finally:
            decider.close()
    finally:
        server.shutdown()
        log.info("decider stopped")


if __name__ == "__main__":
    main()
