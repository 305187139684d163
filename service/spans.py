"""Lean spans: the OpenTelemetry API's ``Tracer`` and ``Span`` at a fraction of the SDK span's CPU.

The SDK's span (``opentelemetry.sdk.trace.Span``) costs about 60 us to create and end here (attributes
cleaned one by one into a locked ``BoundedAttributes``, two more locks, a ``ReadableSpan`` copy at the
end), and every ``/play`` round makes three. :class:`LeanTracer` keeps everything else of the SDK: the
provider's sampler, id generator, resource and span processors, the span limits
(``OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT`` and friends). A :class:`LeanSpan` is a ``ReadableSpan``, handed
to the processors itself when it ends (it ignores changes after that, as the SDK's does), so every
SDK exporter takes it (OTLP/HTTP, :class:`service.tracing.OtlpJsonLinesExporter`).

Attributes are a plain dict: a ``str``/``bool``/``int``/``float`` value is stored as given; anything
else goes through the API's own attribute cleaning (sequences, invalid types, length limits). The
spans of one app live on its event loop's thread; processors see them only once ended.
"""

from __future__ import annotations

import logging
import os
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextvars import ContextVar, Token
from functools import partial
from operator import itemgetter
from random import getrandbits
from time import time_ns
from types import TracebackType

from opentelemetry import context as context_api
from opentelemetry import trace as trace_api
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.context.contextvars_context import ContextVarsRuntimeContext
from opentelemetry.sdk._shared_internal import BatchProcessor
from opentelemetry.sdk.trace import (
    Event,
    ReadableSpan,
    SpanLimits,
    SpanProcessor,
    SynchronousMultiSpanProcessor,
    TracerProvider,
)
from opentelemetry.sdk.trace import Tracer as SdkTracer
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.sdk.trace.sampling import Decision, ParentBased, StaticSampler, TraceIdRatioBased
from opentelemetry.sdk.util import BoundedList
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags, TraceState
from opentelemetry.trace.propagation import _SPAN_KEY
from opentelemetry.trace.span import DEFAULT_TRACE_STATE
from opentelemetry.util import types
from opentelemetry.util._decorator import _agnosticcontextmanager

logger = logging.getLogger(__name__)

#: a SpanContext is a tuple: its fields read by index (each of its properties is a Python call, and a
#: round reads a dozen)
trace_id_of: Callable[[SpanContext], int] = itemgetter(0)
span_id_of: Callable[[SpanContext], int] = itemgetter(1)
is_remote_of: Callable[[SpanContext], bool] = itemgetter(2)
flags_of: Callable[[SpanContext], int] = itemgetter(3)
trace_state_of: Callable[[SpanContext], TraceState] = itemgetter(4)
is_valid_of: Callable[[SpanContext], bool] = itemgetter(5)
SAMPLED_BIT = int(TraceFlags.SAMPLED)
_RANDOM_BIT = int(TraceFlags.RANDOM_TRACE_ID)
#: the trace state of a span context made without one (empty)
NO_TRACE_STATE = DEFAULT_TRACE_STATE
#: ``tuple.__new__(SpanContext, fields)``: a SpanContext from its six fields, without its checks
_new_context: Callable[[tuple[int, int, bool, int, TraceState, bool]], SpanContext] = partial(
    tuple.__new__, SpanContext
)
#: enum members as module constants: an attribute of an enum class is looked up through
#: ``EnumType.__getattr__``'s hook (Python 3.11), five times the cost of a global
_RECORD_AND_SAMPLE = Decision.RECORD_AND_SAMPLE
_DROP = Decision.DROP
#: the status every span starts with (immutable: the SDK's ReadableSpan shares one too)
UNSET = Status(StatusCode.UNSET)
#: the OTel runtime context's ContextVar, when it is the default ContextVarsRuntimeContext (it is
#: unless OTEL_PYTHON_CONTEXT names another): read directly, not through three layers of calls
_CONTEXT_VAR: ContextVar[context_api.Context] | None = (
    context_api._RUNTIME_CONTEXT._current_context
    if type(context_api._RUNTIME_CONTEXT) is ContextVarsRuntimeContext
    else None
)


def current_value(key: str) -> object:
    """``opentelemetry.context.get_value(key)`` of the current context."""
    if _CONTEXT_VAR is not None:
        return _CONTEXT_VAR.get().get(key)
    return context_api.get_value(key)


def attach_span(span: trace_api.Span, context: context_api.Context | None) -> Token[context_api.Context]:
    """``attach(set_span_in_context(span, context))``: ``span`` current in a copy of ``context`` (of the
    current context when None); the token detaches it (:func:`detach`)."""
    if _CONTEXT_VAR is None:
        return context_api.attach(trace_api.set_span_in_context(span, context))
    values = dict(context if context is not None else _CONTEXT_VAR.get())
    values[_SPAN_KEY] = span
    return _CONTEXT_VAR.set(context_api.Context(values))


def detach(token: Token[context_api.Context]) -> None:
    """``opentelemetry.context.detach``: a token of another context is logged, not raised."""
    if _CONTEXT_VAR is None:
        context_api.detach(token)
        return
    try:
        _CONTEXT_VAR.reset(token)
    except Exception:
        logger.exception("Failed to detach context")


_PLAIN = frozenset((str, bool, int, float))
_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
_SAMPLED_RANDOM = TraceFlags(TraceFlags.SAMPLED | TraceFlags.RANDOM_TRACE_ID)
_DEFAULT_FLAGS = TraceFlags(TraceFlags.DEFAULT)
_DEFAULT_RANDOM = TraceFlags(TraceFlags.DEFAULT | TraceFlags.RANDOM_TRACE_ID)


class LeanTracer(trace_api.Tracer):
    """Starts :class:`LeanSpan` s with the sampler, ids, resource and processors of ``provider``."""

    def __init__(self, provider: TracerProvider, name: str, version: str | None = None) -> None:
        sdk = provider.get_tracer(name, version)
        #: a disabled provider (OTEL_SDK_DISABLED) answers a NoOpTracer: then so does this one
        self._enabled = isinstance(sdk, SdkTracer)
        self._sampler = provider.sampler
        #: the sampler is ParentBased with its default for a sampled local parent (ALWAYS_ON): a child of
        #: a sampled span of this process is recorded and sampled with the parent's trace state, which
        #: is what start_span then writes without asking the sampler (three calls deep, each span)
        local = getattr(self._sampler, "_local_parent_sampled", None)
        self._follow_local_parent = (
            type(self._sampler) is ParentBased
            and isinstance(local, StaticSampler)
            and local._decision is Decision.RECORD_AND_SAMPLE
        )
        #: ParentBased's root sampler when it is the SDK's TraceIdRatioBased: a root span's decision
        #: is its bound test on the trace id (no parent: no trace state), made here without the two calls
        root = getattr(self._sampler, "_root", None)
        self._root_bound: int | None = (
            root.bound if type(self._sampler) is ParentBased and type(root) is TraceIdRatioBased else None
        )
        self._ids = provider.id_generator
        self._random_ids = self._ids.is_trace_id_random()
        #: the SDK's RandomIdGenerator: a span id is random.getrandbits(64), drawn here (not 0)
        self._random_span_ids = type(self._ids) is RandomIdGenerator
        self.resource = provider.resource
        self.processor: SpanProcessor = sdk.span_processor if isinstance(sdk, SdkTracer) else SpanProcessor()
        #: the provider's processors (read at each span: one added later counts), when they are the SDK's
        #: list; a BatchSpanProcessor in it is called here without its two layers of calls (its on_start
        #: does nothing, its on_end queues a sampled span)
        self.processors: SynchronousMultiSpanProcessor | None = (
            self.processor if type(self.processor) is SynchronousMultiSpanProcessor else None
        )
        self.scope = InstrumentationScope(name, version or "")
        self.limits = SpanLimits()
        self._max_attributes = self.limits.max_span_attributes
        #: values are stored as given when they are plain and no length limit applies
        self._store_plain = self.limits.max_span_attribute_length is None

    def plain_ok(self, attributes: Mapping[str, types.AnyValue]) -> bool:
        """Whether ``attributes`` can be stored as they are (plain values, non-empty keys, in the limit)."""
        limit = self._max_attributes
        if not self._store_plain or (limit is not None and len(attributes) > limit):
            return False
        for key, value in attributes.items():  # noqa: SIM110 - a loop: no generator frame per span
            if not key or type(value) not in _PLAIN:
                return False
        return True

    def start_span(
        self,
        name: str,
        context: context_api.Context | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: types.Attributes = None,
        links: Sequence[Link] | None = (),
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
    ) -> trace_api.Span:
        # the current span, read as get_current_span does; a LeanSpan's context without the ABC check
        current = context.get(_SPAN_KEY) if context is not None else current_value(_SPAN_KEY)
        parent: SpanContext | None = (
            current._span_context
            if type(current) is LeanSpan
            else trace_api.get_current_span(context).get_span_context()
        )
        if not self._enabled:
            return trace_api.NonRecordingSpan(parent or trace_api.INVALID_SPAN_CONTEXT)
        if parent is not None and is_valid_of(parent):
            trace_id = trace_id_of(parent)
            parent_flags = flags_of(parent)
            random_id = bool(parent_flags & _RANDOM_BIT)
        else:
            parent = None
            parent_flags = 0
            trace_id = self._ids.generate_trace_id()
            random_id = self._random_ids
        links = links or ()
        trace_state: TraceState | None
        if (
            parent is not None
            and self._follow_local_parent
            and not is_remote_of(parent)
            and parent_flags & SAMPLED_BIT
        ):
            # what ParentBased answers here: RECORD_AND_SAMPLE, the attributes, the parent's trace state
            decision, sampled_attributes = _RECORD_AND_SAMPLE, attributes
            trace_state = trace_state_of(parent)
        elif parent is None and self._root_bound is not None:
            # what TraceIdRatioBased answers for a root span (through ParentBased)
            if trace_id & TraceIdRatioBased.TRACE_ID_LIMIT < self._root_bound:
                decision, sampled_attributes = _RECORD_AND_SAMPLE, attributes
            else:
                decision, sampled_attributes = _DROP, None
            trace_state = None
        else:
            result = self._sampler.should_sample(context, trace_id, name, kind, attributes, links)
            decision, sampled_attributes, trace_state = result.decision, result.attributes, result.trace_state
        if decision is _RECORD_AND_SAMPLE:
            flags = _SAMPLED_RANDOM if random_id else _SAMPLED
        else:
            flags = _DEFAULT_RANDOM if random_id else _DEFAULT_FLAGS
        span_id = getrandbits(64) if self._random_span_ids else 0
        if span_id:
            # the SDK's generator's draw; the tuple SpanContext's __new__ builds, made directly (the ids
            # are valid: a valid parent's trace id or a generated one, a non-zero 64-bit span id)
            state = trace_state if trace_state is not None else NO_TRACE_STATE
            span_context = _new_context((trace_id, span_id, False, flags, state, True))
        else:
            span_context = SpanContext(
                trace_id,
                self._ids.generate_span_id(),
                is_remote=False,
                trace_flags=flags,
                trace_state=trace_state,
            )
        if decision is _DROP:
            return trace_api.NonRecordingSpan(span_context)
        span = LeanSpan(
            self,
            name,
            span_context,
            parent,
            kind,
            sampled_attributes,
            links,
            start_time if start_time is not None else time_ns(),
            record_exception,
            set_status_on_exception,
        )
        # processors are typed for the SDK's Span; they read only what a ReadableSpan has
        processors = self.processors
        if processors is None:
            self.processor.on_start(span, parent_context=context)  # type: ignore[arg-type]
        else:
            for processor in processors._span_processors:
                if type(processor) is not BatchSpanProcessor:
                    processor.on_start(span, parent_context=context)  # type: ignore[arg-type]
        return span

    @_agnosticcontextmanager
    def start_as_current_span(
        self,
        name: str,
        context: context_api.Context | None = None,
        kind: SpanKind = SpanKind.INTERNAL,
        attributes: types.Attributes = None,
        links: Sequence[Link] | None = (),
        start_time: int | None = None,
        record_exception: bool = True,
        set_status_on_exception: bool = True,
        end_on_exit: bool = True,
    ) -> Iterator[trace_api.Span]:
        span = self.start_span(
            name, context, kind, attributes, links, start_time, record_exception, set_status_on_exception
        )
        with trace_api.use_span(
            span,
            end_on_exit=end_on_exit,
            record_exception=record_exception,
            set_status_on_exception=set_status_on_exception,
        ) as current:
            yield current


#: this process's id, kept current across forks (the batch processor's own check calls getpid, a
#: system call, on every span)
_PID = os.getpid()


def _forked() -> None:
    global _PID
    _PID = os.getpid()


os.register_at_fork(after_in_child=_forked)


def _queue(batch: BatchProcessor[ReadableSpan], span: ReadableSpan) -> None:
    """``batch.emit(span)``: queued as it queues it, and its worker woken past a batch's worth; a
    processor shut down, full, or not yet re-made after a fork gets the span through ``emit`` (which
    drops it with its warning, or re-makes itself)."""
    queue = batch._queue
    if batch._shutdown or batch._pid != _PID or len(queue) == batch._max_queue_size:
        batch.emit(span)
        return
    queue.appendleft(span)
    if len(queue) >= batch._max_export_batch_size and not batch._worker_awaken.is_set():
        batch._worker_awaken.set()


class LeanSpan(ReadableSpan, trace_api.Span):
    """A recording span; handed to the processors as it is once ended."""

    # the fields every span starts with the same value of: class attributes until a span sets its own
    _instrumentation_info = None
    _end_time: int | None = None
    _status: Status = UNSET
    _record_exception = True
    _set_status_on_exception = True
    _dropped_attributes = 0
    _hex: tuple[str, str] | None = None
    # events and links are rare here: their bounded lists are made on first use
    _events: Sequence[Event] = ()
    _links: Sequence[Link] = ()

    def __init__(
        self,
        tracer: LeanTracer,
        name: str,
        context: SpanContext,
        parent: SpanContext | None,
        kind: SpanKind,
        attributes: types.Attributes,
        links: Sequence[Link],
        start_time: int,
        record_exception: bool,
        set_status_on_exception: bool,
    ) -> None:
        # ReadableSpan's fields, set directly (its __init__ would build a Resource when none is given);
        # the rest start as the class attributes above
        self._name = name
        self._context = self._span_context = context
        self._kind = kind
        self._instrumentation_scope = tracer.scope
        self._parent = parent
        self._start_time = start_time
        self._resource = tracer.resource
        self._tracer = tracer
        if not record_exception:
            self._record_exception = False
        if not set_status_on_exception:
            self._set_status_on_exception = False
        if links:
            self._links = self._new_links(links)
        attrs: dict[str, types.AnyValue] = {}
        self._attrs = attrs
        self._attributes = attrs
        if attributes:
            if tracer.plain_ok(attributes):
                attrs.update(attributes)
            else:
                self.set_attributes(attributes)

    def _new_links(self, links: Sequence[Link]) -> BoundedList[Link]:
        limits = self._tracer.limits
        valid = []
        for link in links:
            ctx = link.context if link else None
            if ctx and (ctx.is_valid or link.attributes or ctx.trace_state):
                attributes = BoundedAttributes(
                    limits.max_link_attributes,
                    link.attributes,
                    max_value_len=limits.max_attribute_length,
                    immutable=True,
                )
                valid.append(Link(link.context, attributes))
        return BoundedList.from_seq(limits.max_links, valid)

    @property
    def dropped_attributes(self) -> int:
        return self._dropped_attributes

    def get_span_context(self) -> SpanContext:
        return self._span_context

    def hex_ids(self) -> tuple[str, str]:
        """(trace id, span id) in hex, as logs, answers and exemplars write them (formatted once)."""
        if self._hex is None:
            ctx = self._span_context
            # %-formatting: format() parses its spec on every call, at half again the cost
            self._hex = ("%032x" % trace_id_of(ctx), "%016x" % span_id_of(ctx))  # noqa: UP031
        return self._hex

    def is_recording(self) -> bool:
        return self._end_time is None

    def _ended(self, what: str) -> bool:
        if self._end_time is None:
            return False
        logger.warning("Tried calling %s on an ended span.", what)
        return True

    def set_attribute(self, key: str, value: types.AnyValue) -> None:
        """As ``BoundedAttributes``: a set key moves to the end; past the limit the oldest goes."""
        if self._end_time is not None:
            self._ended("set_attribute")
            return
        limits = self._tracer.limits
        limit = limits.max_span_attributes
        if limit == 0 or not key or not isinstance(key, str):
            if limit != 0:
                logger.warning("invalid attribute key `%s`: must be a non-empty string; dropped", key)
            self._dropped_attributes += 1
            return
        if type(value) not in _PLAIN or limits.max_span_attribute_length is not None:
            # the API's own cleaning: sequences to tuples, mappings copied, strings cut to the limit
            value = BoundedAttributes(None, {key: value}, max_value_len=limits.max_span_attribute_length)[key]
        attrs = self._attrs
        if key in attrs:
            del attrs[key]
        elif limit is not None and len(attrs) >= limit:
            logger.warning("Attributes dict is full. Dropping the oldest key-value pair from attributes.")
            del attrs[next(iter(attrs))]
            self._dropped_attributes += 1
        attrs[key] = value

    def set_attributes(self, attributes: Mapping[str, types.AnyValue]) -> None:
        for key, value in attributes.items():
            self.set_attribute(key, value)

    def add_event(self, name: str, attributes: types.Attributes = None, timestamp: int | None = None) -> None:
        if self._ended("add_event"):
            return
        limits = self._tracer.limits
        bounded = BoundedAttributes(
            limits.max_event_attributes,
            attributes,
            max_value_len=limits.max_attribute_length,
            immutable=True,
        )
        if not isinstance(self._events, BoundedList):
            self._events = BoundedList(limits.max_events)
        self._events.append(Event(name, bounded, timestamp))

    def add_link(self, context: SpanContext, attributes: types.Attributes = None) -> None:
        if self._ended("add_link"):
            return
        if not isinstance(self._links, BoundedList):
            self._links = BoundedList(self._tracer.limits.max_links)
        for link in self._new_links([Link(context, attributes)]):
            self._links.append(link)

    def update_name(self, name: str) -> None:
        if not self._ended("update_name"):
            self._name = name

    def set_status(self, status: Status | StatusCode, description: str | None = None) -> None:
        if self._ended("set_status"):
            return
        # as the SDK: OK is final, UNSET changes nothing
        if self._status.status_code is StatusCode.OK:
            return
        if isinstance(status, Status):
            if status.status_code is StatusCode.UNSET:
                return
            if description is not None:
                logger.warning(
                    "Description %s ignored. Use either `Status` or `(StatusCode, Description)`", description
                )
            self._status = status
        elif status is not StatusCode.UNSET:
            self._status = Status(status, description)

    def record_exception(
        self,
        exception: BaseException,
        attributes: types.Attributes = None,
        timestamp: int | None = None,
        escaped: bool = False,
    ) -> None:
        module = type(exception).__module__
        qualname = type(exception).__qualname__
        fields: dict[str, types.AnyValue] = {
            "exception.type": f"{module}.{qualname}" if module and module != "builtins" else qualname,
            "exception.message": str(exception),
            "exception.stacktrace": "".join(traceback.format_exception(exception)),
            "exception.escaped": str(escaped),
        }
        if attributes:
            fields.update(attributes)
        self.add_event("exception", fields, timestamp)

    def end(self, end_time: int | None = None) -> None:
        if self._end_time is not None:
            logger.warning("Calling end() on an ended span.")
            return
        self._end_time = end_time if end_time is not None else time_ns()
        tracer = self._tracer
        processors = tracer.processors
        if processors is None:
            tracer.processor.on_end(self)
            return
        for processor in processors._span_processors:
            if type(processor) is BatchSpanProcessor:
                if flags_of(self._span_context) & SAMPLED_BIT:  # what its on_end checks
                    _queue(processor._batch_processor, self)
            else:
                processor.on_end(self)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc_val: BaseException | None,
        exc_tb: TracebackType | None,
    ) -> None:
        if exc_val is not None and self.is_recording():
            if self._record_exception:
                self.record_exception(exc_val, escaped=True)
            if self._set_status_on_exception:
                self.set_status(Status(StatusCode.ERROR, f"{type(exc_val).__name__}: {exc_val}"))
        super().__exit__(exc_type, exc_val, exc_tb)

    def __repr__(self) -> str:
        return f'LeanSpan(name="{self._name}", context={self._context})'
