"""What every section builder gets: the report (as the page shows it, and with the real names for the
reveal), the expected signals checked against the data, and the links out of the page."""

from __future__ import annotations

from dataclasses import dataclass, field

from reports.analysis.impact import Impact
from reports.analysis.signals import SignalCheck, check_signals
from reports.analysis.times import Times
from reports.build import Report
from reports.context import RunContext
from reports.document import Text, code
from reports.render import format as fmt
from reports.render.blind import blinded
from reports.render.links import grafana_explore, grafana_trace, prometheus_graph


@dataclass
class Page:
    #: the report with the real fault names (the reveal, summary.json)
    real: Report
    #: the report as the page shows it (a blind drill's faults as "fault A", ...)
    report: Report
    signals: list[SignalCheck] = field(default_factory=list)

    @property
    def ctx(self) -> RunContext:
        return self.real.inputs.ctx

    @property
    def impact(self) -> Impact:
        return self.report.impact

    @property
    def times(self) -> Times:
        return self.report.times

    @property
    def t0(self) -> float:
        return self.ctx.window.start_s

    @property
    def t1(self) -> float:
        return self.ctx.window.end_s

    @property
    def players(self) -> bool:
        """The availability SLI is the players' view (their counters were recorded)."""
        return self.impact.availability_source == "players"

    @property
    def title(self) -> str:
        return f"Post-mortem: {self.ctx.scenario_name} ({self.real.run_id})"

    @property
    def heading(self) -> Text:
        return f"Post-mortem: {self.ctx.title}"

    @property
    def meta(self) -> Text:
        ctx = self.ctx
        generated = fmt.utc_full(self.real.generated_at.timestamp())
        return [
            "run ",
            code(self.real.run_id),
            f" · {ctx.runtime} runtime · {fmt.utc_full(self.t0)} to {fmt.utc_full(self.t1)} "
            f"({fmt.dur(ctx.window.duration_s)}) · generated {generated}",
        ]

    def query_link(self, expr: str) -> str:
        """Grafana Explore on the window (Docker), else the live Prometheus' graph, else nothing."""
        ctx, prom = self.ctx, self.real.inputs.prom
        grafana = ctx.url("grafana") if ctx.runtime == "docker" else None
        if grafana:
            return grafana_explore(grafana, expr, self.t0, self.t1)
        if prom is not None and not prom.replayed:
            return prometheus_graph(prom.url, expr, self.t0, self.t1)
        return ""

    def trace_link(self, trace_id: str) -> str:
        """The trace on the page when it is there, else in Grafana (Docker), else nothing."""
        if trace_id in {tv.trace_id for tv in self.report.evidence.traces}:
            return f"#trace-{trace_id}"
        grafana = self.ctx.url("grafana") if self.ctx.runtime == "docker" else None
        return grafana_trace(grafana, trace_id) if grafana else ""


def page_of(report: Report) -> Page:
    r = report
    signals = check_signals(r.inputs.ctx.expected_signals, r.inputs, r.impact, r.times, r.mechanisms)
    return Page(real=report, report=blinded(report), signals=signals)
