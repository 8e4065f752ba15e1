"""Refuse bodies an API will not read: over the size limit (413), not JSON (415), or
headers over 16 KiB (431). The command API and the console install it."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ordersource.web import problem_response

MAX_HEADER_BYTES = 16 * 1024


class BodyGuard:
    """Pure ASGI middleware: refuses oversized headers (431), and checks Content-Type and
    size before FastAPI parses a POST body."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _header_bytes(scope) > MAX_HEADER_BYTES:
            response = problem_response(
                431,
                "Headers too large",
                f"request headers must not exceed {MAX_HEADER_BYTES} bytes",
            )
            await response(scope, receive, send)
            return
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        media = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
        if media != b"application/json" and not media.endswith(b"+json"):
            response = problem_response(
                415, "Unsupported media type", "send the body as application/json"
            )
            await response(scope, receive, send)
            return
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_bytes):
            await self._too_large(scope, receive, send)
            return
        # Chunked bodies have no length up front: read them here, up to the limit.
        body = bytearray()
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > self.max_bytes:
                await self._too_large(scope, receive, send)
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": bytes(body), "more_body": False}

        await self.app(scope, replay, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem_response(
            413, "Body too large", f"the body must not exceed {self.max_bytes} bytes"
        )
        await response(scope, receive, send)


def _header_bytes(scope: Scope) -> int:
    return sum(len(name) + len(value) for name, value in scope["headers"])
