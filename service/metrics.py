"""Prometheus metrics of both services (names in docs/contracts.md), one registry per app.

``GET /metrics`` answers OpenMetrics when the scraper's ``Accept`` asks for it, so the ``trace_id``
exemplars on the latency histograms reach Prometheus.

The request path uses pre-bound children (:class:`Children`): ``labels()`` validates and converts its
values and takes a lock on every call; a child looked up once per label values costs a dict lookup.
The bound children skip the checks ``inc`` and ``observe`` repeat on every call (about 16 a round).
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Callable
from typing import Any, Generic, TypeVar, cast

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import choose_encoder
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.samples import Exemplar
from prometheus_client.values import MutexValue

#: where a panic happens: in a request handler (recovered in both profiles) or in background work
PANIC_WHERE = ("handler", "background")
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

M = TypeVar("M", Counter, Histogram)
C = TypeVar("C")


class CounterChild:
    """A bound counter child's ``inc`` without ``Counter.inc``'s per-call checks (a bound child is
    observable; the amount's sign is still checked): the value's locked increment, inline."""

    __slots__ = ("_lock", "_value")

    def __init__(self, child: Counter) -> None:
        self._value: Any = child._value
        self._lock: Any = self._value._lock

    def inc(self, amount: float = 1) -> None:
        if amount < 0:
            raise ValueError("Counters can only be incremented by non-negative amounts.")
        with self._lock:  # what MutexValue.inc does, without its call
            self._value._value += amount


class GaugeChild:
    """An in-flight gauge (or a bound child of one) counted up and down on one thread (the event
    loop's): a plain number the gauge reads when scraped (``set_function``), no lock and no call into
    prometheus_client per change. Scraped, it shows the same value ``Gauge.inc``/``dec`` would."""

    __slots__ = ("value",)

    def __init__(self, gauge: Gauge) -> None:
        self.value: float = gauge._value.get()
        gauge.set_function(self.read)

    def read(self) -> float:
        return self.value

    def inc(self, amount: float = 1) -> None:
        self.value += amount

    def dec(self, amount: float = 1) -> None:
        self.value -= amount


def gauge_child(gauge: Gauge) -> GaugeChild:
    """``gauge`` (observable: unlabelled, or a bound child) as a :class:`GaugeChild`: from then on its
    value is the child's (``Gauge.inc``/``set`` on it change nothing). A gauge in ``mostrecent`` mode,
    in multiprocess mode, or a metric left out stays as it is."""
    if isinstance(gauge, Gauge) and not gauge._is_most_recent and type(gauge._value) is MutexValue:
        return GaugeChild(gauge)
    return cast(GaugeChild, gauge)


class HistogramChild:
    """A bound histogram child's ``observe``: what ``Histogram.observe`` does (the sum, the first bucket
    whose bound holds the amount, the exemplar on it), with the bucket found by bisection and a
    ``trace_id`` exemplar taken as valid (its 40 characters are within the 128 allowed); any other
    exemplar goes through ``Histogram.observe``."""

    __slots__ = ("_bounds", "_buckets", "_child", "_sum")

    def __init__(self, child: Histogram) -> None:
        self._child = child
        self._sum: Any = child._sum
        self._bounds: list[float] = list(child._upper_bounds)
        self._buckets: list[Any] = child._buckets

    def observe(self, amount: float, exemplar: dict[str, str] | None = None) -> None:
        if amount != amount or (exemplar and (len(exemplar) != 1 or len(exemplar.get("trace_id", "")) != 32)):
            self._child.observe(amount, exemplar)  # NaN (no bucket holds it) or another exemplar
            return
        total = self._sum
        with total._lock:  # MutexValue.inc, inline
            total._value += amount
        bucket = self._buckets[bisect_left(self._bounds, amount)]
        with bucket._lock:
            bucket._value += 1
        if exemplar:
            bucket.set_exemplar(Exemplar(exemplar, amount, time.time()))


def counter_child(child: Counter) -> CounterChild:
    if isinstance(child, Counter) and type(child._value) is MutexValue:
        return CounterChild(child)
    return cast(CounterChild, child)  # a metric left out, or multiprocess mode: as it is


def histogram_child(child: Histogram) -> HistogramChild:
    if isinstance(child, Histogram) and type(child._sum) is MutexValue:
        return HistogramChild(child)
    return cast(HistogramChild, child)  # a metric left out, or multiprocess mode: as it is


class Children(dict[tuple[str, ...], C], Generic[M, C]):
    """The children of a labelled metric, each bound once: ``children[values]`` is ``labels(*values)``
    (wrapped by ``bind``: :class:`CounterChild`, :class:`HistogramChild`), looked up as a dict
    lookup (a ``__call__`` was a Python call on every update); a first use binds it (``__missing__``).

    Label values must be strings (``labels`` would convert them; this lookup does not)."""

    __slots__ = ("_bind", "_metric")

    def __init__(self, metric: M, bind: Callable[[M], C]) -> None:
        super().__init__()
        self._metric: M = metric
        self._bind: Callable[[M], C] = bind

    def __missing__(self, values: tuple[str, ...]) -> C:
        child = self[values] = self._bind(self._metric.labels(*values))
        return child


class _Off:
    """A metric that records nothing: metrics left out (``enabled=False``, the benchmark's way of
    measuring what they cost)."""

    def labels(self, *values: Any, **kw: Any) -> _Off:
        return self

    def inc(self, amount: float = 1, exemplar: Any = None) -> None:
        pass

    def dec(self, amount: float = 1) -> None:
        pass

    def set(self, value: float) -> None:
        pass

    def set_function(self, f: Callable[[], float]) -> None:
        pass

    def observe(self, amount: float, exemplar: Any = None) -> None:
        pass


_OFF = _Off()


class HttpMetrics:
    """What both services export about their HTTP server. ``enabled=False`` (benchmark only): every
    metric records nothing."""

    def __init__(
        self, prefix: str, registry: CollectorRegistry, *, with_code: bool, enabled: bool = True
    ) -> None:
        self.registry = registry
        self.enabled = enabled
        labels = ["route", "method", "status", "code"] if with_code else ["route", "method", "status"]
        self.requests = self.counter(f"{prefix}_http_requests", "HTTP requests answered", labels)
        self.duration = self.histogram(
            f"{prefix}_http_request_duration_seconds", "HTTP request latency", ["route", "method"]
        )
        self.in_flight = self.gauge(f"{prefix}_http_requests_in_flight", "HTTP requests in flight")
        self.active_faults = self.gauge(
            f"{prefix}_active_faults", "Injected faults currently active", ["fault"]
        )
        #: error answers by code (the game's ``rps_errors_total``)
        self.errors: Counter | None = None
        self.requests_of = Children(self.requests, counter_child)
        self.duration_of = Children(self.duration, histogram_child)
        self.errors_of: Children[Counter, CounterChild] | None = None
        ProcessCollector(registry=registry)

    def counter(self, name: str, doc: str, labels: list[str] | None = None) -> Counter:
        if not self.enabled:
            return cast(Counter, _OFF)
        return Counter(name, doc, labels or [], registry=self.registry)

    def gauge(self, name: str, doc: str, labels: list[str] | None = None) -> Gauge:
        if not self.enabled:
            return cast(Gauge, _OFF)
        return Gauge(name, doc, labels or [], registry=self.registry)

    def histogram(self, name: str, doc: str, labels: list[str]) -> Histogram:
        if not self.enabled:
            return cast(Histogram, _OFF)
        return Histogram(name, doc, labels, buckets=LATENCY_BUCKETS, registry=self.registry)


class GameMetrics(HttpMetrics):
    def __init__(self, registry: CollectorRegistry | None = None, *, enabled: bool = True) -> None:
        super().__init__("rps", registry or CollectorRegistry(), with_code=True, enabled=enabled)
        self.rounds = self.counter("rps_rounds", "Rounds played by result", ["result"])
        self.degraded = self.counter("rps_degraded_answers", "Answers that used a fallback", ["reason"])
        self.panics = self.counter("rps_panics", "Unexpected errors (recovered or not)", ["where"])
        for where in PANIC_WHERE:  # exported at 0 from the start, so increase() sees the first panic
            self.panics.labels(where)
        self.errors = self.counter("rps_errors", "Error answers by code", ["code", "kind"])
        self.dep_requests = self.counter(
            "rps_dependency_requests",
            "Dependency call attempts by outcome",
            ["dependency", "operation", "outcome"],
        )
        self.dep_retries = self.counter(
            "rps_dependency_retries", "Dependency retries", ["dependency", "operation"]
        )
        self.dep_duration = self.histogram(
            "rps_dependency_request_duration_seconds",
            "Dependency attempt latency",
            ["dependency", "operation"],
        )
        self.dep_in_flight = self.gauge(
            "rps_dependency_in_flight", "Dependency calls in flight", ["dependency"]
        )
        self.circuit_state = self.gauge(
            "rps_circuit_state", "Circuit state (0 closed, 1 half-open, 2 open)", ["dependency"]
        )
        self.open_connections = self.gauge(
            "rps_open_connections", "Open connections to a dependency", ["dependency"]
        )
        self.shed = self.counter("rps_shed_requests", "Requests shed by the in-flight bound")
        self.rate_limited = self.counter("rps_rate_limited", "Requests refused by the per-player rate limit")
        self.errors_of = Children(self.errors, counter_child)
        self.rounds_of = Children(self.rounds, counter_child)
        self.degraded_of = Children(self.degraded, counter_child)
        self.dep_requests_of = Children(self.dep_requests, counter_child)
        self.dep_duration_of = Children(self.dep_duration, histogram_child)


class OddsMetrics(HttpMetrics):
    def __init__(self, registry: CollectorRegistry | None = None, *, enabled: bool = True) -> None:
        super().__init__("odds", registry or CollectorRegistry(), with_code=False, enabled=enabled)
        self.open_connections = self.gauge("odds_open_connections", "Open client connections")


def set_connections_function(gauge: Gauge, fn: Callable[[], float]) -> None:
    gauge.set_function(fn)


def metrics_handler(registry: CollectorRegistry) -> Callable[[web.Request], object]:
    async def handle(request: web.Request) -> web.Response:
        encoder, content_type = choose_encoder(request.headers.get("Accept", ""))
        body = encoder(registry)
        response = web.Response(body=body)
        response.headers["Content-Type"] = content_type
        return response

    return handle
