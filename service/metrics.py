"""Prometheus metrics of both services (names in docs/contracts.md), one registry per app.

``GET /metrics`` answers OpenMetrics when the scraper's ``Accept`` asks for it, so the ``trace_id``
exemplars on the latency histograms reach Prometheus.
"""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import choose_encoder
from prometheus_client.process_collector import ProcessCollector

#: where a panic happens: in a request handler (recovered in both profiles) or in background work
PANIC_WHERE = ("handler", "background")
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class HttpMetrics:
    """What both services export about their HTTP server."""

    def __init__(self, prefix: str, registry: CollectorRegistry, *, with_code: bool) -> None:
        self.registry = registry
        labels = ["route", "method", "status", "code"] if with_code else ["route", "method", "status"]
        self.requests = Counter(
            f"{prefix}_http_requests", "HTTP requests answered", labels, registry=registry
        )
        self.duration = Histogram(
            f"{prefix}_http_request_duration_seconds",
            "HTTP request latency",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.in_flight = Gauge(
            f"{prefix}_http_requests_in_flight", "HTTP requests in flight", registry=registry
        )
        self.active_faults = Gauge(
            f"{prefix}_active_faults", "Injected faults currently active", ["fault"], registry=registry
        )
        #: error answers by code (the game's ``rps_errors_total``)
        self.errors: Counter | None = None
        ProcessCollector(registry=registry)


class GameMetrics(HttpMetrics):
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        super().__init__("rps", registry or CollectorRegistry(), with_code=True)
        r = self.registry
        self.rounds = Counter("rps_rounds", "Rounds played by result", ["result"], registry=r)
        self.degraded = Counter(
            "rps_degraded_answers", "Answers that used a fallback", ["reason"], registry=r
        )
        self.panics = Counter("rps_panics", "Unexpected errors (recovered or not)", ["where"], registry=r)
        for where in PANIC_WHERE:  # exported at 0 from the start, so increase() sees the first panic
            self.panics.labels(where)
        self.errors = Counter("rps_errors", "Error answers by code", ["code", "kind"], registry=r)
        self.dep_requests = Counter(
            "rps_dependency_requests",
            "Dependency call attempts by outcome",
            ["dependency", "operation", "outcome"],
            registry=r,
        )
        self.dep_retries = Counter(
            "rps_dependency_retries", "Dependency retries", ["dependency", "operation"], registry=r
        )
        self.dep_duration = Histogram(
            "rps_dependency_request_duration_seconds",
            "Dependency attempt latency",
            ["dependency", "operation"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.dep_in_flight = Gauge(
            "rps_dependency_in_flight", "Dependency calls in flight", ["dependency"], registry=r
        )
        self.circuit_state = Gauge(
            "rps_circuit_state", "Circuit state (0 closed, 1 half-open, 2 open)", ["dependency"], registry=r
        )
        self.open_connections = Gauge(
            "rps_open_connections", "Open connections to a dependency", ["dependency"], registry=r
        )
        self.shed = Counter("rps_shed_requests", "Requests shed by the in-flight bound", registry=r)
        self.rate_limited = Counter(
            "rps_rate_limited", "Requests refused by the per-player rate limit", registry=r
        )


class OddsMetrics(HttpMetrics):
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        super().__init__("odds", registry or CollectorRegistry(), with_code=False)
        self.open_connections = Gauge(
            "odds_open_connections", "Open client connections", registry=self.registry
        )


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
