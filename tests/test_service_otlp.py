"""The fast OTLP/JSON span encoder writes exactly what the protobuf route writes."""

from __future__ import annotations

import json

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags

from service.otlp_json import encode
from service.tracing import otlp_json


def test_fast_encoder_matches_protobuf() -> None:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "t", "n": 3, "ok": True}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("a", "1.0", schema_url="https://opentelemetry.io/schemas/1.11.0")
    other = provider.get_tracer("b")
    remote = SpanContext(0xABC, 0xDEF, is_remote=True, trace_flags=TraceFlags(1))
    with tracer.start_as_current_span(
        "server",
        context=trace.set_span_in_context(trace.NonRecordingSpan(remote)),
        kind=SpanKind.SERVER,
        attributes={"s": "x", "i": 7, "f": 1.5, "b": False, "l": ["a", "b"], "li": [1, 2], "z": 0},
        links=[Link(remote, {"why": "retry"})],
    ) as span:
        span.add_event("boom", {"n": 1})
        span.set_status(Status(StatusCode.ERROR, "bad"))
        with other.start_as_current_span("client", kind=SpanKind.CLIENT) as child:
            child.set_status(Status(StatusCode.OK))
        with tracer.start_as_current_span("plain", attributes={"empty": ""}):
            pass
    spans = exporter.get_finished_spans()
    assert len(spans) == 3
    assert encode(spans) == otlp_json(spans)
    assert json.dumps(encode(spans)) == json.dumps(otlp_json(spans))
