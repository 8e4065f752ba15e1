"""The console reads the query API at the path it was asked for: an order id of dots is
an order id, not a path step (``projector.console.routes.encode_path``)."""

from __future__ import annotations

import httpx

from projector.console.routes import encode_path


def test_query_paths_keep_dot_segments_as_order_ids() -> None:
    for order_id in ("..", ".", "a.b", "x:y-z_1"):
        path = encode_path(f"orders/{order_id}/history")
        raw = httpx.URL(f"http://q/{path}").raw_path.decode()
        assert raw.count("/") == 3, (order_id, raw)  # nothing resolved away
        assert raw.endswith("/history")
