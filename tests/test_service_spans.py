"""Lean spans record what the SDK's spans record: the same operations through both tracers export the
same OTLP/JSON (timestamps aside), with sampling, limits, events, links, status rules and exceptions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator
from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags, TraceState

from service.spans import LeanSpan, LeanTracer
from service.tracing import otlp_json


class _Ids(IdGenerator):
    """Deterministic ids: both tracers of a comparison get the same ones; trace ids alternate between
    the two halves of the ratio sampler's range."""

    def __init__(self) -> None:
        self.n = 0

    def generate_span_id(self) -> int:
        self.n += 1
        return self.n

    def generate_trace_id(self) -> int:
        self.n += 1
        return (self.n << 64) | (0x1 if self.n % 2 else 0xFFFF_FFFF_FFFF_FFF0)


def _provider(ratio: float = 1.0) -> tuple[TracerProvider, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(
        resource=Resource.create({"service.name": "t"}),
        sampler=ParentBased(TraceIdRatioBased(ratio)),
        id_generator=_Ids(),
    )
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return provider, exporter


def _both(scenario: Callable[[trace.Tracer], None], ratio: float = 1.0) -> tuple[Any, Any]:
    sdk_provider, sdk_spans = _provider(ratio)
    lean_provider, lean_spans = _provider(ratio)
    scenario(sdk_provider.get_tracer("t"))
    scenario(LeanTracer(lean_provider, "t"))
    assert all(isinstance(s, LeanSpan) for s in lean_spans.get_finished_spans())
    return _timeless(otlp_json(sdk_spans.get_finished_spans())), _timeless(
        otlp_json(lean_spans.get_finished_spans())
    )


def _timeless(data: Any) -> Any:
    """Wall-clock timestamps differ between the two runs, and so do a traceback's frames inside the two
    tracers: of a stack trace the last line (the exception) is compared."""
    if isinstance(data, dict):
        if data.get("key") == "exception.stacktrace":
            return {"key": data["key"], "last line": data["value"]["stringValue"].splitlines()[-1]}
        return {k: "t" if k.endswith("UnixNano") else _timeless(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_timeless(v) for v in data]
    return data


REMOTE = SpanContext(
    0xABC, 0xDEF, is_remote=True, trace_flags=TraceFlags(1), trace_state=TraceState([("k", "v")])
)


def _rich(tracer: trace.Tracer) -> None:
    parent = trace.set_span_in_context(trace.NonRecordingSpan(REMOTE))
    with tracer.start_as_current_span(
        "server",
        context=parent,
        kind=SpanKind.SERVER,
        attributes={"s": "x", "i": 7, "f": 1.5, "b": False, "l": ["a", "b"], "t": (1, 2), "": "no key"},
        links=[Link(REMOTE, {"why": "retry"}), Link(trace.INVALID_SPAN_CONTEXT)],
        start_time=1000,
    ) as span:
        span.set_attribute("later", 3)
        span.set_attributes({"m": {"x": 1}, "s": "overwritten"})
        span.add_event("boom", {"n": 1}, timestamp=2000)
        span.add_link(SpanContext(0x123, 0x456, is_remote=False), {"added": True})
        span.set_status(Status(StatusCode.ERROR, "bad"))
        span.set_status(StatusCode.UNSET)  # ignored
        span.update_name("server renamed")
        with tracer.start_as_current_span("client", kind=SpanKind.CLIENT) as child:
            child.set_status(StatusCode.OK)
            child.set_status(StatusCode.ERROR, "ignored: OK is final")
        try:
            raise ValueError("caught")
        except ValueError as exc:
            span.record_exception(exc, {"extra": "x"}, timestamp=3000)
        plain = tracer.start_span("plain", attributes={"empty": ""})
        plain.end(end_time=5000)
        plain.set_attribute("after end", 1)  # ignored, as the SDK ignores it
        plain.end()  # a second end changes nothing
    with pytest.raises(KeyError), tracer.start_as_current_span("escaped"):
        raise KeyError("out")


def test_lean_spans_export_what_sdk_spans_export() -> None:
    sdk, lean = _both(_rich)
    assert lean == sdk
    spans = [sp for rs in lean["resourceSpans"] for ss in rs["scopeSpans"] for sp in ss["spans"]]
    assert [sp["name"] for sp in spans] == ["client", "plain", "server renamed", "escaped"]
    assert spans[3]["events"][0]["name"] == "exception" and spans[3]["status"]["code"] == 2


def test_sampling_decisions_match() -> None:
    def many(tracer: trace.Tracer) -> None:
        for n in range(8):
            with tracer.start_as_current_span(f"root {n}") as root:
                assert root.get_span_context().is_valid
                with tracer.start_as_current_span("child") as child:
                    assert child.is_recording() == root.is_recording()

    sdk, lean = _both(many, ratio=0.5)
    assert lean == sdk
    kept = [sp for rs in lean["resourceSpans"] for ss in rs["scopeSpans"] for sp in ss["spans"]]
    assert 0 < len(kept) < 16


def test_attribute_limits_match(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT", "3")
    monkeypatch.setenv("OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT", "4")

    def crowded(tracer: trace.Tracer) -> None:
        with tracer.start_as_current_span("s", attributes={"a": "long value", "b": 2}) as span:
            for key in "cdef":
                span.set_attribute(key, key * 9)

    sdk, lean = _both(crowded)
    assert lean == sdk
    span = lean["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    assert span["droppedAttributesCount"] == 3
    assert [a["value"]["stringValue"] for a in span["attributes"]] == ["dddd", "eeee", "ffff"]


def test_hex_ids_are_the_context_ids() -> None:
    provider, _ = _provider()
    span = LeanTracer(provider, "t").start_span("s")
    assert isinstance(span, LeanSpan)
    ctx = span.get_span_context()
    assert span.hex_ids() == (trace.format_trace_id(ctx.trace_id), trace.format_span_id(ctx.span_id))
    span.end()


def test_attach_span_is_the_apis_attach_of_a_span_in_context(caplog: pytest.LogCaptureFixture) -> None:
    """``attach_span``/``detach`` (the context's variable, set directly) do what the API's
    ``attach(set_span_in_context(...))`` and ``detach`` do: the span current, the rest of the context
    kept, the context before it back after; a stale token is logged, not raised."""
    from opentelemetry import baggage, context

    from service.spans import attach_span, detach

    provider, _ = _provider()
    tracer = LeanTracer(provider, "t")
    outer = context.attach(baggage.set_baggage("team", "blue"))
    try:
        before = context.get_current()
        span = tracer.start_span("s")
        token = attach_span(span, None)
        assert trace.get_current_span() is span
        assert baggage.get_baggage("team") == "blue"  # the current context, copied
        assert context.get_current() == trace.set_span_in_context(span, before)
        detach(token)
        assert context.get_current() is before
        remote = trace.set_span_in_context(
            trace.NonRecordingSpan(SpanContext(1, 2, is_remote=True)), context.Context()
        )
        token = attach_span(span, remote)  # a given parent context: its values, not the current ones
        assert trace.get_current_span() is span and baggage.get_baggage("team") is None
        detach(token)
        detach(token)  # used twice: the API logs it
        assert "Failed to detach context" in caplog.text
        assert context.get_current() is before
    finally:
        context.detach(outer)


def test_batch_processor_gets_lean_spans_as_its_emit_queues_them(caplog: pytest.LogCaptureFixture) -> None:
    """A LeanSpan goes to a BatchSpanProcessor's queue directly: exported at a flush, dropped (with the
    SDK's warning) once the queue is full, and refused once the processor is shut down."""
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(
        BatchSpanProcessor(exporter, max_queue_size=4, max_export_batch_size=4, schedule_delay_millis=60_000)
    )
    tracer = LeanTracer(provider, "t")
    for n in range(3):
        tracer.start_span(f"s{n}").end()
    provider.force_flush()
    assert [s.name for s in exporter.get_finished_spans()] == ["s0", "s1", "s2"]
    processor = provider._active_span_processor._span_processors[0]
    assert isinstance(processor, BatchSpanProcessor)
    batch = processor._batch_processor
    batch._worker_awaken.clear()
    with batch._export_lock:  # the worker cannot take spans off the queue meanwhile
        for n in range(6):
            tracer.start_span(f"q{n}").end()
        assert len(batch._queue) == 4 and "Queue full" in caplog.text
    provider.shutdown()
    exported = len(exporter.get_finished_spans())
    tracer.start_span("late").end()
    assert len(exporter.get_finished_spans()) == exported
    assert "late" not in [s.name for s in exporter.get_finished_spans()]
