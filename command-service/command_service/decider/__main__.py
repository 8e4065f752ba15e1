"""``python -m command_service.decider``: run one decider process until SIGTERM."""

from __future__ import annotations

import logging

from command_service.decider.clients import DeciderClients
from command_service.decider.loop import Decider
from command_service.decider.metrics import REGISTRY
from ordersource import tracing
from ordersource.ops import serve_ops
from ordersource.runtime import configure_logging, on_termination
from ordersource.settings import Settings


def main() -> None:
    settings = Settings()
    configure_logging(settings.log_level, "decider", settings.log_format)
    tracing.setup(settings, "decider")
    decider = Decider(settings, DeciderClients(settings))
    on_termination(decider.stop)
    server = serve_ops(
        settings.decider_host, settings.decider_port, REGISTRY, readiness=decider.readiness
    )
    try:
        decider.run()
    finally:
        server.shutdown()
        decider.close()
        logging.getLogger(__name__).info("decider stopped")


if __name__ == "__main__":
    main()
