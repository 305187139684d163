"""A direct OTLP/JSON encoder for spans: the same JSON as ``encode_spans`` + protobuf's
``MessageToDict`` (with hex ids, as OTLP/JSON wants them), at a small fraction of its CPU.

The exporter runs in the BatchSpanProcessor's thread, which shares the GIL (and, in the benchmark, the
core) with the event loop, so every microsecond here is one the service does not serve with. A line
is written as bytes, span by span: no batch-sized tree of dicts for the garbage collector to walk
again and again, and the bytes of an attribute that repeats (``http.request.method: GET``) are made
once and reused. Spans are grouped by resource and scope as ``encode_spans`` groups them (identity
first, then equality, so equal resources share one entry). ``tests/test_service_otlp.py`` checks the
output is identical to the protobuf route.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, Status

from service.spans import NO_TRACE_STATE, UNSET, LeanSpan, is_remote_of, span_id_of, trace_state_of

_HAS_IS_REMOTE = 0x100
_IS_REMOTE = 0x200


#: the bytes of plain attributes (``{"key":...,"value":{...}}``), reused across spans (bounded)
_ENCODED: dict[tuple[str, type, Any], bytes] = {}
_ENCODED_MAX = 4096
#: the bytes of a status without a message, by code
_STATUS = {0: b'"status":{}', 1: b'"status":{"code":1}', 2: b'"status":{"code":2}'}
_UNSET_JSON = b"," + _STATUS[0]


def _value(value: Any) -> dict[str, Any]:
    if isinstance(value, bool):
        return {"boolValue": value}
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


def _attributes(attributes: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [{"key": key, "value": _value(value)} for key, value in attributes.items()]


def _attribute_bytes(key: str, value: Any) -> bytes:
    kind = type(value)
    if kind is str or kind is int or kind is bool:
        cache_key = (key, kind, value)
        encoded = _ENCODED.get(cache_key)
        if encoded is None:
            if len(_ENCODED) >= _ENCODED_MAX:
                _ENCODED.clear()
            encoded = _ENCODED[cache_key] = orjson.dumps({"key": key, "value": _value(value)})
        return encoded
    return orjson.dumps({"key": key, "value": _value(value)})


#: a span's whole ``,"attributes":[...]`` by its attributes and their value types (spans of one route
#: or operation repeat the same few sets), bounded
_BLOCKS: dict[tuple[tuple[tuple[str, Any], ...], tuple[type, ...]], bytes] = {}
#: the value types a block is cached for: not float (``0.0`` and ``-0.0`` are equal keys of a dict, of
#: one type, but JSON writes them apart; as ``_ENCODED``, which leaves floats out too)
_CACHED_TYPES = frozenset((str, int, bool))


def _lean_attributes(attrs: dict[str, Any]) -> bytes:
    """``,"attributes":[...]`` of a span's plain attributes; a set seen before (the same keys, values
    and value types: ``1`` and ``True`` are equal keys of a dict, so the types are part of the key)
    costs one lookup. A set with a float (or any other type) is written afresh."""
    types = tuple(map(type, attrs.values()))
    if not _CACHED_TYPES.issuperset(types):
        return _attributes_bytes(b"attributes", attrs)
    key = (tuple(attrs.items()), types)
    block = _BLOCKS.get(key)
    if block is None:
        if len(_BLOCKS) >= _ENCODED_MAX:
            _BLOCKS.clear()
        block = _BLOCKS[key] = _attributes_bytes(b"attributes", attrs)
    return block


def _attributes_bytes(name: bytes, attributes: Mapping[str, Any] | None) -> bytes:
    if not attributes:
        return b""
    return b',"' + name + b'":[' + b",".join([_attribute_bytes(k, v) for k, v in attributes.items()]) + b"]"


#: a span's fields up to its attributes (ids, parent, name, kind, times)
_FIXED = (
    b'{"traceId":"%s","spanId":"%s"%s,"name":%s,"kind":%d,"startTimeUnixNano":"%d","endTimeUnixNano":"%d"'
)
#: a lean span's JSON: the fixed fields, then its attributes, status and flags
_LEAN_SPAN = _FIXED + b'%s%s,"flags":%d}'
#: the JSON of span names (a handful: ``POST /play``, ``GET``, ...), bounded
_NAMES: dict[str, bytes] = {}


def _lean_span_bytes(span: LeanSpan) -> bytes | None:
    """A :class:`LeanSpan`'s JSON from its fields (no property calls, one format for the fixed fields),
    or None when it has anything but a name, times, plain attributes and a status (the general path
    writes it)."""
    state = trace_state_of(span._span_context)
    start, end = span._start_time, span._end_time
    if (
        (state is not NO_TRACE_STATE and state)
        or span._events
        or span._links
        or span._dropped_attributes
        or not (start and end)
    ):
        return None
    name = span._name
    if not name:
        return None
    name_json = _NAMES.get(name)
    if name_json is None:
        if len(_NAMES) >= _ENCODED_MAX:
            _NAMES.clear()
        name_json = _NAMES[name] = orjson.dumps(name)
    trace_id, span_id = span.hex_ids()
    parent = span._parent
    parent_json = b',"parentSpanId":"%016x"' % span_id_of(parent) if parent is not None else b""
    status = span._status
    status_json = _UNSET_JSON if status is UNSET else _status_bytes(status)
    attrs = span._attrs
    attributes = _lean_attributes(attrs) if attrs else b""
    # one format for the whole span
    ids = (trace_id.encode(), span_id.encode(), parent_json, name_json, _kind(span._kind), start, end)
    return _LEAN_SPAN % (*ids, attributes, status_json, _flags(parent))


def _status_bytes(status: Status) -> bytes:
    """``,"status":{...}`` of a span (both span paths write it the same way)."""
    code = status.status_code.value
    if not status.description:
        return b"," + _STATUS[code]
    fields: dict[str, Any] = {"message": status.description}
    if code:
        fields["code"] = code
    return b',"status":' + orjson.dumps(fields)


def _flags(parent: SpanContext | None) -> int:
    return _HAS_IS_REMOTE | _IS_REMOTE if parent is not None and is_remote_of(parent) else _HAS_IS_REMOTE


def _kind(kind: SpanKind) -> int:
    """OTLP's number of a span kind: SpanKind's value plus one (not a dict keyed by the members: an
    enum member hashes in Python)."""
    return int(kind._value_) + 1


def _event(event: Event) -> dict[str, Any]:
    e: dict[str, Any] = {}
    if event.timestamp:
        e["timeUnixNano"] = str(event.timestamp)
    if event.name:
        e["name"] = event.name
    if event.attributes:
        e["attributes"] = _attributes(event.attributes)
    if event.dropped_attributes:
        e["droppedAttributesCount"] = event.dropped_attributes
    return e


def _link(link: Link) -> dict[str, Any]:
    lk: dict[str, Any] = {
        "traceId": format(link.context.trace_id, "032x"),
        "spanId": format(link.context.span_id, "016x"),
    }
    if link.attributes:
        lk["attributes"] = _attributes(link.attributes)
    if link.dropped_attributes:
        lk["droppedAttributesCount"] = link.dropped_attributes
    lk["flags"] = _flags(link.context)
    return lk


def _span_bytes(span: ReadableSpan) -> bytes:
    """One span's JSON. proto3 JSON leaves out default values; keys go in field-number order, as
    protobuf writes them."""
    ctx = span.get_span_context()
    assert ctx is not None
    out = [b'{"traceId":"%032x","spanId":"%016x"' % (ctx.trace_id, ctx.span_id)]
    if ctx.trace_state:
        out.append(b',"traceState":' + orjson.dumps(",".join(f"{k}={v}" for k, v in ctx.trace_state.items())))
    parent = span.parent
    if parent is not None:
        out.append(b',"parentSpanId":"%016x"' % parent.span_id)
    if span.name:
        out.append(b',"name":' + orjson.dumps(span.name))
    out.append(b',"kind":%d' % _kind(span.kind))
    if span.start_time:
        out.append(b',"startTimeUnixNano":"%d"' % span.start_time)
    if span.end_time:
        out.append(b',"endTimeUnixNano":"%d"' % span.end_time)
    out.append(_attributes_bytes(b"attributes", span.attributes))
    if span.dropped_attributes:
        out.append(b',"droppedAttributesCount":%d' % span.dropped_attributes)
    if span.events:
        out.append(b',"events":' + orjson.dumps([_event(event) for event in span.events]))
    if span.dropped_events:
        out.append(b',"droppedEventsCount":%d' % span.dropped_events)
    if span.links:
        out.append(b',"links":' + orjson.dumps([_link(link) for link in span.links]))
    if span.dropped_links:
        out.append(b',"droppedLinksCount":%d' % span.dropped_links)
    out.append(_status_bytes(span.status))
    out.append(b',"flags":%d}' % _flags(parent))
    return b"".join(out)


def _scope_fields(scope: InstrumentationScope) -> dict[str, Any]:
    sc: dict[str, Any] = {}
    if scope.name:
        sc["name"] = scope.name
    if scope.version:
        sc["version"] = scope.version
    if scope.attributes:
        sc["attributes"] = _attributes(scope.attributes)
    return sc


def _resource_fields(resource: Resource) -> dict[str, Any]:
    return {"attributes": _attributes(resource.attributes)} if resource.attributes else {}


Grouped = list[tuple[Resource, list[tuple[InstrumentationScope | None, list[bytes]]]]]


def _grouped(spans: Sequence[ReadableSpan]) -> Grouped:
    """Spans (as bytes) by resource, then by scope, as ``encode_spans`` groups them: by identity first
    (a provider's spans share its Resource, whose ``__hash__`` dumps JSON), then by equality, in order
    of first appearance."""
    by_id: dict[tuple[int, int], tuple[Resource, InstrumentationScope | None, list[bytes]]] = {}
    for span in spans:
        one: bytes | None = None
        if type(span) is LeanSpan:  # its fields, not the properties (two calls a span)
            resource, scope = span._resource, span._instrumentation_scope or None
            one = _lean_span_bytes(span)
        else:
            resource, scope = span.resource, span.instrumentation_scope or None
        key = (id(resource), id(scope))
        group = by_id.get(key)
        if group is None:
            group = by_id[key] = (resource, scope, [])
        group[2].append(one if one is not None else _span_bytes(span))
    grouped: Grouped = []
    for resource, scope, encoded in by_id.values():
        scopes = next((s for r, s in grouped if r is resource or r == resource), None)
        if scopes is None:
            scopes = []
            grouped.append((resource, scopes))
        same = next((e for sc, e in scopes if sc == scope), None)
        if same is None:
            scopes.append((scope, encoded))
        else:
            same.extend(encoded)
    return grouped


def encode_line(spans: Sequence[ReadableSpan]) -> bytes:
    """The OTLP/JSON ``ExportTraceServiceRequest`` for ``spans``: one compact JSON line (with its
    newline)."""
    out = [b'{"resourceSpans":[']
    for i, (resource, scopes) in enumerate(_grouped(spans)):
        resource_json = orjson.dumps(_resource_fields(resource))
        out += [b"," if i else b"", b'{"resource":', resource_json, b',"scopeSpans":[']
        for j, (scope, encoded) in enumerate(scopes):
            out.append(b",{" if j else b"{")
            if scope is not None:
                out += [b'"scope":', orjson.dumps(_scope_fields(scope)), b","]
            out += [b'"spans":[', b",".join(encoded), b"]"]
            if scope is not None and scope.schema_url:
                out += [b',"schemaUrl":', orjson.dumps(scope.schema_url)]
            out.append(b"}")
        out.append(b"]")
        if resource.schema_url:
            out += [b',"schemaUrl":', orjson.dumps(resource.schema_url)]
        out.append(b"}")
    out.append(b"]}\n")
    return b"".join(out)


def encode(spans: Sequence[ReadableSpan]) -> dict[str, Any]:
    """The same request as a dict (what :func:`encode_line` writes, read back)."""
    data: dict[str, Any] = orjson.loads(encode_line(spans))
    return data
