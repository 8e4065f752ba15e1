"""Tracing helpers: off adds and reads nothing; on, ``traceparent`` goes into record
headers and comes back out as the parent of the next span."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from ordersource import tracing
from ordersource.settings import Settings

pytestmark = pytest.mark.unit


@pytest.fixture
def exported() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracing.install(provider)
    try:
        yield exporter
    finally:
        tracing.install(None)


def test_off_by_default_adds_no_header_reads_none_and_makes_no_span() -> None:
    assert Settings().tracing == "off"
    assert tracing.setup(Settings(), "probe") is None
    headers: list[tuple[str, bytes]] = []
    with tracing.span(
        "x", headers=[("traceparent", b"00-" + b"1" * 32 + b"-" + b"2" * 16 + b"-01")]
    ) as s:
        tracing.inject(headers)
        assert s is None
    assert headers == []
    assert tracing.extract([("traceparent", b"garbage")]) is None
    assert tracing.spans_per_record("x", [[("traceparent", b"...")]]) == []
    assert tracing.current_ids() is None


def test_a_span_continues_the_trace_its_record_headers_carry(
    exported: InMemorySpanExporter,
) -> None:
    headers: list[tuple[str, bytes]] = [("type", b"OrderPlaced")]
    with tracing.span("send"):
        tracing.inject(headers)
    (traceparent,) = [v for k, v in headers if k == "traceparent"]
    with tracing.span("decide", headers=headers, attributes={"orders.order_id": "o1"}):
        assert tracing.current_ids() is not None
    later = tracing.spans_per_record("project event", [headers, [], None])
    assert len(later) == 1  # records without a traceparent get no span
    tracing.end(later)
    send, decide, project = exported.get_finished_spans()
    assert send.context is not None
    assert decide.context is not None
    assert traceparent.decode().split("-")[1] == format(send.context.trace_id, "032x")
    assert decide.parent is not None
    assert decide.parent.span_id == send.context.span_id
    assert decide.context.trace_id == send.context.trace_id
    assert decide.attributes == {"orders.order_id": "o1"}
    assert project.parent is not None
    assert project.parent.span_id == send.context.span_id


def test_a_record_without_trace_context_starts_no_trace_of_its_own_parent(
    exported: InMemorySpanExporter,
) -> None:
    assert tracing.extract([("type", b"OrderPlaced")]) is None
    with tracing.span("decide", headers=[]):
        pass
    (span,) = exported.get_finished_spans()
    assert span.parent is None
