"""Request-scoped access to what the lifespan opened (no module-level clients).

``ViewsDep``: the view store bound to the one generation this request reads —
``views:current``, or the ``?generation=`` it names (an unknown one is a 422).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request

from query_service.problems import Problem
from query_service.store import ViewStore


async def get_store(request: Request) -> ViewStore:
    # async: a sync dependency would cost a thread-pool hop on every request
    store: ViewStore = request.app.state.store
    return store


StoreDep = Annotated[ViewStore, Depends(get_store)]


async def get_views(
    request: Request,
    generation: Annotated[
        str | None,
        Query(
            pattern=r"^[0-9]{1,18}$",
            description="Read this view generation (see `orders status`); default: current.",
        ),
    ] = None,
) -> ViewStore:
    # request.app.state.store, not StoreDep: one dependency fewer to solve per request
    store: ViewStore = request.app.state.store
    views = await store.at(generation)
    if views is None:
        raise Problem(
            422,
            "Unknown generation",
            f"view generation {generation} does not exist (orders status lists them)",
            errors=[{"loc": ["query", "generation"], "msg": "unknown", "type": "value_error"}],
        )
    return views


ViewsDep = Annotated[ViewStore, Depends(get_views)]
