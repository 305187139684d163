"""``crashlab compare RUN_A RUN_B``: two runs of the same drill side by side (for example naive vs
hardened): each figure's change, overlaid curves on time since start, alerts caught or missed."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from markupsafe import Markup

from reports.build import Report, build_report, summary
from reports.errors import ReportError
from reports.render import format as fmt
from reports.render.charts import Chart, Line, render_chart
from reports.render.html import environment, static

#: (summary key, label, formatter, better when lower; None: neither)
FIGURES: list[tuple[str, str, str, bool | None]] = [
    ("verdict", "verdict", "text", None),
    ("duration_s", "duration", "dur", None),
    ("ttd_s", "TTD", "dur", True),
    ("ttm_s", "TTM", "dur", True),
    ("ttr_s", "TTR", "dur", True),
    ("requests_total", "requests (server)", "num", None),
    ("requests_failed", "failed requests (server)", "num", True),
    ("availability", "availability (the SLI: players' view when recorded)", "pct", False),
    ("availability_source", "availability SLI from", "text", None),
    ("availability_server", "availability (server)", "pct", False),
    ("availability_client", "availability (client)", "pct", False),
    ("budget_burned_ratio", "error budget burned (the SLI)", "pct", True),
    ("budget_burned_ratio_server", "error budget burned (server)", "pct", True),
    ("budget_burned_ratio_client", "error budget burned (clients)", "pct", True),
    ("p50_s", "p50", "ms", True),
    ("p95_s", "p95", "ms", True),
    ("p99_s", "p99", "ms", True),
    ("crashes", "crashes", "num", True),
    ("restarts", "restarts", "num", True),
    ("panics", "panics", "num", True),
    ("degraded", "degraded answers", "num", False),
    ("win_rate_deviation", "win-rate deviation", "pct", True),
    ("amplification", "dependency calls per request", "num", True),
]


#: a game day's team, side by side (summary.json ``team``, flattened by :func:`team_figures`)
TEAM_FIGURES: list[tuple[str, str, str, bool | None]] = [
    ("members", "members", "text", None),
    ("tta_s", "time to acknowledge the first page", "dur", True),
    ("ttd_human_s", "time to declare", "dur", True),
    ("first_action_s", "time to first action", "dur", True),
    ("ttm_human_s", "time to effective mitigation", "dur", True),
    ("ttr_s", "time to recover (from the first page)", "dur", True),
    ("crashes_after_first_page", "crashes after the first page", "num", True),
    ("pages", "pages delivered", "num", None),
    ("unacked", "pages nobody acked", "num", True),
    ("actions", "actions taken", "num", None),
    ("helped", "actions that helped", "num", False),
    ("worse", "actions that made things worse", "num", True),
    ("mitigation", "the effective mitigation", "text", None),
    ("targets_met", "targets met", "text", None),
    ("wished", "actions looked for and not found", "num", None),
]


def team_figures(summary: dict[str, Any]) -> dict[str, Any]:
    """The team block of a game day's summary as one figure a key (empty for a plain drill)."""
    team = summary.get("team")
    if not isinstance(team, dict):
        return {}
    actions = [a for a in team.get("actions", []) if a.get("action") != "unavailable"]
    effects = [a.get("effect") for a in actions]
    card = team.get("scorecard", [])
    mitigation = next((a for a in actions if a.get("at") == team.get("mitigation")), None)
    return {
        **{key: team.get(key) for key, *_ in TEAM_FIGURES if key in team},
        "members": ", ".join(f"{m.get('name')} ({m.get('role')})" for m in team.get("members", [])),
        "pages": len(team.get("pages", [])),
        "unacked": len(team.get("unacked_pages", [])),
        "actions": len(actions),
        "helped": effects.count("helped"),
        "worse": effects.count("worse"),
        "mitigation": (
            f"{mitigation['action']} {', '.join(f'{k}={v}' for k, v in mitigation['params'].items())}"
            f" by {mitigation['actor']}"
            if mitigation
            else None
        ),
        "targets_met": f"{sum(1 for t in card if t.get('met'))} of {len(card)}" if card else None,
        "wished": len(team.get("wished_actions", [])),
    }


@dataclass(frozen=True)
class FigureRow:
    label: str
    a: str
    b: str
    change: str
    better: bool | None


def _format(kind: str, value: Any) -> str:
    if value is None:
        return "n/a"
    if kind == "dur":
        return fmt.dur(value)
    if kind == "pct":
        return fmt.pct(value)
    if kind == "num":
        return fmt.num(value)
    if kind == "ms":
        return fmt.ms(value)
    return str(value)


def figure_rows(
    a: dict[str, Any], b: dict[str, Any], figures: list[tuple[str, str, str, bool | None]] = FIGURES
) -> list[FigureRow]:
    rows = []
    for key, label, kind, lower_better in figures:
        va, vb = a.get(key), b.get(key)
        change, better = "", None
        if isinstance(va, int | float) and isinstance(vb, int | float) and not isinstance(va, bool):
            delta = vb - va
            if kind == "pct":
                change = f"{delta * 100:+.2f} pp"
            elif kind == "ms":
                change = f"{delta * 1000:+,.0f} ms"
            elif kind == "dur":
                change = f"{delta:+.1f} s"
            else:
                change = f"{delta:+,.3g}"
            if va:
                change += f" ({delta / abs(va) * 100:+.0f}%)"
            better = None if delta == 0 or lower_better is None else (delta < 0) == lower_better
        elif va != vb:
            change = f"{va} -> {vb}"
        rows.append(FigureRow(label, _format(kind, va), _format(kind, vb), change, better))
    return rows


def _shift(points: list[tuple[float, float]], t0: float) -> list[tuple[float, float]]:
    return [(t - t0, v) for t, v in points]


def _overlay(a: Report, b: Report) -> list[Markup]:
    a0, b0 = a.inputs.ctx.window.start_s, b.inputs.ctx.window.start_s
    length = max(a.inputs.ctx.window.duration_s, b.inputs.ctx.window.duration_s)
    step = max(a.inputs.step, b.inputs.step)

    def one(report: Report, name: str) -> list[tuple[float, float]]:
        s = report.inputs.prom.one(name) if report.inputs.prom else None
        return list(s.points) if s else []

    def mem(report: Report) -> list[tuple[float, float]]:
        series = report.inputs.prom.get("memory") if report.inputs.prom else []
        game = next((s for s in series if s.labels.get("job") == "game"), series[0] if series else None)
        return [(t, v / 1e6) for t, v in game.points] if game else []

    pairs: list[
        tuple[str, str, list[tuple[float, float]], list[tuple[float, float]], Any]
    ] = [  # key, title, A, B
        (
            "availability",
            "Availability (the SLI: players' view when recorded, else the server's)",
            a.impact.sli_availability_series,
            b.impact.sli_availability_series,
            lambda v: f"{v * 100:.1f}%",
        ),
        ("p99", "p99 latency (s)", one(a, "p99"), one(b, "p99"), lambda v: f"{v:.2f}s"),
        ("budget", "Error budget burned", a.budget.series, b.budget.series, lambda v: f"{v * 100:.0f}%"),
        (
            "amplification",
            "Dependency calls per request",
            a.mechanisms.amplification_series,
            b.mechanisms.amplification_series,
            lambda v: f"{v:.2g}",
        ),
        ("inflight", "Requests in flight", one(a, "in_flight"), one(b, "in_flight"), lambda v: f"{v:.0f}"),
        ("memory", "Resident memory of game (MB)", mem(a), mem(b), lambda v: f"{v:.0f}"),
    ]
    out = []
    for key, title, pa, pb, unit in pairs:
        chart = Chart(
            key,
            f"{title}: A solid, B dashed (x: time since the drill started)",
            [Line("A", _shift(pa, a0), "#1f77b4"), Line("B", _shift(pb, b0), "#d62728", dashed=True)],
            unit_fmt=unit,
            y_max=1.0 if key == "availability" else None,
        )
        out.append(render_chart(chart, 0.0, length, step, [], [], label=lambda t: f"+{fmt.dur(t)}"))
    return out


def render_compare(a: Report, b: Report) -> str:
    sa, sb = summary(a), summary(b)
    ta, tb = team_figures(sa), team_figures(sb)
    names = sorted(set(a.times.alerts_fired) | set(b.times.alerts_fired))
    alerts = [
        (
            name,
            fmt.dur(a.times.alerts_fired[name] - a.inputs.t0) if name in a.times.alerts_fired else "",
            fmt.dur(b.times.alerts_fired[name] - b.inputs.t0) if name in b.times.alerts_fired else "",
        )
        for name in names
    ]
    return (
        environment()
        .get_template("compare.html.j2")
        .render(
            a=a,
            b=b,
            sa=sa,
            sb=sb,
            rows=figure_rows(sa, sb),
            team=figure_rows(ta, tb, TEAM_FIGURES) if ta or tb else [],
            alerts=alerts,
            charts=_overlay(a, b),
            css=Markup(static("report.css")),
            script=Markup(static("report.js")),
            same=sa["scenario"] == sb["scenario"],
        )
    )


def compare_runs(run_a: Path, run_b: Path, out: Path, *, replay: bool | None = None) -> Path:
    a = build_report(run_a, replay=replay)
    b = build_report(run_b, replay=replay)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(render_compare(a, b), encoding="utf-8")
    except OSError as exc:
        raise ReportError(f"{out}: cannot write the comparison ({exc.strerror or exc})") from exc
    return out
