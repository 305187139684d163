"""Evidence: error log lines grouped by code, and the slowest and failing traces (linked from the
latency histogram through its ``trace_id`` exemplars)."""

from __future__ import annotations

from dataclasses import dataclass, field

from reports.inputs import Inputs
from reports.sources.logs import LogLine
from reports.sources.traces import SpanRec


@dataclass
class LogGroup:
    service: str
    code: str
    level: str
    count: int
    first: float
    last: float
    sample: str
    trace_id: str


@dataclass
class TraceView:
    trace_id: str
    duration_s: float
    failed: bool
    start: float
    root: str
    spans: list[SpanRec]
    why: str  # "exemplar", "slowest", "failing"
    exemplar_value_s: float | None = None


@dataclass
class Evidence:
    log_groups: list[LogGroup] = field(default_factory=list)
    error_lines: int = 0
    first_lines: list[LogLine] = field(default_factory=list)
    traces: list[TraceView] = field(default_factory=list)
    exemplars: list[tuple[float, float, str, bool]] = field(default_factory=list)  # ts, value, id, found


def _group_key(line: LogLine) -> tuple[str, str]:
    if line.code:
        return line.service, line.code
    if line.status is not None:
        return line.service, f"HTTP {line.status} {line.raw.get('route', '')}".strip()
    return line.service, line.msg.split(":", 1)[0][:60] if line.msg else "(no code)"


def analyse_evidence(inputs: Inputs, max_groups: int = 15, max_traces: int = 5) -> Evidence:
    ev = Evidence()
    if inputs.logs is not None:
        groups: dict[tuple[str, str], LogGroup] = {}
        for line in inputs.logs.errors:
            key = _group_key(line)
            g = groups.get(key)
            if g is None:
                groups[key] = LogGroup(
                    line.service, key[1], line.level, 1, line.ts, line.ts, line.msg, line.trace_id
                )
            else:
                g.count += 1
                g.last = line.ts
        ev.error_lines = len(inputs.logs.errors)
        ev.log_groups = sorted(groups.values(), key=lambda g: (-g.count, g.first))[:max_groups]
        panics = [ln for ln in inputs.logs.errors if "panic" in ln.msg.lower() or ln.level.lower() == "panic"]
        ev.first_lines = (panics[:5] + [ln for ln in inputs.logs.errors if ln not in panics[:5]])[:10]
    data = inputs.traces
    chosen: dict[str, TraceView] = {}

    def view(trace_id: str, why: str, exemplar: float | None = None) -> None:
        if data is None or trace_id in chosen or trace_id not in data.traces:
            return
        spans = data.traces[trace_id]
        root = data.root(trace_id)
        chosen[trace_id] = TraceView(
            trace_id=trace_id,
            duration_s=data.duration(trace_id),
            failed=data.failed(trace_id),
            start=min(s.start for s in spans),
            root=f"{root.service} {root.name}" if root else "",
            spans=spans[:40],
            why=why,
            exemplar_value_s=exemplar,
        )

    if inputs.prom is not None:
        top = sorted(inputs.prom.exemplars, key=lambda e: -e.value)[:10]
        for ex in top:
            found = data is not None and ex.trace_id in data.traces
            ev.exemplars.append((ex.ts, ex.value, ex.trace_id, found))
        for ex in top[:max_traces]:
            view(ex.trace_id, "exemplar", ex.value)
    for group in ev.log_groups[:3]:
        if group.trace_id:
            view(group.trace_id, f"error log {group.code}")
    if data is not None:
        durations = {tid: data.duration(tid) for tid in data.traces}
        for tid in sorted(durations, key=lambda t: -durations[t])[:max_traces]:
            view(tid, "slowest")
        failing = [tid for tid in data.traces if data.failed(tid)]
        for tid in sorted(failing, key=lambda t: -durations[t])[:max_traces]:
            view(tid, "failing")
    ev.traces = list(chosen.values())
    return ev
