"""Tracing (OpenTelemetry), off by default: the process's tracer and W3C ``traceparent``
propagation through Kafka record headers.

``setup(settings, service)`` is called once by each process's ``main`` (never at
import); until then, and with ``ORDERS_TRACING=off``, every helper here returns at its
first test — no span objects, no context switches, no header added or parsed — so the
hot paths pay one function call. Like logging, the tracer is process-wide state: it is
set at start-up and read by the helpers, not passed through every constructor.

A command's trace: the API's request span (``TraceRequests``) -> ``traceparent`` in the
command record's headers -> the decider's span for that command -> ``traceparent`` in
each event record -> the projector's span applying that event. A client may send its
own ``traceparent`` to either API.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterable, MutableMapping, Sequence
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:  # the SDK is imported only when tracing is on (~0.2 s of every start-up)
    from opentelemetry.context import Context
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        SimpleSpanProcessor,
        SpanExporter,
    )
    from opentelemetry.trace import Span, SpanKind, Tracer
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from ordersource.settings import Settings

Headers = list[tuple[str, bytes]]

TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"
_FIELDS = (TRACEPARENT, TRACESTATE)
_tracer: Tracer | None = None  # None: tracing is off


def setup(settings: Settings, service: str) -> TracerProvider | None:
    """Start tracing as ``settings.tracing`` says (nothing when ``off``); returns the
    provider, which flushes and shuts down by itself at exit."""
    if settings.tracing == "off":
        install(None)
        return None
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

    provider = TracerProvider(
        resource=Resource.create({"service.name": f"ordersource-{service}"}),
        sampler=ParentBased(TraceIdRatioBased(settings.tracing_sample_ratio)),
    )
    provider.add_span_processor(_processor(settings, service))
    trace.set_tracer_provider(provider)
    install(provider)
    return provider


def _processor(settings: Settings, service: str) -> SimpleSpanProcessor | BatchSpanProcessor:
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        ConsoleSpanExporter,
        SimpleSpanProcessor,
    )

    if settings.tracing == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return BatchSpanProcessor(OTLPSpanExporter(endpoint=settings.tracing_otlp_endpoint))
    if settings.tracing == "file":
        path = settings.tracing_file.replace("{service}", service)
        out: IO[str] = open(path, "a", encoding="utf-8")  # noqa: SIM115 (closed at exit)
        return SimpleSpanProcessor(_json_lines(out))
    return SimpleSpanProcessor(ConsoleSpanExporter())


def _json_lines(out: IO[str]) -> SpanExporter:
    """One span per line (the SDK's JSON, unindented), flushed after each span."""
    from opentelemetry.sdk.trace.export import ConsoleSpanExporter

    def line(span: ReadableSpan) -> str:
        return str(span.to_json(indent=None)) + "\n"

    return ConsoleSpanExporter(out=out, formatter=line)


def install(provider: TracerProvider | None) -> None:
    """Use ``provider``'s tracer from now on (None: tracing off). For ``setup`` and tests."""
    global _tracer
    _tracer = None if provider is None else provider.get_tracer("ordersource")


def enabled() -> bool:
    return _tracer is not None


def inject(headers: Headers) -> None:
    """Append the current span's ``traceparent`` (and ``tracestate``) to record headers."""
    if _tracer is None:
        return
    carrier: dict[str, str] = {}
    _propagator().inject(carrier)
    headers.extend((key, value.encode()) for key, value in carrier.items())


def extract(headers: Iterable[tuple[str, bytes]] | None) -> Context | None:
    """The trace context record headers carry, if any (None also when tracing is off)."""
    if _tracer is None or not headers:
        return None
    carrier = {k: v.decode("latin-1") for k, v in headers if k in _FIELDS and v is not None}
    if TRACEPARENT not in carrier:
        return None
    return _propagator().extract(carrier)


def span(
    name: str,
    *,
    headers: Iterable[tuple[str, bytes]] | None = None,
    attributes: dict[str, Any] | None = None,
    kind: SpanKind | None = None,
) -> contextlib.AbstractContextManager[Span | None]:
    """A span (``kind`` None: internal) made current for the block, child of the context
    in ``headers`` if they carry one (else of the current span); a no-op yielding None
    when tracing is off."""
    if _tracer is None:
        return _NOTHING
    from opentelemetry.trace import SpanKind

    return _tracer.start_as_current_span(
        name, context=extract(headers), kind=kind or SpanKind.INTERNAL, attributes=attributes
    )


def spans_per_record(
    name: str,
    records: Sequence[Iterable[tuple[str, bytes]] | None],
    *,
    attributes: dict[str, Any] | None = None,
) -> list[Span]:
    """Started spans (end them with ``end``), one child of each record's context that
    carries one, all linked to the current span: the projector applies a batch at once,
    each event's trace gets a span for it. Empty when tracing is off."""
    if _tracer is None:
        return []
    from opentelemetry import trace
    from opentelemetry.trace import Link, SpanKind

    current = trace.get_current_span().get_span_context()
    links = [Link(current)] if current.is_valid else None
    started = []
    for headers in records:
        parent = extract(headers)
        if parent is not None:
            started.append(
                _tracer.start_span(
                    name,
                    context=parent,
                    kind=SpanKind.CONSUMER,
                    attributes=attributes,
                    links=links,
                )
            )
    return started


def end(spans: Iterable[Span], error: BaseException | None = None) -> None:
    from opentelemetry.trace import StatusCode

    for each in spans:
        if error is not None:
            each.record_exception(error)
            each.set_status(StatusCode.ERROR, repr(error))
        each.end()


def annotate(**attributes: str | int | None) -> None:
    """Set attributes on the current span (``None`` values left out)."""
    if _tracer is None:
        return
    from opentelemetry import trace

    current = trace.get_current_span()
    for key, value in attributes.items():
        if value is not None:
            current.set_attribute(key, value)


def current_ids() -> tuple[str, str] | None:
    """(trace id, span id) of the current span in hex, for log lines; None without one."""
    if _tracer is None:
        return None
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return format(context.trace_id, "032x"), format(context.span_id, "016x")


def _propagator() -> TraceContextTextMapPropagator:
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    global _PROPAGATOR
    if _PROPAGATOR is None:
        _PROPAGATOR = TraceContextTextMapPropagator()
    return _PROPAGATOR


_PROPAGATOR: TraceContextTextMapPropagator | None = None
_NOTHING: contextlib.AbstractContextManager[None] = contextlib.nullcontext()

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


UNTRACED = frozenset({"/healthz", "/readyz", "/metrics"})
"""Probes and scrapes: no spans."""


class TraceRequests:
    """ASGI middleware: one server span per HTTP request, child of the request's
    ``traceparent`` if it has one. Installed only when tracing is on."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if _tracer is None or scope["type"] != "http" or scope.get("path") in UNTRACED:
            await self.app(scope, receive, send)
            return
        from opentelemetry.trace import SpanKind, StatusCode

        headers = [(k.decode("latin-1"), v) for k, v in scope.get("headers", ())]
        method = scope.get("method", "GET")
        attributes = {"http.request.method": method, "url.path": scope.get("path", "")}
        with _tracer.start_as_current_span(
            method, context=extract(headers), kind=SpanKind.SERVER, attributes=attributes
        ) as current:

            async def traced_send(message: MutableMapping[str, Any]) -> None:
                if message["type"] == "http.response.start":
                    status = int(message["status"])
                    current.set_attribute("http.response.status_code", status)
                    if status >= 500:
                        current.set_status(StatusCode.ERROR)
                await send(message)

            try:
                await self.app(scope, receive, traced_send)
            finally:
                route = getattr(scope.get("route"), "path", None)
                if route:
                    current.update_name(f"{method} {route}")
                    current.set_attribute("http.route", route)
