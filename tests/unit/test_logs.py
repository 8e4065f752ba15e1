"""The JSON log formatter: one object per line, the command's ids and the trace id on
the lines logged while it is handled, nothing of them outside."""

from __future__ import annotations

import io
import json
import logging

import pytest
from opentelemetry.sdk.trace import TracerProvider

from ordersource import logs, tracing

pytestmark = pytest.mark.unit


def capture() -> tuple[logging.Logger, io.StringIO]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logs.JsonFormatter("decider"))
    logger = logging.getLogger("tests.unit.test_logs")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    return logger, out


def lines(out: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_a_line_is_one_json_object_with_the_commands_ids_while_bound() -> None:
    logger, out = capture()
    logger.info("before")
    with logs.bound(order_id="o-1", command_id="c-1"):
        logger.warning("deciding %s", "PlaceOrder")
    logger.info("after")
    before, during, after = lines(out)
    assert before.keys() == {"ts", "level", "service", "logger", "message"}
    assert during["message"] == "deciding PlaceOrder"
    assert during["level"] == "WARNING"
    assert during["service"] == "decider"
    assert (during["order_id"], during["command_id"]) == ("o-1", "c-1")
    assert "order_id" not in after
    assert "command_id" not in after
    assert str(before["ts"]).endswith("+00:00")


def test_the_trace_id_of_the_current_span_and_exceptions_are_included() -> None:
    logger, out = capture()
    tracing.install(TracerProvider())
    try:
        with tracing.span("decide"), logs.bound(order_id="o-2", command_id="c-2"):
            ids = tracing.current_ids()
            try:
                raise ValueError("boom")
            except ValueError:
                logger.exception("could not decide")
    finally:
        tracing.install(None)
    (line,) = lines(out)
    assert ids is not None
    assert (line["trace_id"], line["span_id"]) == ids
    assert "ValueError: boom" in str(line["exc_info"])
    assert line["order_id"] == "o-2"


def test_text_stays_the_default_format() -> None:
    from ordersource.settings import Settings

    assert Settings().log_format == "text"


def test_about_binds_only_with_json_logs() -> None:
    logger, out = capture()
    with logs.about(order_id="o-3", command_id="c-3"):
        logger.info("text logs: no binding")
    logs.structured(True)
    try:
        with logs.about(order_id="o-3", command_id="c-3"):
            logger.info("json logs: bound")
    finally:
        logs.structured(False)
    unbound, bound = lines(out)
    assert "order_id" not in unbound
    assert bound["command_id"] == "c-3"
