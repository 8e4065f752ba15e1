"""``python -m query_service``: serve the query API with uvicorn until SIGTERM."""

from __future__ import annotations

from ordersource import tracing
from ordersource.runtime import configure_logging
from ordersource.settings import Settings
from ordersource.web import serve
from query_service.app import create_app


def main() -> None:
    settings = Settings()
    configure_logging(settings.log_level, "query-api", settings.log_format)
    tracing.setup(settings, "query-api")
    serve(create_app(settings), settings.query_api_host, settings.query_api_port, settings)


if __name__ == "__main__":
    main()
