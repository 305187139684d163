"""The fast OTLP/JSON span encoder and the JSON lines exporter write exactly what the protobuf route
writes; the direct ``traceparent`` writes what the propagators write."""

from __future__ import annotations

import json
import math
from pathlib import Path

from opentelemetry import baggage, context, propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags, TraceState

from service.otlp_json import encode, encode_line
from service.spans import LeanTracer
from service.tracing import OtlpJsonLinesExporter, inject_context, otlp_json


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
    # spans of two more providers: one with an equal resource (grouped with the first), one other
    for attributes in ({"service.name": "t", "n": 3, "ok": True}, {"service.name": "u"}):
        more = TracerProvider(resource=Resource.create(attributes))
        more.add_span_processor(SimpleSpanProcessor(exporter))
        LeanTracer(more, "b").start_span("elsewhere").end()
    spans = exporter.get_finished_spans()
    assert len(spans) == 5
    assert len(otlp_json(spans)["resourceSpans"]) == 2
    assert encode(spans) == otlp_json(spans)
    assert json.dumps(encode(spans)) == json.dumps(otlp_json(spans))
    # the exporter's line: the same JSON, keys in the same order, one line
    line = encode_line(spans)
    assert line.endswith(b"}\n") and line.count(b"\n") == 1
    assert json.dumps(json.loads(line)) == json.dumps(otlp_json(spans))


def test_lean_spans_encode_as_protobuf_does_whatever_repeats() -> None:
    """The lean path reuses the bytes of an attribute set it saw: values that are equal as dict keys
    (``1``, ``True``, ``1.0``) are still written by their own types, and every kind, status and parent
    comes out as the protobuf route writes it."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "t"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = LeanTracer(provider, "lean")
    remote = SpanContext(0xABC, 0xDEF, is_remote=True, trace_flags=TraceFlags(1))
    statuses = [None, Status(StatusCode.OK), Status(StatusCode.ERROR), Status(StatusCode.ERROR, "bad")]
    for round_ in range(2):  # the second round hits every cached block
        for n, value in enumerate([1, True, 1.0, "1", 0, False, 0.0, ""]):
            kind = list(SpanKind)[n % len(SpanKind)]
            parent = trace.set_span_in_context(trace.NonRecordingSpan(remote)) if n % 2 else None
            span = tracer.start_span(f"s{n}", context=parent, kind=kind, attributes={"v": value})
            status = statuses[(n + round_) % len(statuses)]
            if status is not None:
                span.set_status(status)
            span.end()
    spans = exporter.get_finished_spans()
    assert len(spans) == 16
    assert encode(spans) == otlp_json(spans)
    written = encode(spans)["resourceSpans"][0]["scopeSpans"][0]["spans"]
    values = [s["attributes"][0]["value"] for s in written]
    assert values[:4] == [{"intValue": "1"}, {"boolValue": True}, {"doubleValue": 1.0}, {"stringValue": "1"}]


def test_lean_spans_keep_the_sign_of_a_zero() -> None:
    """``0.0`` and ``-0.0`` are equal (and hash alike) with the same type, yet JSON writes them apart:
    a span's attributes written after a set with the other zero still carry their own sign."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "t"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = LeanTracer(provider, "lean")
    for value in (0.0, -0.0, 0.0):
        tracer.start_span("zero", attributes={"signed.zero": value}).end()
    spans = exporter.get_finished_spans()
    assert json.dumps(encode(spans)) == json.dumps(otlp_json(spans))  # dicts: -0.0 == 0.0, text: not
    written = json.loads(encode_line(spans))["resourceSpans"][0]["scopeSpans"][0]["spans"]
    signs = [math.copysign(1, s["attributes"][0]["value"]["doubleValue"]) for s in written]
    assert signs == [1, -1, 1]


def test_exporter_writes_the_reference_encoding(tmp_path: Path) -> None:
    path = tmp_path / "traces.jsonl"
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "t"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    provider.add_span_processor(SimpleSpanProcessor(OtlpJsonLinesExporter(path)))
    tracer = LeanTracer(provider, "lean")
    with tracer.start_as_current_span("r\u00f6und", attributes={"player": "\u00e5sa", "n": 2**40}) as span:
        span.set_status(Status(StatusCode.ERROR, "d\u00e9j\u00e0"))
    provider.shutdown()
    lines = path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line) for line in lines] == [otlp_json([s]) for s in memory.get_finished_spans()]


def test_inject_writes_what_the_propagators_write() -> None:
    provider = TracerProvider()
    state = TraceState([("vendor", "x")])
    remote = SpanContext(0xABC, 0xDEF, is_remote=True, trace_flags=TraceFlags(1), trace_state=state)
    span = LeanTracer(provider, "t").start_span(
        "client", context=trace.set_span_in_context(trace.NonRecordingSpan(remote))
    )
    direct: dict[str, str] = {}
    inject_context(span, direct)
    reference: dict[str, str] = {}
    propagate.inject(reference, context=trace.set_span_in_context(span))
    assert direct == reference and set(direct) == {"traceparent", "tracestate"}
    token = context.attach(baggage.set_baggage("team", "blue"))
    try:
        with_baggage: dict[str, str] = {}
        inject_context(span, with_baggage)
        assert with_baggage == {**reference, "baggage": "team=blue"}
    finally:
        context.detach(token)
    span.end()
