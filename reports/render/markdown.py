"""``report.md``: the post-mortem for wikis and pull requests."""

from __future__ import annotations

import re

from reports.analysis.signals import SignalCheck, check_signals
from reports.analysis.times import DEFINITIONS
from reports.build import Report
from reports.headline import headline
from reports.render import format as fmt
from reports.render.blind import blinded, reveal

_CLOSE = re.compile(r"(?<!-)>")


def _cell(text: object) -> str:
    """Text for a table cell or a line: no HTML (``<`` and a closing ``>`` as entities), an arrow ``->``
    as written."""
    out = str(text).replace("|", "\\|").replace("\n", " ").replace("<", "&lt;")
    return _CLOSE.sub("&gt;", out)


def _table(header: list[str], rows: list[list[object]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in rows]
    return [*out, ""]


def _signals(checks: list[SignalCheck]) -> list[str]:
    return _table(
        ["what the trainees should have seen", "what the data shows"],
        [[c.signal, c.observed or "(see the charts)"] for c in checks],
    )


def _drill(report: Report, checks: list[SignalCheck]) -> list[str]:
    """The drill as a teaching unit: title, description, learning goals, expected signals."""
    ctx = report.inputs.ctx
    lines = [f"## The drill{' (blind)' if ctx.blind else ''}: {_cell(ctx.title)}", ""]
    if ctx.description:
        lines += [f"> {_cell(line)}" if line.strip() else ">" for line in ctx.description.splitlines()]
        lines += [""]
    if ctx.blind:
        lines += [
            'A blind drill: until the last section ("Revealed: what was injected") this report calls the '
            'injected faults "fault A", "fault B", ...',
            "",
        ]
    if ctx.learning_goals:
        lines += ["### Learning goals", ""] + [f"- {_cell(g)}" for g in ctx.learning_goals] + [""]
    if checks and not ctx.blind:
        lines += ["### Expected signals", "", *_signals(checks)]
    return lines


def _reveal(report: Report, checks: list[SignalCheck]) -> list[str]:
    ctx, t0 = report.inputs.ctx, report.inputs.ctx.window.start_s
    lines = ["", "## Revealed: what was injected", ""]
    lines += _table(
        ["on this page", "fault", "type", "target", "params", "window (UTC)", "since start", "ended by"],
        [
            [
                f"**{rv.alias}**",
                rv.fault.name + (" (baseline)" if rv.fault.baseline else ""),
                f"`{rv.fault.type}`",
                rv.fault.target,
                ", ".join(f"{k}={v}" for k, v in rv.fault.params.items() if v is not None),
                f"{fmt.utc(rv.fault.start)}-{fmt.utc(rv.fault.end)}",
                f"{fmt.rel(rv.fault.start, t0)} - {fmt.rel(rv.fault.end, t0)}",
                rv.fault.ended_by,
            ]
            for rv in reveal(report)
        ]
        or [["none", "no fault recorded", "", "", "", "", "", ""]],
    )
    if checks:
        lines += ["### Expected signals", "", *_signals(checks)]
    if ctx.scenario_text:
        fence = "~~~~~~~~"
        lines += ["### Scenario", "", fence + "yaml", ctx.scenario_text.rstrip().replace(fence, "~ ~"), fence]
    return lines


def render_markdown(report: Report) -> str:
    """``report.md``; a blind drill's names its faults only in the last section."""
    checks = check_signals(
        report.inputs.ctx.expected_signals, report.inputs, report.impact, report.times, report.mechanisms
    )
    real, report = report, blinded(report)
    ctx, i, t = report.inputs.ctx, report.impact, report.times
    t0 = ctx.window.start_s
    lines = [
        f"# Post-mortem: {_cell(ctx.title)}",
        "",
        f"Run `{report.run_id}` ({ctx.runtime} runtime), "
        f"{fmt.utc_full(t0)} to {fmt.utc_full(ctx.window.end_s)}.",
        "",
        "## Summary",
        "",
    ]
    lines += [f"- {_cell(line)}" for line in headline(report)] + [""]
    players = i.availability_source == "players"
    lines += _table(
        ["verdict", "duration", "TTD", "TTM", "TTR", "failed requests", "budget burned", "crashes"],
        [
            [
                f"**{report.verdict}**",
                fmt.dur(ctx.window.duration_s),
                fmt.dur(t.ttd_s),
                fmt.dur(t.ttm_s),
                fmt.dur(t.ttr_s),
                f"{fmt.num(i.sli_failed)} of {fmt.num(i.sli_requests)} ({i.availability_source})",
                fmt.times(report.budget.burned_ratio),
                f"{i.crashes}"
                + (
                    f" ({', '.join(f'{n} {r}' for r, n in i.crash_reasons.items())})"
                    if i.crash_reasons
                    else ""
                ),
            ]
        ],
    )
    if t.incident_start is not None:
        lines += [
            f"Incident start: {_cell(t.incident_start_by or '')} at {fmt.utc(t.incident_start)} "
            f"({fmt.rel(t.incident_start, t0)}), {t.incident_start_reason}; TTD, TTM and TTR count from it.",
            "",
        ]
    lines += _drill(report, checks)
    if report.problems:
        lines += ["> **Missing data**", ">"]
        lines += [f"> - {_cell(p.name)}: {_cell(p.why)}" for p in report.problems]
        lines += [""]
    lines += ["## Impact", ""]
    lines += _table(
        ["figure", "players (load generator)", "server (its own counters)", "client (Locust)"],
        [
            ["requests", fmt.num(i.players_requests), fmt.num(i.requests_total), fmt.num(i.client_requests)],
            ["failed", fmt.num(i.players_failed), fmt.num(i.requests_failed), fmt.num(i.client_failures)],
            [
                "availability",
                fmt.pct(i.availability_players),
                fmt.pct(i.availability_server),
                fmt.pct(i.availability_client),
            ],
            [
                "budget burned",
                fmt.times(report.budget.players_burned_ratio),
                fmt.times(report.budget.server_burned_ratio),
                fmt.times(report.budget.client_burned_ratio),
            ],
            ["p50", "", fmt.ms(i.p50_s), f"{fmt.num(i.client_p50_ms)} ms"],
            ["p95", "", fmt.ms(i.p95_s), f"{fmt.num(i.client_p95_ms)} ms"],
            ["p99", "", fmt.ms(i.p99_s), f"{fmt.num(i.client_p99_ms)} ms"],
        ],
    )
    lines += [
        f"The availability SLI is the {'players' if players else 'server'} view. "
        f"Degraded answers: {fmt.num(i.degraded)}; win-rate deviation: {fmt.pct(i.win_rate_deviation, 1)}; "
        f"restarts: {i.restarts}; panics: {fmt.num(i.panics)}.",
        "",
        "## Timeline",
        "",
    ]
    lines += _table(
        ["UTC", "+", "source", "event"],
        [[fmt.utc(r.ts), fmt.rel(r.ts, t0), r.source, r.event] for r in report.timeline],
    )
    lines += ["## Detection", ""]
    lines += _table(
        ["", "value", "definition"],
        [
            ["incident start", fmt.utc(t.incident_start), DEFINITIONS["incident start"]],
            ["TTD", fmt.dur(t.ttd_s), DEFINITIONS["TTD"]],
            ["TTM", fmt.dur(t.ttm_s), DEFINITIONS["TTM"]],
            ["TTR", fmt.dur(t.ttr_s), DEFINITIONS["TTR"]],
        ],
    )
    lines += _table(
        ["alert", "first firing"], [[n, fmt.utc(ts)] for n, ts in t.alerts_fired.items()] or [["none", ""]]
    )
    lines += ["## Fault -> SLI -> alert", ""]
    lines += _table(
        ["fault", "SLI moved", "after", "alert", "after", "verdict"],
        [
            [
                link.fault.name,
                ", ".join(link.slis) if link.slis else (link.sli or "no"),
                fmt.dur(link.sli_delay_s) if link.sli else "",
                link.alert or "none",
                fmt.dur(link.alert_delay_s) if link.alert else "",
                link.verdict,
            ]
            for link in report.chain.links
        ]
        or [["none", "", "", "", "", ""]],
    )
    if report.chain.unexplained:
        lines += [
            "Breaches no fault explains: "
            + ", ".join(f"{b.label} at {fmt.utc(b.start)}" for b in report.chain.unexplained),
            "",
        ]
    lines += ["## Mechanisms", ""]
    lines += _table(
        ["detector", "detected", "detail"],
        [
            [f.title, "yes" if f.detected else ("n/a" if f.detected is None else "no"), f.detail]
            for f in report.mechanisms.findings
        ],
    )
    lines += ["## Evidence", ""]
    lines += _table(
        ["service", "code", "count", "first", "sample"],
        [[g.service, g.code, g.count, fmt.utc(g.first), g.sample[:120]] for g in report.evidence.log_groups]
        or [["", "no error lines", "", "", ""]],
    )
    lines += _table(
        ["trace", "why", "duration", "root", "failed"],
        [
            [f"`{tv.trace_id}`", tv.why, fmt.ms(tv.duration_s), tv.root, "yes" if tv.failed else ""]
            for tv in report.evidence.traces
        ]
        or [["", "no traces", "", "", ""]],
    )
    lines += ["## Expectations", ""]
    lines += _table(
        ["expectation", "expected", "measured", "met"],
        [
            [
                e.title,
                e.expected_text,
                e.measured_text,
                "yes" if e.met else ("unknown" if e.met is None else "**no**"),
            ]
            for e in report.expectations
        ]
        or [["none set", "", "", ""]],
    )
    lines += ["## Root cause (DRAFT: a human finishes this)", ""]
    lines += [f"- {_cell(x)}" for x in report.root_cause] + [""]
    lines += ["## Contributing factors (DRAFT: a human finishes this)", ""]
    lines += [f"- {_cell(x)}" for x in report.contributing] + [""]
    lines += ["## Suggested action items", ""]
    lines += [f"- [ ] {_cell(x)}" for x in report.actions] or ["- nothing the data points at"]
    if ctx.debrief:
        lines += ["", "## Debrief", ""]
        lines += [f"{n}. {_cell(q)}" for n, q in enumerate(ctx.debrief, 1)]
    lines += ["", "## Sources", ""]
    lines += _table(
        ["source", "ok", "detail"],
        [[s.name, "yes" if s.ok else "no", s.detail or s.why] for s in report.inputs.sources],
    )
    if ctx.blind:
        lines += _reveal(real, checks)
    return "\n".join(lines) + "\n"
