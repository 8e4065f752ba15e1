"""``python -m command_service``: serve the command API with uvicorn."""

from __future__ import annotations

import uvicorn

from command_service.api.app import create_app
from ordersource.runtime import configure_logging
from ordersource.settings import Settings


def main() -> None:
    settings = Settings()
    configure_logging(settings.log_level, "command-api")
    uvicorn.run(
        create_app(settings),
        host=settings.command_api_host,
        port=settings.command_api_port,
        log_level=settings.log_level.lower(),
        access_log=False,
    )


if __name__ == "__main__":
    main()
