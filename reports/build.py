"""One report: read every source (none of them may stop it), analyse, and hand the figures to render."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from chaos.verdict import Check, Evaluation, evaluate
from crashlab.journal import JournalEvent
from crashlab.timeutil import iso
from reports.analysis.actions import contributing_draft, root_cause_draft, suggest
from reports.analysis.budget import Budget, analyse_budget
from reports.analysis.chain import Chain, analyse_chain
from reports.analysis.evidence import Evidence, analyse_evidence
from reports.analysis.gaps import gap_statuses, scrape_gaps
from reports.analysis.impact import Impact, analyse_impact
from reports.analysis.mechanisms import Mechanisms, analyse_mechanisms
from reports.analysis.team import Team, action_items, analyse_team, to_json
from reports.analysis.team_records import describe as describe_team
from reports.analysis.team_records import source as team_source
from reports.analysis.times import Times, analyse_times, incident_times
from reports.context import load_context
from reports.inputs import Inputs
from reports.model import SourceProblem, SourceStatus, Window
from reports.render.format import when
from reports.sources.journal import JournalData, load_journal
from reports.sources.locust import load_locust
from reports.sources.logs import load_log_files, load_loki
from reports.sources.prometheus import load_prometheus
from reports.sources.traces import load_tempo, load_trace_files

#: the PromQL a timeline row links to (Grafana Explore or the live Prometheus), by event type
TIMELINE_QUERIES = {
    "alert": 'ALERTS{alertstate="firing"}',
    "fault": "crashlab_fault_active",
    "process": "crashlab_process_up",
    "breach_availability": (
        'sum(rate(rps_http_requests_total{status=~"5.."}[1m])) / sum(rate(rps_http_requests_total[1m]))'
    ),
    "breach_latency": (
        "histogram_quantile(0.95, sum by (le) (rate(rps_http_request_duration_seconds_bucket[1m])))"
    ),
}


@dataclass(frozen=True)
class TimelineRow:
    ts: float
    source: str
    event: str
    link: str = ""


@dataclass
class Report:
    inputs: Inputs
    impact: Impact
    budget: Budget
    times: Times
    chain: Chain
    mechanisms: Mechanisms
    evidence: Evidence
    #: the one evaluator's verdict (chaos.verdict), as the drill runner's
    evaluation: Evaluation
    actions: list[str]
    root_cause: list[str]
    contributing: list[str]
    timeline: list[TimelineRow] = field(default_factory=list)
    #: the team's response on a game day (None for a plain drill)
    team: Team | None = None
    generated_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def run_id(self) -> str:
        return self.inputs.ctx.run_id

    @property
    def verdict(self) -> str:
        return self.evaluation.verdict

    @property
    def expectations(self) -> list[Check]:
        return self.evaluation.checks

    @property
    def problems(self) -> list[SourceStatus]:
        return [s for s in self.inputs.sources if not s.ok]


def _describe(e: JournalEvent) -> str:
    f = e.fields
    if e.type == "fault":
        return f"fault {f.get('fault', '?')} ({f.get('fault_type', '')} on {f.get('target', '?')}) {e.event}"
    if e.type == "process":
        extra = f", reason {f['reason']}" if f.get("reason") else ""
        extra += f", exit {f['exit_code']}" if f.get("exit_code") is not None else ""
        return f"process {f.get('service', '?')} {e.event}{extra}"
    if e.type == "alert":
        return f"alert {f.get('alert', '?')} {e.event}"
    if e.type == "phase":
        return f"phase {f.get('phase', '?')} {e.event}"
    if e.type == "probe":
        return f"probe {f.get('probe', '?')} {e.event} (value {f.get('value', '?')})"
    if e.type == "guardrail":
        return f"guardrail {f.get('guardrail', '?')} tripped (value {f.get('value', '?')})"
    if e.type == "load":
        return f"load {e.event} ({f.get('users', '?')} users)"
    if e.type == "run":
        return f"run {e.event}" + (f" ({f['verdict']})" if f.get("verdict") else "")
    if e.type == "expectation":
        return f"expectation {f.get('expectation', '?')} {e.event}"
    return f"{e.type} {e.event}"


def _row(e: JournalEvent) -> TimelineRow:
    if e.type in ("team", "gameday"):
        who = e.get("actor")
        return TimelineRow(e.ts.timestamp(), f"team/{who}" if who else team_source(e), describe_team(e))
    return TimelineRow(
        e.ts.timestamp(), f"journal/{e.source}", _describe(e), TIMELINE_QUERIES.get(e.type, "")
    )


def _timeline(inputs: Inputs, times: Times, limit: int = 400) -> list[TimelineRow]:
    rows = [_row(e) for e in inputs.journal]
    for name, ts in times.alerts_fired.items():
        if not any(r.ts == ts and name in r.event for r in rows):
            rows.append(
                TimelineRow(
                    ts, "prometheus", f"alert {name} first firing (ALERTS)", TIMELINE_QUERIES["alert"]
                )
            )
    for b in times.breaches:
        query = TIMELINE_QUERIES.get("breach_" + b.label, "")
        rows.append(TimelineRow(b.start, "prometheus", f"SLO breach ({b.label}) starts", query))
        rows.append(TimelineRow(b.end, "prometheus", f"SLO breach ({b.label}) ends", query))
    rows.sort(key=lambda r: r.ts)
    if len(rows) <= limit:
        return rows
    # a long game day: every row of the team's, and the first of the others up to the limit
    team = [r for r in rows if _team_row(r)]
    keep = {id(r) for r in [r for r in rows if not _team_row(r)][: max(0, limit - len(team))]}
    return [r for r in rows if _team_row(r) or id(r) in keep]


def _team_row(row: TimelineRow) -> bool:
    return row.source.startswith("team/") or row.source in ("game day", "pager")


def _status(name: str, value: object, detail: str = "") -> SourceStatus:
    if isinstance(value, SourceProblem):
        return SourceStatus(name, False, value.why)
    return SourceStatus(name, True, "", detail)


def merge_stack_journal(events: list[JournalEvent], other: JournalData, window: Window) -> list[JournalEvent]:
    """Add the events of a shared stack's journal that fall in the drill window (no duplicates)."""
    seen = {(e.ts, e.type, e.event, e.source) for e in events}
    lo, hi = window.start - timedelta(seconds=5), window.end + timedelta(seconds=5)
    extra = [e for e in other.events if lo <= e.ts <= hi and (e.ts, e.type, e.event, e.source) not in seen]
    return sorted(events + extra, key=lambda e: e.ts)


def _journal_sources(name: str, journal: JournalData | SourceProblem) -> list[SourceStatus]:
    if isinstance(journal, SourceProblem):
        return [SourceStatus(name, False, journal.why)]
    out = [SourceStatus(name, True, "", f"{len(journal.events)} events")]
    if journal.bad:
        out.append(SourceStatus(f"{name} lines", False, journal.bad_lines()))
    return out


def gather(
    path: Path, *, prometheus_url: str | None = None, replay: bool | None = None, ending: bool = False
) -> Inputs:
    """Read every source of the run at ``path``; ``ending``: the drill runner reports before its teardown
    (its ``run ended`` is not written yet)."""
    journal = load_journal(path / "journal.jsonl")
    own = journal.events if isinstance(journal, JournalData) else []
    ctx = load_context(path, own)
    sources = [SourceStatus(p.name, False, p.why) for p in ctx.problems]
    sources += _journal_sources("journal", journal)
    events = own
    if ctx.stack_path is not None:
        stack_journal = load_journal(ctx.stack_path / "journal.jsonl")
        if isinstance(stack_journal, JournalData):
            events = merge_stack_journal(own, stack_journal, ctx.window)
            if stack_journal.bad:
                sources += _journal_sources("stack journal", stack_journal)[1:]
    inputs = Inputs(ctx=ctx, journal=events, run_events=own, ending=ending)
    loki = ctx.url("loki") if ctx.runtime == "docker" else None
    tempo = ctx.url("tempo") if ctx.runtime == "docker" else None
    # the replay Prometheus starts while the files are parsed
    with ThreadPoolExecutor(max_workers=3) as pool:
        prom_job = pool.submit(
            load_prometheus,
            prometheus_url or ctx.url("prometheus"),
            ctx.telemetry_dir("prometheus/data"),
            ctx.window,
            ctx.manifest,
            ctx.slo.latency_target,
            replay=replay,
        )
        logs_job = (
            pool.submit(load_loki, loki, ctx.window)
            if loki
            else pool.submit(load_log_files, ctx.telemetry_dir("logs"), ctx.window)
        )
        traces_job = None if tempo else pool.submit(load_trace_files, ctx.telemetry_dir("traces"), ctx.window)
        locust = load_locust(ctx.run.locust)
        prom = prom_job.result()
        logs = logs_job.result()
        traces_files = traces_job.result() if traces_job else None
    if not isinstance(prom, SourceProblem):
        inputs.prom = prom
        how = "replayed from the run's TSDB" if prom.replayed else f"live at {prom.url}"
        sources.append(
            SourceStatus(
                "prometheus", True, "", f"{how}; step {prom.step_s:g}s, rate window {prom.rate_window}"
            )
        )
        for name, why in prom.errors.items():
            sources.append(SourceStatus(f"prometheus query {name}", False, why))
        sources.extend(gap_statuses(scrape_gaps(prom, inputs.t0, inputs.t1)))
    else:
        sources.append(_status("prometheus", prom))
    inputs.locust = None if isinstance(locust, SourceProblem) else locust
    sources.append(_status("locust", locust, inputs.locust.stats_file.name if inputs.locust else ""))
    inputs.logs = None if isinstance(logs, SourceProblem) else logs
    if inputs.logs is not None:
        sources.append(
            SourceStatus("logs", True, "", f"{inputs.logs.origin}: {len(inputs.logs.errors)} error lines")
        )
    else:
        sources.append(_status("logs", logs))
    if tempo:
        ids = [e.trace_id for e in (inputs.prom.exemplars if inputs.prom else [])]
        ids += [ln.trace_id for ln in (inputs.logs.errors if inputs.logs else []) if ln.trace_id][:10]
        traces = load_tempo(tempo, ids)
    else:
        assert traces_files is not None
        traces = traces_files
    inputs.traces = None if isinstance(traces, SourceProblem) else traces
    if inputs.traces is not None:
        sources.append(
            SourceStatus("traces", True, "", f"{inputs.traces.origin}: {len(inputs.traces.traces)} traces")
        )
    else:
        sources.append(_status("traces", traces))
    inputs.sources = sources
    return inputs


def analyse(inputs: Inputs) -> Report:
    impact = analyse_impact(inputs)
    budget = analyse_budget(inputs, impact)
    times = analyse_times(inputs, impact)
    chain = analyse_chain(inputs, times, [m.ts for m in impact.crash_markers])
    incident_times(inputs, impact, times, chain.moved())
    mech = analyse_mechanisms(inputs, impact, times)
    evidence = analyse_evidence(inputs)
    team = analyse_team(inputs, times, [m.ts for m in impact.crash_markers])
    ctx = inputs.ctx
    evaluation = evaluate(
        ctx.scenario.expectations if ctx.scenario is not None else None,
        inputs.journal,
        inputs.telemetry,
        ctx.window.start,
        ctx.window.end,
        run_events=inputs.run_events,
        ending=inputs.ending,
    )
    return Report(
        inputs=inputs,
        impact=impact,
        budget=budget,
        times=times,
        chain=chain,
        mechanisms=mech,
        evidence=evidence,
        evaluation=evaluation,
        actions=suggest(inputs, impact, times, chain, mech) + (action_items(team, inputs.t0) if team else []),
        root_cause=root_cause_draft(inputs, impact, times, chain, mech),
        contributing=contributing_draft(mech, impact),
        timeline=_timeline(inputs, times),
        team=team,
    )


def build_report(
    path: Path, *, prometheus_url: str | None = None, replay: bool | None = None, ending: bool = False
) -> Report:
    return analyse(gather(path, prometheus_url=prometheus_url, replay=replay, ending=ending))


def summary(report: Report) -> dict[str, Any]:
    """Every figure on the page, for machines (``summary.json``)."""
    i, t, ctx = report.impact, report.times, report.inputs.ctx
    return {
        "run_id": report.run_id,
        "scenario": ctx.scenario_name,
        "blind": ctx.blind,
        "runtime": ctx.runtime,
        "verdict": report.verdict,
        "verdict_reason": report.evaluation.reason,
        "failures": report.evaluation.failures,
        "runner_verdict": ctx.manifest.get("verdict"),
        "generated_at": iso(report.generated_at),
        "window": {"start": iso(ctx.window.start), "end": iso(ctx.window.end)},
        "duration_s": round(ctx.window.duration_s, 3),
        "slo": ctx.slo.to_json(),
        "ttd_s": t.ttd_s,
        "ttm_s": t.ttm_s,
        "ttr_s": t.ttr_s,
        "recovered": t.recovered,
        "times": {
            "fault_start": when(t.fault_start),
            "incident_start": when(t.incident_start),
            "incident_start_by": t.incident_start_by,
            "incident_start_reason": t.incident_start_reason,
            "breach_start": when(t.breach_start),
            "breach_end": when(t.breach_end),
            "first_alert": when(t.first_alert),
            "first_alert_name": t.first_alert_name,
            "first_alert_severity": t.first_alert_severity,
            "mitigation": when(t.mitigation),
            "mitigation_by": t.mitigation_by,
            "recovery": when(t.recovery),
        },
        "requests_total": i.requests_total,
        "requests_failed": i.requests_failed,
        "status_counts": i.status_counts,
        "availability_server": i.availability_server,
        "client_requests": i.client_requests,
        "client_failures": i.client_failures,
        "availability_client": i.availability_client,
        "players_requests": i.players_requests,
        "players_failed": i.players_failed,
        "players_outcomes": i.players_outcomes,
        "availability_players": i.availability_players,
        "availability": i.availability,
        "availability_source": i.availability_source,
        "budget_burned_ratio": report.budget.burned_ratio,
        "budget_source": report.budget.source,
        "budget_allowed_failures": report.budget.allowed_failures,
        "budget_burned_ratio_server": report.budget.server_burned_ratio,
        "budget_burned_ratio_players": report.budget.players_burned_ratio,
        "budget_burned_ratio_client": report.budget.client_burned_ratio,
        "crashes": i.crashes,
        "crash_reasons": i.crash_reasons,
        "crash_source": i.crash_source,
        "restarts": i.restarts,
        "panics": i.panics,
        "degraded": i.degraded,
        "p50_s": i.p50_s,
        "p95_s": i.p95_s,
        "p99_s": i.p99_s,
        "client_p50_ms": i.client_p50_ms,
        "client_p95_ms": i.client_p95_ms,
        "client_p99_ms": i.client_p99_ms,
        "rounds": i.rounds,
        "win_rate": i.win_rate,
        "win_rate_deviation": i.win_rate_deviation,
        "alerts_fired": {name: when(ts) for name, ts in t.alerts_fired.items()},
        "faults": [
            {
                "name": f.name,
                "type": f.type,
                "target": f.target,
                "start": when(f.start),
                "end": when(f.end),
                "ended_by": f.ended_by,
            }
            for f in t.faults
        ],
        "breaches": [{"sli": b.label, "start": when(b.start), "end": when(b.end)} for b in t.breaches],
        "server_availability_breaches": [
            {"start": when(b.start), "end": when(b.end)} for b in t.server_availability_breaches
        ],
        "chain": [
            {
                "fault": link.fault.name,
                "sli": link.sli,
                "slis": list(link.slis),
                "sli_delay_s": link.sli_delay_s,
                "alert": link.alert,
                "alert_delay_s": link.alert_delay_s,
                "already_breached": link.already_breached,
                "verdict": link.verdict,
            }
            for link in report.chain.links
        ],
        "unexplained_breaches": [
            {"sli": b.label, "start": when(b.start), "end": when(b.end)} for b in report.chain.unexplained
        ],
        "mechanisms": {
            f.key: {"detected": f.detected, "value": f.value, "unit": f.unit, "detail": f.detail}
            for f in report.mechanisms.findings
        },
        "amplification": report.mechanisms.amplification,
        "error_log_lines": report.evidence.error_lines,
        "exemplars": len(report.inputs.prom.exemplars) if report.inputs.prom else None,
        "traces_shown": [tv.trace_id for tv in report.evidence.traces],
        "log_groups": [
            {"service": g.service, "code": g.code, "count": g.count} for g in report.evidence.log_groups
        ],
        "expectations": [
            {"name": c.title, "expected": c.expected_text, "measured": c.measured_text, "met": c.met}
            for c in report.expectations
        ],
        "actions": report.actions,
        "team": to_json(report.team) if report.team is not None else None,
        "sources": [s.to_json() for s in report.inputs.sources],
    }
