"""RFC 9457 problem documents (pure; the HTTP glue is in ``ordersource.web``)."""

from __future__ import annotations

from typing import Any


def problem(status: int, title: str, detail: str, **extra: Any) -> dict[str, Any]:
    slug = title.lower().replace(" ", "-")
    return {
        "type": f"/problems/{slug}",
        "title": title,
        "status": status,
        "detail": detail,
        **extra,
    }
