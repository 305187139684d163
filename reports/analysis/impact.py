"""Impact: requests, failures, availability (server and client), latency, degraded answers, win rate,
crashes, restarts, panics."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from chaos import verdict
from reports.analysis.series import (
    bucket_quantile,
    counter_increase,
    increases_by,
    ratio_series,
    total_increase,
)
from reports.inputs import Inputs
from reports.model import Marker
from reports.sources.prometheus import PromData


@dataclass
class Impact:
    requests_total: int | None = None
    requests_failed: int | None = None
    availability_server: float | None = None
    client_requests: int | None = None
    client_failures: int | None = None
    availability_client: float | None = None
    #: the players' view from the load generator's counters (``crashlab_client_requests_total``)
    players_requests: int | None = None
    players_failed: int | None = None
    players_outcomes: dict[str, int] = field(default_factory=dict)
    availability_players: float | None = None
    #: the availability SLI the report uses: the players' view when their counters exist, else the server's
    availability: float | None = None
    availability_source: str = "server"
    p50_s: float | None = None
    p95_s: float | None = None
    p99_s: float | None = None
    client_p50_ms: float | None = None
    client_p95_ms: float | None = None
    client_p99_ms: float | None = None
    degraded: int | None = None
    win_rate: float | None = None
    win_rate_deviation: float | None = None
    rounds: int | None = None
    crashes: int = 0
    crash_reasons: dict[str, int] = field(default_factory=dict)
    crash_source: str = "journal"
    restarts: int = 0
    panics: int | None = None
    recovered_panics: int | None = None
    status_counts: dict[str, int] = field(default_factory=dict)
    crash_markers: list[Marker] = field(default_factory=list)
    restart_markers: list[Marker] = field(default_factory=list)
    #: availability over time (server, from rates) and client (Locust history)
    availability_series: list[tuple[float, float]] = field(default_factory=list)
    client_availability_series: list[tuple[float, float]] = field(default_factory=list)
    players_availability_series: list[tuple[float, float]] = field(default_factory=list)
    #: the series of the SLI used (breaches, TTR)
    sli_availability_series: list[tuple[float, float]] = field(default_factory=list)

    @property
    def sli_requests(self) -> int | None:
        return self.players_requests if self.availability_source == "players" else self.requests_total

    @property
    def sli_failed(self) -> int | None:
        return self.players_failed if self.availability_source == "players" else self.requests_failed


def _latency_quantiles(inputs: Inputs) -> tuple[float | None, float | None, float | None]:
    prom = inputs.prom
    if prom is None or "latency_buckets_raw" not in prom.results:
        return None, None, None
    buckets: dict[float, float] = {}
    for s in prom.get("latency_buckets_raw"):
        le = s.labels.get("le", "")
        try:
            bound = float(le)
        except ValueError:
            continue
        buckets[bound] = buckets.get(bound, 0.0) + counter_increase(s, inputs.t0)
    if not buckets or not any(math.isinf(b) for b in buckets):
        return None, None, None
    return (bucket_quantile(0.5, buckets), bucket_quantile(0.95, buckets), bucket_quantile(0.99, buckets))


def _over_time(prom: PromData, errors: str, rate: str) -> list[tuple[float, float]]:
    """Availability over time from an error rate and a request rate (no error series: all good)."""
    bad, total = prom.one(errors), prom.one(rate)
    if bad is None and total is not None:
        return [(t, 1.0) for t, v in total.points if v > 0]
    return [(t, 1.0 - v) for t, v in ratio_series(bad, total)]


def _views(inputs: Inputs, impact: Impact) -> None:
    """The players' and the server's counts (the evaluator's: the same the verdict uses)."""
    prom, telemetry, start = inputs.prom, inputs.telemetry, inputs.ctx.window.start
    if prom is None or telemetry is None:
        return
    if (server := verdict.server_view(telemetry, start)) is not None:
        impact.status_counts = server.by
        impact.requests_total, impact.requests_failed = server.requests, server.failed
        impact.availability_server = server.ratio
        impact.availability_series = _over_time(prom, "error_rate", "request_rate")
    if (players := verdict.players_view(telemetry, start)) is not None:
        impact.players_outcomes = players.by
        impact.players_requests, impact.players_failed = players.requests, players.failed
        impact.availability_players = players.ratio
        impact.players_availability_series = _over_time(prom, "client_error_rate", "client_request_rate")


def _crashes(inputs: Inputs, impact: Impact) -> None:
    """The evaluator's crash rule (services only, not clean, in the window, once each)."""
    window = inputs.ctx.window
    found = verdict.count_crashes(inputs.journal, inputs.telemetry, window.start, window.end)
    impact.crashes, impact.crash_reasons, impact.restarts = found.count, found.reasons, found.restarts
    impact.crash_source = found.source or "journal"
    for c in found.crashes:
        label = f"{c.service} exited: {c.reason}" + (
            f" (exit {c.exit_code})" if c.exit_code is not None else ""
        )
        impact.crash_markers.append(Marker(c.ts.timestamp(), "crash", label))
    for e in verdict.restarts(inputs.journal, window.start, window.end):
        impact.restart_markers.append(
            Marker(e.ts.timestamp(), "restart", f"{e.get('service', '?')} restarted")
        )


def analyse_impact(inputs: Inputs) -> Impact:
    impact = Impact()
    prom = inputs.prom
    t0 = inputs.t0
    _views(inputs, impact)
    impact.p50_s, impact.p95_s, impact.p99_s = _latency_quantiles(inputs)
    if prom is not None:
        if "degraded_raw" in prom.results:
            impact.degraded = round(total_increase(prom.get("degraded_raw"), t0))
        if "rounds_raw" in prom.results:
            rounds = increases_by(prom.get("rounds_raw"), "result", t0)
            n = sum(rounds.values())
            if n > 0:
                wins = sum(v for k, v in rounds.items() if k.lower() in ("win", "won", "player"))
                impact.rounds = round(n)
                impact.win_rate = wins / n
                impact.win_rate_deviation = abs(impact.win_rate - 1 / 3)
        if "panics_raw" in prom.results:
            impact.recovered_panics = round(total_increase(prom.get("panics_raw"), t0))
    locust = inputs.locust
    if locust is not None:
        impact.client_requests = locust.requests
        impact.client_failures = locust.failures
        impact.availability_client = locust.availability
        impact.client_p50_ms = locust.percentiles_ms.get("50%")
        impact.client_p95_ms = locust.percentiles_ms.get("95%")
        impact.client_p99_ms = locust.percentiles_ms.get("99%")
        impact.client_availability_series = [
            (h.ts, 1.0 - h.fps / h.rps)
            for h in locust.history
            if h.rps > 0 and inputs.t0 <= h.ts <= inputs.t1 + 5
        ]
    if impact.availability_players is not None:
        impact.availability_source = "players"
        impact.availability = impact.availability_players
        impact.sli_availability_series = impact.players_availability_series
    else:
        impact.availability = impact.availability_server
        impact.sli_availability_series = impact.availability_series
    _crashes(inputs, impact)
    panic_exits = impact.crash_reasons.get("panic", 0)
    if impact.recovered_panics is not None or panic_exits:
        impact.panics = (impact.recovered_panics or 0) + panic_exits
    return impact
