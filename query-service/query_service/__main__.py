"""``python -m query_service``: serve the query API with uvicorn until SIGTERM."""

from __future__ import annotations

import uvicorn

from ordersource import tracing
from ordersource.runtime import configure_logging
from ordersource.settings import Settings
from query_service.app import create_app


def main() -> None:
    settings = Settings()
    configure_logging(settings.log_level, "query-api", settings.log_format)
    tracing.setup(settings, "query-api")
    uvicorn.run(
        create_app(settings),
        host=settings.query_api_host,
        port=settings.query_api_port,
        log_level=settings.log_level.lower(),
        access_log=False,
        # JSON: uvicorn's own lines go through the root handler too; text: its default.
        log_config=None if settings.log_format == "json" else uvicorn.config.LOGGING_CONFIG,
    )


if __name__ == "__main__":
    main()
