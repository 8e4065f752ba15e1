"""Request-scoped access to what the lifespan opened (no module-level clients)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from query_service.store import ViewStore


async def get_store(request: Request) -> ViewStore:
    # async: a sync dependency would cost a thread-pool hop on every request
    store: ViewStore = request.app.state.store
    return store


StoreDep = Annotated[ViewStore, Depends(get_store)]
