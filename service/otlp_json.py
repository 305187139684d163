"""A direct OTLP/JSON encoder for spans: the same JSON as ``encode_spans`` + protobuf's
``MessageToDict`` (with hex ids, as OTLP/JSON wants them), about ten times cheaper.

The exporter runs in the BatchSpanProcessor's thread, which shares the GIL with the event loop, so
its cost lands on request latency; ``tests/test_service_otlp.py`` checks the output is identical
to the protobuf route.
"""

from __future__ import annotations

import base64
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanContext, SpanKind

_KIND = {
    SpanKind.INTERNAL: 1,
    SpanKind.SERVER: 2,
    SpanKind.CLIENT: 3,
    SpanKind.PRODUCER: 4,
    SpanKind.CONSUMER: 5,
}
_HAS_IS_REMOTE = 0x100
_IS_REMOTE = 0x200


def _value(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"boolValue": value} if value else {"boolValue": False}
    if isinstance(value, str):
        return {"stringValue": value}
    if isinstance(value, int):
        return {"intValue": str(value)}
    if isinstance(value, float):
        return {"doubleValue": value}
    if isinstance(value, bytes):
        return {"bytesValue": base64.b64encode(value).decode()}
    if isinstance(value, Mapping):
        return {"kvlistValue": {"values": _attributes(value)}}
    if isinstance(value, Sequence):
        return {"arrayValue": {"values": [_value(v) for v in value]}}
    raise TypeError(f"unsupported attribute value {type(value).__name__}")


def _attributes(attributes: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    if not attributes:
        return []
    return [{"key": key, "value": _value(value)} for key, value in attributes.items()]


def _flags(parent: SpanContext | None) -> int:
    return _HAS_IS_REMOTE | _IS_REMOTE if parent is not None and parent.is_remote else _HAS_IS_REMOTE


def _put(out: dict[str, Any], key: str, value: Any) -> None:
    """proto3 JSON leaves out default values. Keys go in field-number order, as protobuf writes them."""
    if value:
        out[key] = value


def _span(span: ReadableSpan) -> dict[str, Any]:
    ctx = span.get_span_context()
    assert ctx is not None
    out: dict[str, Any] = {"traceId": format(ctx.trace_id, "032x"), "spanId": format(ctx.span_id, "016x")}
    if ctx.trace_state is not None:
        _put(out, "traceState", ",".join(f"{k}={v}" for k, v in ctx.trace_state.items()))
    if span.parent is not None:
        out["parentSpanId"] = format(span.parent.span_id, "016x")
    _put(out, "name", span.name)
    out["kind"] = _KIND[span.kind]
    _put(out, "startTimeUnixNano", str(span.start_time) if span.start_time else "")
    _put(out, "endTimeUnixNano", str(span.end_time) if span.end_time else "")
    _put(out, "attributes", _attributes(span.attributes))
    _put(out, "droppedAttributesCount", span.dropped_attributes)
    events = []
    for event in span.events:
        e: dict[str, Any] = {}
        _put(e, "timeUnixNano", str(event.timestamp) if event.timestamp else "")
        _put(e, "name", event.name)
        _put(e, "attributes", _attributes(event.attributes))
        _put(e, "droppedAttributesCount", event.dropped_attributes)
        events.append(e)
    _put(out, "events", events)
    _put(out, "droppedEventsCount", span.dropped_events)
    links = []
    for link in span.links:
        lk: dict[str, Any] = {
            "traceId": format(link.context.trace_id, "032x"),
            "spanId": format(link.context.span_id, "016x"),
        }
        _put(lk, "attributes", _attributes(link.attributes))
        _put(lk, "droppedAttributesCount", link.dropped_attributes)
        lk["flags"] = _flags(link.context)
        links.append(lk)
    _put(out, "links", links)
    _put(out, "droppedLinksCount", span.dropped_links)
    status: dict[str, Any] = {}
    _put(status, "message", span.status.description or "")
    _put(status, "code", span.status.status_code.value)
    out["status"] = status
    out["flags"] = _flags(span.parent)
    return out


def encode(spans: Sequence[ReadableSpan]) -> dict[str, Any]:
    """The OTLP/JSON ``ExportTraceServiceRequest`` for ``spans``."""
    grouped: defaultdict[Any, defaultdict[Any, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for span in spans:
        grouped[span.resource][span.instrumentation_scope or None].append(_span(span))
    resource_spans = []
    for resource, scopes in grouped.items():
        scope_spans = []
        for scope, encoded in scopes.items():
            entry: dict[str, Any] = {}
            if scope is not None:
                sc: dict[str, Any] = {}
                _put(sc, "name", scope.name)
                _put(sc, "version", scope.version or "")
                _put(sc, "attributes", _attributes(scope.attributes))
                entry["scope"] = sc
            entry["spans"] = encoded
            _put(entry, "schemaUrl", (scope.schema_url if scope else "") or "")
            scope_spans.append(entry)
        rs: dict[str, Any] = {"resource": {}}
        _put(rs["resource"], "attributes", _attributes(resource.attributes))
        rs["scopeSpans"] = scope_spans
        _put(rs, "schemaUrl", resource.schema_url or "")
        resource_spans.append(rs)
    return {"resourceSpans": resource_spans}
