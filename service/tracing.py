"""OpenTelemetry traces: a tracer provider per app, OTLP/HTTP when an endpoint is configured,
otherwise OTLP JSON lines to a file (one ``ExportTraceServiceRequest`` a line).

Spans come from :class:`service.spans.LeanTracer` (the OTel API, the provider's sampler, ids, resource
and processors, at a fraction of the SDK span's CPU). The server span is started by the telemetry
middleware (``service.http``) with :func:`start_server_span`, not by
``opentelemetry-instrumentation-aiohttp-server`` 0.66b1: that package either monkey-patches
``web.Application`` globally (the instrumentor) or, used as a bare middleware, needs module globals
that only the instrumentor sets (``active_requests_counter``), and it has no per-app tracer provider.
Client spans: one per odds attempt from :class:`service.odds_client.OddsClient`, or with
``CRASHLAB_OTEL_CLIENT_SPANS=contrib`` from ``opentelemetry-instrumentation-aiohttp-client``.
"""

from __future__ import annotations

import base64
import os
import threading
from collections.abc import Sequence
from contextvars import Token
from pathlib import Path
from typing import IO, Any

import aiohttp
from aiohttp import web
from google.protobuf.json_format import MessageToDict  # type: ignore[import-untyped]
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.baggage import _BAGGAGE_KEY
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.instrumentation.aiohttp_client import create_trace_config
from opentelemetry.propagators.textmap import Getter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import SpanKind
from opentelemetry.trace.propagation import _SPAN_KEY

from service.otlp_json import encode_line
from service.spans import (
    NO_TRACE_STATE,
    LeanSpan,
    LeanTracer,
    attach_span,
    current_value,
    flags_of,
    is_valid_of,
    span_id_of,
    trace_id_of,
    trace_state_of,
)

_ID_KEYS = ("traceId", "spanId", "parentSpanId")


def _hex_ids(node: Any) -> None:
    """OTLP/JSON writes trace and span ids as hex, not protobuf-JSON base64."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _ID_KEYS and isinstance(value, str):
                node[key] = base64.b64decode(value).hex()
            else:
                _hex_ids(value)
    elif isinstance(node, list):
        for item in node:
            _hex_ids(item)


def otlp_json(spans: Sequence[ReadableSpan]) -> dict[str, Any]:
    """The OTLP/JSON encoding of an ``ExportTraceServiceRequest`` holding ``spans``, by protobuf
    (the reference for :func:`service.otlp_json.encode`, which the exporter uses)."""
    data: dict[str, Any] = MessageToDict(encode_spans(spans), use_integers_for_enums=True)
    _hex_ids(data)
    return data


class OtlpJsonLinesExporter(SpanExporter):
    """Writes each batch as one line of OTLP/JSON (``{"resourceSpans": [...]}``); one batch is at most
    512 spans (the BatchSpanProcessor's default export size). Runs in the processor's thread, off the
    event loop; :func:`service.otlp_json.encode_line` keeps its CPU small."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fh: IO[bytes] | None = path.open("ab")
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        line = encode_line(spans)
        with self._lock:
            if self._fh is None:
                return SpanExportResult.FAILURE
            self._fh.write(line)
            self._fh.flush()
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        with self._lock:
            if self._fh is not None:
                self._fh.close()
                self._fh = None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def make_tracer_provider(service: str, *, trace_file: Path | None, sample_ratio: float) -> TracerProvider:
    provider = TracerProvider(
        resource=Resource.create({"service.name": service, "service.namespace": "crashlab"}),
        sampler=ParentBased(TraceIdRatioBased(sample_ratio)),
    )
    exporter: SpanExporter | None = None
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter()
    elif trace_file is not None:
        exporter = OtlpJsonLinesExporter(trace_file)
    if exporter is not None:
        # the queue holds a few seconds of spans at a thousand rounds a second (three spans a round):
        # a slow export (a busy core) delays spans, it does not drop them
        provider.add_span_processor(
            BatchSpanProcessor(exporter, max_queue_size=16384, schedule_delay_millis=1000)
        )
    return provider


#: ``contrib``: client spans from opentelemetry-instrumentation-aiohttp-client (full semantic
#: conventions, about 3x the CPU of the rest of the tracing); ``lean`` (default): one CLIENT span per
#: attempt from :class:`service.odds_client.OddsClient` with the OTel API, same W3C propagation.
CLIENT_SPANS_ENV = "CRASHLAB_OTEL_CLIENT_SPANS"


def client_trace_configs(provider: TracerProvider) -> list[aiohttp.TraceConfig]:
    """The contrib client instrumentation when ``CRASHLAB_OTEL_CLIENT_SPANS=contrib``, else none."""
    if os.environ.get(CLIENT_SPANS_ENV, "lean") == "contrib":
        return [create_trace_config(tracer_provider=provider)]
    return []


class _HeaderGetter(Getter[web.Request]):
    def get(self, carrier: web.Request, key: str) -> list[str] | None:
        value = carrier.headers.getall(key, None)
        return list(value) if value else None

    def keys(self, carrier: web.Request) -> list[str]:
        return list(carrier.headers.keys())


_GETTER = _HeaderGetter()


def current_ids() -> tuple[str, str]:
    """(trace id, span id) of the current span in hex, zeros without one."""
    current = current_value(_SPAN_KEY)
    if type(current) is LeanSpan:  # not isinstance: an ABC's check is a call
        return current.hex_ids()
    span = trace.get_current_span()
    ctx = span.get_span_context()
    if not ctx.is_valid:
        return "0" * 32, "0" * 16
    return format(ctx.trace_id, "032x"), format(ctx.span_id, "016x")


#: an enum class's attribute goes through EnumType.__getattr__'s hook: read once
_SERVER = SpanKind.SERVER
#: trace flags in hex, by value (a format spec is parsed on every call)
_FLAGS_HEX = [f"{n:02x}" for n in range(256)]
#: the propagators at import: W3C trace context and baggage, unless OTEL_PROPAGATORS names others
_DEFAULT_TEXTMAP = propagate.get_global_textmap()
_W3C_DEFAULT = not os.environ.get("OTEL_PROPAGATORS")


def inject_context(span: trace.Span, headers: dict[str, str]) -> None:
    """``span``'s context into ``headers`` (W3C ``traceparent``, ``tracestate``). With the default
    propagators and no baggage, the header is written directly (what ``propagate.inject`` writes, at a
    tenth of its CPU); otherwise through ``propagate.inject``."""
    if (
        _W3C_DEFAULT
        and propagate.get_global_textmap() is _DEFAULT_TEXTMAP
        and not current_value(_BAGGAGE_KEY)  # no baggage (what baggage.get_all() reads)
    ):
        ctx = span.get_span_context()
        if is_valid_of(ctx):
            if type(span) is LeanSpan:
                trace_id, span_id = span.hex_ids()  # formatted once: the log line and the export reuse them
                headers["traceparent"] = f"00-{trace_id}-{span_id}-{_FLAGS_HEX[flags_of(ctx) & 0xFF]}"
            else:
                headers["traceparent"] = (
                    f"00-{trace_id_of(ctx):032x}-{span_id_of(ctx):016x}-{flags_of(ctx):02x}"
                )
            state = trace_state_of(ctx)
            if state is not NO_TRACE_STATE and state:  # an empty state's len() is a Python call
                headers["tracestate"] = state.to_header()
        return
    propagate.inject(headers, context=trace.set_span_in_context(span))


def start_server_span(
    tracer: LeanTracer, request: web.Request, route: str
) -> tuple[trace.Span, Token[otel_context.Context]]:
    """The request's SERVER span (a child of the caller's W3C ``traceparent`` when it sent one), made
    the current span; the caller ends it and detaches the token."""
    # no W3C header (a player): skip the propagators
    parent = propagate.extract(request, getter=_GETTER) if "traceparent" in request.headers else None
    method = request.method
    span = tracer.start_span(
        f"{method} {route}",
        context=parent,
        kind=_SERVER,
        attributes={"http.request.method": method, "http.route": route, "url.path": request.path},
    )
    return span, attach_span(span, parent)
