"""Charts: availability, latency, budget, dependency calls, amplification, in flight, memory; on one time
axis, fault windows shaded, alerts, crashes and restarts marked (inline SVG; report.md names them)."""

from __future__ import annotations

from reports.analysis.team import markers as team_markers
from reports.build import Report
from reports.document import Figure, Legend, Section
from reports.model import Marker, Span
from reports.render import format as fmt
from reports.render.charts import Chart, Line, render_chart
from reports.sections.page import Page

LEGEND = [
    ("fault window", "rgba(231,76,60,.25)"),
    ("background fault (moved no SLI)", "rgba(127,140,141,.2)"),
    ("alert first firing", "#e67e00"),
    ("crash", "#c0392b"),
    ("restart", "#2471a3"),
]


def _mb(v: float) -> str:
    return f"{v:.0f} MB"


def _s(v: float) -> str:
    return f"{v * 1000:.0f} ms" if v < 1 else f"{v:.2f} s"


def build_charts(report: Report) -> list[Chart]:
    prom = report.inputs.prom
    slo = report.inputs.ctx.slo
    impact = report.impact

    def series(name: str) -> list[tuple[float, float]]:
        s = prom.one(name) if prom else None
        return list(s.points) if s else []

    avail_values = [
        v
        for _, v in impact.availability_series
        + impact.client_availability_series
        + impact.players_availability_series
    ]
    players = impact.availability_source == "players"
    avail_lines = (
        [Line("players (load generator): the SLI", impact.players_availability_series)] if players else []
    )
    avail_lines += [
        Line("server (its own counters)" + ("" if players else ": the SLI"), impact.availability_series),
        Line("client (Locust)", impact.client_availability_series, dashed=True),
    ]
    charts = [
        Chart(
            "availability",
            "Availability (good / all requests): as players saw it and as the server counted it"
            if players
            else "Availability (good / all requests), server's own counters",
            avail_lines,
            unit_fmt=lambda v: f"{v * 100:.1f}%",
            hlines=[(slo.availability, f"SLO {slo.availability * 100:g}%")],
            y_min=min([*avail_values, slo.availability - 0.01]),
            y_max=1.0,
        ),
        Chart(
            "latency",
            "Latency percentiles (server, /play)",
            [Line("p50", series("p50")), Line("p95", series("p95")), Line("p99", series("p99"))]
            + (
                [
                    Line(
                        "client p99",
                        [
                            (h.ts, h.p99_ms / 1000)
                            for h in report.inputs.locust.history
                            if h.p99_ms is not None
                        ],
                        dashed=True,
                    )
                ]
                if report.inputs.locust
                else []
            ),
            unit_fmt=_s,
            hlines=[(slo.latency_threshold_s, f"latency threshold {slo.latency_threshold_s * 1000:g} ms")],
        ),
        Chart(
            "budget",
            "Error budget burned, "
            + ("as players saw it" if players else "as the server counted it")
            + f" (events-based, SLO {slo.availability * 100:g}%; 1x = the whole budget of the window)",
            [Line("burned", report.budget.series)],
            unit_fmt=fmt.times,
            hlines=[(1.0, "budget exhausted")],
            y_min=0.0,
        ),
        Chart(
            "dependency",
            "Dependency calls and retries (per second)",
            [
                Line("inbound requests/s", series("request_rate")),
                Line("dependency calls/s", series("dependency_rate")),
                Line("retries/s", series("dependency_retry_rate")),
            ],
            y_min=0.0,
        ),
        Chart(
            "amplification",
            "Retry amplification (dependency calls per inbound request)",
            [Line("calls per request", report.mechanisms.amplification_series)],
            hlines=[(1.0, "one call per request")],
            y_min=0.0,
        ),
        Chart(
            "inflight",
            "In flight",
            [
                Line("requests in flight", series("in_flight")),
                Line("dependency calls in flight", series("dependency_in_flight")),
                Line("open connections", series("open_connections")),
            ],
            y_min=0.0,
        ),
        Chart(
            "memory",
            "Resident memory",
            [
                Line(s.labels.get("job", "?"), [(t, v / 1e6) for t, v in s.points])
                for s in (prom.get("memory") if prom else [])
            ],
            unit_fmt=_mb,
            y_min=0.0,
        ),
    ]
    return charts


#: the team's moves (a game day)
TEAM_LEGEND = [
    ("page delivered (dotted) / acked", "#8e44ad"),
    ("incident declared", "#34495e"),
    ("team action", "#1e8449"),
]


def markers(report: Report) -> list[Marker]:
    team = team_markers(report.team) if report.team is not None else []
    return sorted(
        report.times.alert_markers + report.impact.crash_markers + report.impact.restart_markers + team,
        key=lambda m: m.ts,
    )


def fault_spans(report: Report) -> list[Span]:
    absorbed = {link.fault for link in report.chain.links if link.measured and link.sli is None}
    return [
        Span(
            f.start,
            f.end,
            ("background " if f in absorbed else "")
            + (f"fault {f.name} ({f.type} on {f.target})" if f.type or f.target else f.name)
            + (": moved no SLI" if f in absorbed else ""),
        )
        for f in report.times.faults
    ]


def section(page: Page) -> Section:
    report = page.report
    spans, marks = fault_spans(report), markers(report)
    figures = [
        Figure(c.title, render_chart(c, page.t0, page.t1, report.inputs.step, spans, marks))
        for c in build_charts(report)
    ]
    legend = LEGEND + (TEAM_LEGEND if report.team is not None else [])
    return Section("charts", "Charts", [Legend(legend, "(hover a marker for details)"), *figures])
