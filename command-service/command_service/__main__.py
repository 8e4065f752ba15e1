"""``python -m command_service``: serve the command API with uvicorn."""

from __future__ import annotations

from command_service.api.app import create_app
from ordersource import tracing
from ordersource.runtime import configure_logging
from ordersource.settings import Settings
from ordersource.web import serve


def main() -> None:
    settings = Settings()
    configure_logging(settings.log_level, "command-api", settings.log_format)
    tracing.setup(settings, "command-api")
    serve(create_app(settings), settings.command_api_host, settings.command_api_port, settings)


if __name__ == "__main__":
    main()
