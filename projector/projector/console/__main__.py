"""``python -m projector.console``: serve the operator's console with uvicorn until SIGTERM.

On SIGTERM uvicorn stops taking requests and the lifespan ends: a running job is
cancelled (a replay drops the generation it was building) and the clients are closed.
"""

from __future__ import annotations

from ordersource.runtime import configure_logging
from ordersource.settings import Settings
from ordersource.web import serve
from projector.console.app import create_app


def main() -> None:
    settings = Settings()
    configure_logging(settings.log_level, "console", settings.log_format)
    serve(create_app(settings), settings.console_host, settings.console_port, settings)


if __name__ == "__main__":
    main()
