"""``python -m command_service``: serve the command API with uvicorn."""

from __future__ import annotations

import uvicorn

from command_service.api.app import create_app
from ordersource import tracing
from ordersource.runtime import configure_logging
from ordersource.settings import Settings


def main() -> None:
    settings = Settings()
    configure_logging(settings.log_level, "command-api", settings.log_format)
    tracing.setup(settings, "command-api")
    uvicorn.run(
        create_app(settings),
        host=settings.command_api_host,
        port=settings.command_api_port,
        log_level=settings.log_level.lower(),
        access_log=False,
        # JSON: uvicorn's own lines go through the root handler too; text: its default.
        log_config=None if settings.log_format == "json" else uvicorn.config.LOGGING_CONFIG,
    )


if __name__ == "__main__":
    main()
