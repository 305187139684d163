"""OpenTelemetry traces: a tracer provider per app, OTLP/HTTP when an endpoint is configured,
otherwise OTLP JSON lines to a file (one ``ExportTraceServiceRequest`` a line).

The server span comes from :func:`tracing_middleware`, a small middleware on the OTel API:
``opentelemetry-instrumentation-aiohttp-server`` 0.66b1 either monkey-patches ``web.Application``
globally (the instrumentor) or, used as a bare middleware, needs module globals that only the
instrumentor sets (``active_requests_counter``), and it has no per-app tracer provider. The client
side uses ``opentelemetry-instrumentation-aiohttp-client``'s ``create_trace_config`` (spans and W3C
``traceparent`` propagation to the odds service).
"""

from __future__ import annotations

import base64
import json
import os
import threading
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import IO, Any

import aiohttp
from aiohttp import web
from aiohttp.typedefs import Middleware
from google.protobuf.json_format import MessageToDict  # type: ignore[import-untyped]
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.instrumentation.aiohttp_client import create_trace_config
from opentelemetry.propagators.textmap import Getter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import SpanKind, Status, StatusCode

from service.otlp_json import encode

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

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
    512 spans (the BatchSpanProcessor's default export size)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._fh: IO[str] | None = path.open("a", encoding="utf-8")
        self._lock = threading.Lock()

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        line = json.dumps(encode(spans), separators=(",", ":")) + "\n"
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
        provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=1000))
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
    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return "0" * 32, "0" * 16
    return format(ctx.trace_id, "032x"), format(ctx.span_id, "016x")


def tracing_middleware(provider: TracerProvider, service: str) -> Middleware:
    tracer = provider.get_tracer(f"crashlab.{service}")

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        # no W3C header (a player): skip the propagators
        parent = propagate.extract(request, getter=_GETTER) if "traceparent" in request.headers else None
        route = request.match_info.route.resource
        path = route.canonical if route is not None else "unmatched"
        span = tracer.start_span(
            f"{request.method} {path}",
            context=parent,
            kind=SpanKind.SERVER,
            attributes={"http.request.method": request.method, "http.route": path, "url.path": request.path},
        )
        token = otel_context.attach(trace.set_span_in_context(span, parent))
        try:
            response = await handler(request)
            span.set_attribute("http.response.status_code", response.status)
            if response.status >= 500:
                span.set_status(Status(StatusCode.ERROR))
            return response
        except web.HTTPException as exc:
            span.set_attribute("http.response.status_code", exc.status)
            raise
        except BaseException as exc:
            span.record_exception(exc)
            span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
            raise
        finally:
            otel_context.detach(token)
            span.end()

    return middleware
