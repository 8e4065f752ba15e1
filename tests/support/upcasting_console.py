"""``python -m tests.support.upcasting_console``: the console as it runs once a fix is
deployed — here an upcaster for ``OrderPlaced`` schema version 0, which the projector
(started without it) dead-letters. The console's dead-letter replay then finds those
records readable, as ``orders dlq replay`` does after a deploy (tests/integration/
test_cli_dlq.py does the same in-process)."""

from __future__ import annotations

from typing import Any

from ordersource.codec import UPCASTERS
from projector.console.__main__ import main


def lift_v0(raw: dict[str, Any]) -> dict[str, Any]:
    return raw | {"schema_version": 1}


if __name__ == "__main__":
    UPCASTERS[("OrderPlaced", 0)] = lift_v0
    main()
