"""``python -m projector.console``: serve the operator's console with uvicorn until SIGTERM.

On SIGTERM uvicorn stops taking requests and the lifespan ends: a running job is
cancelled (a replay drops the generation it was building) and the clients are closed.
"""

from __future__ import annotations

import uvicorn

from ordersource.runtime import configure_logging
from ordersource.settings import Settings
from projector.console.app import create_app


def main() -> None:
    settings = Settings()
    configure_logging(settings.log_level, "console", settings.log_format)
    uvicorn.run(
        create_app(settings),
        host=settings.console_host,
        port=settings.console_port,
        log_level=settings.log_level.lower(),
        access_log=False,
        log_config=None if settings.log_format == "json" else uvicorn.config.LOGGING_CONFIG,
    )


if __name__ == "__main__":
    main()
