"""Incident times: fault start, SLO breach, first alert, mitigation, recovery; TTD, TTM, TTR."""

from __future__ import annotations

from dataclasses import dataclass, field

from chaos import verdict
from reports.analysis.impact import Impact
from reports.analysis.series import intervals
from reports.inputs import Inputs
from reports.model import Marker, Span

DEFINITIONS = {
    "incident start": "the start of the first fault that moved an SLI (the chain below); "
    "else the first fault injected; else the SLO breach start. TTD, TTM and TTR count from it, so a "
    "background fault that changed nothing (a baseline latency) does not count as the incident",
    "TTD": "time to detect: incident start to the first page-severity alert firing after it "
    "(the first alert of any severity when no page fired)",
    "TTM": "time to mitigate: incident start to the first mitigation after it "
    "(a fault reverted or expired, circuit breaker open, or degraded answers taking over)",
    "TTR": "time to recover: incident start to the moment every SLI is back within its SLO for good",
    "SLO breach": "availability below the SLO target, or the latency SLO quantile above its threshold, "
    "computed over the report's rate window while requests flow; availability is the players' view "
    "(the load generator's counters: timeouts, connection errors and 5xx are bad) when it was recorded, "
    "else the server's own counters",
}

#: alert severities that page a human (the rest are tickets)
PAGE_SEVERITIES = ("page", "critical")


@dataclass(frozen=True)
class FaultWindow:
    name: str
    type: str
    target: str
    start: float
    end: float
    ended_by: str
    params: dict[str, object] = field(default_factory=dict, hash=False, compare=False)
    #: part of the normal world (the scenario step's ``baseline``): never the incident's start
    baseline: bool = False


@dataclass
class Times:
    fault_start: float | None = None
    #: what TTD/TTM/TTR count from, and why (the fault's name, or "SLO breach")
    incident_start: float | None = None
    incident_start_by: str | None = None
    incident_start_reason: str | None = None
    breach_start: float | None = None
    breach_end: float | None = None
    first_alert: float | None = None
    first_alert_name: str | None = None
    first_alert_severity: str | None = None
    mitigation: float | None = None
    mitigation_by: str | None = None
    recovery: float | None = None
    ttd_s: float | None = None
    ttm_s: float | None = None
    ttr_s: float | None = None
    recovered: bool | None = None
    faults: list[FaultWindow] = field(default_factory=list)
    breaches: list[Span] = field(default_factory=list)
    availability_breaches: list[Span] = field(default_factory=list)
    latency_breaches: list[Span] = field(default_factory=list)
    #: the server's own availability breaches (shown alongside when the players' view is the SLI)
    server_availability_breaches: list[Span] = field(default_factory=list)
    #: alert name -> first firing (unix seconds)
    alerts_fired: dict[str, float] = field(default_factory=dict)
    #: alert name -> severity label (``page``, ``ticket``, ...) where known
    alert_severity: dict[str, str] = field(default_factory=dict)
    alert_markers: list[Marker] = field(default_factory=list)
    alert_spans: list[Span] = field(default_factory=list)


def fault_windows(inputs: Inputs) -> list[FaultWindow]:
    """From the journal (injected -> reverted/expired), else from ``crashlab_fault_active`` and the
    services' active-fault gauges."""
    faults: list[FaultWindow] = []
    open_: dict[str, tuple[float, dict[str, object]]] = {}
    meta: dict[str, tuple[str, str]] = {}
    baseline: set[str] = set()
    for e in inputs.journal:
        if e.type != "fault":
            continue
        name = str(e.get("fault") or e.get("fault_type") or "fault")
        if e.event == "injected":
            open_[name] = (e.ts.timestamp(), dict(e.get("params") or {}))
            meta[name] = (str(e.get("fault_type") or ""), str(e.get("target") or ""))
            if e.get("baseline"):
                baseline.add(name)
        elif e.event in ("reverted", "expired", "revert_failed") and name in open_:
            start, params = open_.pop(name)
            ftype, target = meta[name]
            faults.append(
                FaultWindow(name, ftype, target, start, e.ts.timestamp(), e.event, params, name in baseline)
            )
    for name, (start, params) in open_.items():
        ftype, target = meta[name]
        faults.append(
            FaultWindow(name, ftype, target, start, inputs.t1, "drill end", params, name in baseline)
        )
    if not faults and inputs.prom is not None:
        step = inputs.step
        for s in inputs.prom.get("fault_active") + inputs.prom.get("service_faults"):
            name = s.labels.get("fault", "fault")
            target = s.labels.get("target", s.labels.get("__name__", "").split("_")[0])
            for span in intervals(s.points, lambda v: v > 0, step):
                faults.append(
                    FaultWindow(name, s.labels.get("type", name), target, span.start, span.end, "metric")
                )
    return sorted(faults, key=lambda f: f.start)


def _alerts(inputs: Inputs, times: Times) -> None:
    """Which alerts fired and when first: the evaluator's alert-window rule; their spans from ALERTS."""
    window = inputs.ctx.window
    fired = verdict.alerts_fired(inputs.journal, inputs.telemetry, window.start, window.end)
    times.alerts_fired = {name: a.first for name, a in fired.items()}
    times.alert_severity = {name: a.severity for name, a in fired.items() if a.severity}
    if inputs.prom is not None:
        for s in inputs.prom.get("alerts"):
            name = s.labels.get("alertname", "alert")
            for span in intervals(s.points, lambda v: v > 0, inputs.step):
                times.alert_spans.append(Span(span.start, span.end, name))
    times.alert_markers = [
        Marker(ts, "alert", f"alert {name} firing") for name, ts in times.alerts_fired.items()
    ]


def analyse_times(inputs: Inputs, impact: Impact) -> Times:
    """Faults, breaches and alerts; :func:`incident_times` then adds TTD/TTM/TTR once the chain knows
    which fault moved an SLI first."""
    times = Times(faults=fault_windows(inputs))
    slo = inputs.ctx.slo
    step = inputs.step
    times.availability_breaches = [
        Span(s.start, s.end, "availability")
        for s in intervals(impact.sli_availability_series, lambda v: v < slo.availability, step)
    ]
    if impact.availability_source != "server":
        times.server_availability_breaches = [
            Span(s.start, s.end, "availability (server)")
            for s in intervals(impact.availability_series, lambda v: v < slo.availability, step)
        ]
    if inputs.prom is not None and (lat := inputs.prom.one("latency_slo_quantile")) is not None:
        times.latency_breaches = [
            Span(s.start, s.end, "latency")
            for s in intervals(lat.points, lambda v: v > slo.latency_threshold_s, step)
        ]
    times.breaches = sorted(times.availability_breaches + times.latency_breaches, key=lambda s: s.start)
    _alerts(inputs, times)
    if times.faults:
        times.fault_start = times.faults[0].start
    if times.breaches:
        times.breach_start = times.breaches[0].start
        times.breach_end = max(s.end for s in times.breaches)
    return times


def incident_times(
    inputs: Inputs, impact: Impact, times: Times, moved: list[tuple[float, str]] | None = None
) -> Times:
    """TTD, TTM and TTR from the incident start: the first of ``moved`` (``(fault start, fault name)`` of
    the faults that moved an SLI, from the chain), else the first fault, else the breach start."""
    step = inputs.step
    if moved:
        times.incident_start, times.incident_start_by = min(moved)
        times.incident_start_reason = "first fault that moved an SLI"
    elif incident_faults := [f for f in times.faults if not f.baseline] or times.faults:
        times.incident_start, times.incident_start_by = incident_faults[0].start, incident_faults[0].name
        times.incident_start_reason = "first fault injected (no fault moved an SLI)"
    elif times.breach_start is not None:
        times.incident_start, times.incident_start_by = times.breach_start, "SLO breach"
        times.incident_start_reason = "SLO breach start (no fault injected)"
    reference = times.incident_start
    if reference is None:
        return times
    after = [(ts, name) for name, ts in times.alerts_fired.items() if ts >= reference]
    pages = [(ts, name) for ts, name in after if times.alert_severity.get(name, "") in PAGE_SEVERITIES]
    if after:
        times.first_alert, times.first_alert_name = min(pages or after)
        times.first_alert_severity = times.alert_severity.get(times.first_alert_name)
        times.ttd_s = times.first_alert - reference
    if times.faults:
        candidates: list[tuple[float, str]] = []
        ends = [
            (f.end, f"fault {f.name} {f.ended_by}")
            for f in times.faults
            if f.ended_by != "drill end" and f.end >= reference
        ]
        candidates += [min(ends)] if ends else []
        if inputs.prom is not None:
            if (circuit := inputs.prom.one("circuit_state")) is not None:
                opened = [t for t, v in circuit.points if v >= 2 and t >= reference]
                candidates += [(opened[0], "circuit breaker open")] if opened else []
            if (degraded := inputs.prom.one("degraded_rate")) is not None:
                fallback = [t for t, v in degraded.points if v > 0 and t >= reference]
                candidates += [(fallback[0], "degraded answers took over")] if fallback else []
        if candidates:
            times.mitigation, times.mitigation_by = min(candidates)
            times.ttm_s = times.mitigation - reference
    if times.breaches:
        last_end = times.breach_end or 0.0
        times.recovered = last_end < inputs.t1 - step
        if times.recovered:
            times.recovery = last_end
            times.ttr_s = max(0.0, last_end - reference)
    elif times.faults:
        times.recovered = True
        times.recovery = None
        times.ttr_s = 0.0 if impact.sli_requests is not None else None
    return times
