"""The HTTP ceiling: one GET route on the services' own stack (FastAPI under uvicorn, one
process, the same uvicorn settings as ``command_service`` and ``query_service``).

    python -m bench.noop --port 8099
"""

from __future__ import annotations

import argparse

import uvicorn
from fastapi import FastAPI
from fastapi.responses import Response

from ordersource.runtime import configure_logging

BODY = b'{"order_id":"noop","version":1,"status":"placed"}'


def create_app() -> FastAPI:
    app = FastAPI(title="noop")

    @app.get("/noop")
    async def noop() -> Response:
        return Response(BODY, media_type="application/json")

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    configure_logging("INFO", "noop")
    uvicorn.run(create_app(), host="127.0.0.1", port=args.port, log_level="info", access_log=False)


if __name__ == "__main__":
    main()
