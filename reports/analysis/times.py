"""Incident times: fault start, SLO breach, first alert, mitigation, recovery; TTD, TTM, TTR."""

from __future__ import annotations

from dataclasses import dataclass, field

from reports.analysis.impact import Impact
from reports.analysis.series import intervals
from reports.inputs import Inputs
from reports.model import Marker, Span

DEFINITIONS = {
    "TTD": "time to detect: first alert firing minus the first fault injected "
    "(or minus the SLO breach start when no fault was injected)",
    "TTM": "time to mitigate: first fault injected to the first mitigation "
    "(fault reverted or expired, circuit breaker open, or degraded answers taking over)",
    "TTR": "time to recover: first fault injected to the moment every SLI is back within its SLO for good",
    "SLO breach": "availability below the SLO target, or the latency SLO quantile above its threshold, "
    "computed over the report's rate window while requests flow",
}


@dataclass(frozen=True)
class FaultWindow:
    name: str
    type: str
    target: str
    start: float
    end: float
    ended_by: str
    params: dict[str, object] = field(default_factory=dict, hash=False, compare=False)


@dataclass
class Times:
    fault_start: float | None = None
    breach_start: float | None = None
    breach_end: float | None = None
    first_alert: float | None = None
    first_alert_name: str | None = None
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
    #: alert name -> first firing (unix seconds)
    alerts_fired: dict[str, float] = field(default_factory=dict)
    alert_markers: list[Marker] = field(default_factory=list)
    alert_spans: list[Span] = field(default_factory=list)


def fault_windows(inputs: Inputs) -> list[FaultWindow]:
    """From the journal (injected -> reverted/expired), else from ``crashlab_fault_active`` and the
    services' active-fault gauges."""
    faults: list[FaultWindow] = []
    open_: dict[str, tuple[float, dict[str, object]]] = {}
    meta: dict[str, tuple[str, str]] = {}
    for e in inputs.journal:
        if e.type != "fault":
            continue
        name = str(e.get("fault") or e.get("fault_type") or "fault")
        if e.event == "injected":
            open_[name] = (e.ts.timestamp(), dict(e.get("params") or {}))
            meta[name] = (str(e.get("fault_type") or ""), str(e.get("target") or ""))
        elif e.event in ("reverted", "expired", "revert_failed") and name in open_:
            start, params = open_.pop(name)
            ftype, target = meta[name]
            faults.append(FaultWindow(name, ftype, target, start, e.ts.timestamp(), e.event, params))
    for name, (start, params) in open_.items():
        ftype, target = meta[name]
        faults.append(FaultWindow(name, ftype, target, start, inputs.t1, "drill end", params))
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
    first: dict[str, float] = {}
    if inputs.prom is not None:
        for s in inputs.prom.get("alerts"):
            name = s.labels.get("alertname", "alert")
            if s.points:
                first[name] = min(first.get(name, s.points[0][0]), s.points[0][0])
            for span in intervals(s.points, lambda v: v > 0, inputs.step):
                times.alert_spans.append(Span(span.start, span.end, name))
    for e in inputs.journal:
        if e.type == "alert" and e.event == "firing":
            name = str(e.get("alert") or "alert")
            ts = e.ts.timestamp()
            first[name] = min(first.get(name, ts), ts)
    times.alerts_fired = dict(sorted(first.items(), key=lambda kv: kv[1]))
    times.alert_markers = [
        Marker(ts, "alert", f"alert {name} firing") for name, ts in times.alerts_fired.items()
    ]


def analyse_times(inputs: Inputs, impact: Impact) -> Times:
    times = Times(faults=fault_windows(inputs))
    slo = inputs.ctx.slo
    step = inputs.step
    times.availability_breaches = [
        Span(s.start, s.end, "availability")
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
    reference = times.fault_start if times.fault_start is not None else times.breach_start
    if reference is not None:
        after = [(ts, name) for name, ts in times.alerts_fired.items() if ts >= reference]
        if after:
            times.first_alert, times.first_alert_name = min(after)
            times.ttd_s = times.first_alert - reference
    if times.fault_start is not None:
        candidates: list[tuple[float, str]] = []
        ends = [(f.end, f"fault {f.name} {f.ended_by}") for f in times.faults if f.ended_by != "drill end"]
        candidates += ends[:1] if ends else []
        if inputs.prom is not None:
            if (circuit := inputs.prom.one("circuit_state")) is not None:
                opened = [t for t, v in circuit.points if v >= 2 and t >= times.fault_start]
                candidates += [(opened[0], "circuit breaker open")] if opened else []
            if (degraded := inputs.prom.one("degraded_rate")) is not None:
                fallback = [t for t, v in degraded.points if v > 0 and t >= times.fault_start]
                candidates += [(fallback[0], "degraded answers took over")] if fallback else []
        if candidates:
            times.mitigation, times.mitigation_by = min(candidates)
            times.ttm_s = times.mitigation - times.fault_start
        if times.breaches:
            last_end = times.breach_end or 0.0
            times.recovered = last_end < inputs.t1 - step
            if times.recovered:
                times.recovery = last_end
                times.ttr_s = max(0.0, last_end - times.fault_start)
        else:
            times.recovered = True
            times.recovery = None
            times.ttr_s = 0.0 if impact.requests_total is not None else None
    return times
